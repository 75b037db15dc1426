package localsend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"porch/share"
)

// Client timeouts.
const (
	dialTimeout     = 5 * time.Second
	registerTimeout = 2 * time.Second // an answer to an announcement
	callTimeout     = 10 * time.Second
)

// StatusError is a device's refusal: its HTTP status and message.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	what := map[int]string{
		http.StatusUnauthorized:    "a PIN is needed, or the PIN was wrong",
		http.StatusForbidden:       "declined",
		http.StatusConflict:        "busy with another transfer",
		http.StatusTooManyRequests: "too many attempts; wait and try again",
	}[e.Code]
	if what == "" {
		what = http.StatusText(e.Code)
	}
	if e.Message != "" {
		return fmt.Sprintf("%s (%d: %s)", what, e.Code, e.Message)
	}
	return fmt.Sprintf("%s (%d)", what, e.Code)
}

// Client calls LocalSend devices as this machine. Safe for concurrent use.
type Client struct {
	cert *Cert
	self func() Info
	srv  *Server // when set, a receiver's cancel reaches the sends through it
}

// NewClient makes a client presenting cert and describing itself with
// self (as Server.Self does). srv may be nil.
func NewClient(cert *Cert, self func() Info, srv *Server) *Client {
	return &Client{cert: cert, self: self, srv: srv}
}

func (c *Client) info() Info {
	if c.srv != nil {
		return c.srv.Self()
	}
	return sent(c.self(), c.cert.Fingerprint)
}

// http returns an HTTP client for a device with fingerprint fp speaking
// proto ("https" pins fp; "http" is plain and unauthenticated).
func (c *Client) http(proto, fp string) *http.Client {
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout}).DialContext,
		TLSHandshakeTimeout:   dialTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		ForceAttemptHTTP2:     false,
		TLSNextProto:          nil,
		ExpectContinueTimeout: 0,
	}
	if proto == "https" {
		tr.TLSClientConfig = c.cert.ClientTLS(fp)
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func baseURL(proto string, ap netip.AddrPort) string {
	return proto + "://" + ap.String() + "/api/localsend/v2/"
}

// call sends one request and decodes a JSON answer of at most limit bytes
// into out (when not nil). A non-2xx answer is a *StatusError.
func call(ctx context.Context, hc *http.Client, method, u string, body io.Reader, size int64, limit int64, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.ContentLength = size
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		json.Unmarshal(b, &eb)
		return resp.StatusCode, &StatusError{Code: resp.StatusCode, Message: cleanText(eb.Message, 200)}
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := decode(resp.Body, limit, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

func jsonBody(v any) (io.Reader, int64) {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b), int64(len(b))
}

// Register answers an announcement from a device at ap that speaks proto
// and announced fingerprint fp: it POSTs this machine's Info to its
// register endpoint and returns the device's answer, checked.
func (c *Client) Register(ctx context.Context, ap netip.AddrPort, proto, fp string) (Device, error) {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	hc := c.http(proto, fp)
	defer hc.CloseIdleConnections()
	body, n := jsonBody(c.info())
	var got Info
	if _, err := call(ctx, hc, http.MethodPost, baseURL(proto, ap)+"register", body, n, MaxInfoBody, &got); err != nil {
		return Device{}, err
	}
	if err := got.check(false); err != nil {
		return Device{}, err
	}
	got.Port, got.Protocol = int(ap.Port()), proto
	if proto == "https" {
		got.Fingerprint = strings.ToUpper(fp)
	}
	return Device{Info: got, Addr: ap.Addr(), Verified: proto == "https"}, nil
}

// Probe asks a known device for its info: a cheap sign of life.
func (c *Client) Probe(ctx context.Context, d Device) (Device, error) {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	hc := c.http(d.Protocol, d.Fingerprint)
	defer hc.CloseIdleConnections()
	var got Info
	u := baseURL(d.Protocol, d.AddrPort()) + "info?fingerprint=" + url.QueryEscape(c.cert.Fingerprint)
	if _, err := call(ctx, hc, http.MethodGet, u, nil, 0, MaxInfoBody, &got); err != nil {
		return d, err
	}
	if err := got.check(false); err != nil {
		return d, err
	}
	got.Port, got.Protocol, got.Fingerprint = d.Port, d.Protocol, d.Fingerprint
	return Device{Info: got, Addr: d.Addr, Verified: d.Verified}, nil
}

// Progress reports a transfer: bytes done of total, and the file at hand.
type Progress func(done, total int64, file string)

// SendFile is one file to send: where it is here and the name (a slash
// path, folders included) it gets there.
type SendFile struct {
	Path string
	Name string
	Size int64
}

// Collect lists the regular files of paths to send: a file under its own
// name, a folder as "folder/sub/name" for every file inside. Symbolic links
// and other special files are skipped, and so are likely secrets inside a
// folder (share.IsSecretName), as they are from shares; a path that is
// itself one is refused.
func Collect(paths []string) ([]SendFile, error) {
	var out []SendFile
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		fi, err := os.Lstat(abs)
		if err != nil {
			return nil, err
		}
		base := filepath.Base(abs)
		if share.IsSecretName(base) {
			return nil, fmt.Errorf("cannot send %s: it looks like a secret (keys, passwords); Porch does not send those", p)
		}
		switch {
		case fi.Mode().IsRegular():
			out = append(out, SendFile{Path: abs, Name: base, Size: fi.Size()})
		case fi.IsDir():
			err := filepath.WalkDir(abs, func(q string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if q != abs && share.IsSecretName(d.Name()) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if !d.Type().IsRegular() {
					return nil
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(abs, q)
				out = append(out, SendFile{Path: q, Name: path.Join(base, filepath.ToSlash(rel)), Size: info.Size()})
				return nil
			})
			if err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: not a regular file or folder", p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("nothing to send: no regular files")
	}
	if len(out) > MaxFiles {
		return nil, fmt.Errorf("%d files; LocalSend sessions are kept to %d", len(out), MaxFiles)
	}
	return out, nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Send uploads files to d: prepare-upload (with pin when not empty), then
// each accepted file in turn, with its sha256 so that the receiver can
// check it. When ctx ends the session is cancelled on the receiver.
func (c *Client) Send(ctx context.Context, d Device, pin string, files []SendFile, progress Progress) error {
	req := PrepareUpload{Info: c.info(), Files: map[string]File{}}
	var total int64
	byID := map[string]SendFile{}
	for i, f := range files {
		sum, err := fileSHA256(f.Path)
		if err != nil {
			return err
		}
		id := "f" + strconv.Itoa(i)
		ft := mime.TypeByExtension(path.Ext(f.Name))
		if ft == "" {
			ft = "application/octet-stream"
		}
		req.Files[id] = File{ID: id, FileName: f.Name, Size: f.Size, FileType: ft, SHA256: sum}
		byID[id] = f
		total += f.Size
	}
	hc := c.http(d.Protocol, d.Fingerprint)
	defer hc.CloseIdleConnections()
	base := baseURL(d.Protocol, d.AddrPort())
	q := pinQuery(pin)
	body, n := jsonBody(req)
	var ans PrepareUploadReply
	pctx, pcancel := context.WithTimeout(ctx, decideTimeout)
	code, err := call(pctx, hc, http.MethodPost, base+"prepare-upload"+q, body, n, MaxPrepareBody, &ans)
	pcancel()
	if err != nil {
		if ctx.Err() != nil {
			c.cancelOn(hc, base, "")
		}
		return err
	}
	if code == http.StatusNoContent {
		return nil // nothing wanted
	}
	if ans.SessionID == "" || len(ans.SessionID) > MaxIDBytes {
		return fmt.Errorf("%w: no session id", ErrBadMessage)
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if c.srv != nil {
		defer c.srv.trackSend(d.Addr, ans.SessionID, stop)()
	}
	ids := make([]string, 0, len(ans.Files))
	for id := range ans.Files {
		if _, ok := byID[id]; !ok {
			return fmt.Errorf("%w: a token for a file not offered", ErrBadMessage)
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var done int64
	for _, id := range ids {
		f := byID[id]
		var err error
		for try := 0; try < maxChecksum; try++ {
			err = c.uploadOne(ctx, hc, base, ans.SessionID, id, ans.Files[id], f, func(k int64) {
				if progress != nil {
					progress(done+k, total, f.Name)
				}
			})
			var se *StatusError
			if !errors.As(err, &se) || se.Code != http.StatusUnprocessableEntity {
				break // 422: the file changed under us or was damaged on the way; again
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				c.cancelOn(hc, base, ans.SessionID)
				return ctx.Err()
			}
			c.cancelOn(hc, base, ans.SessionID)
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		done += f.Size
	}
	if progress != nil {
		progress(done, total, "")
	}
	return nil
}

// cancelOn tells the receiver the session is over.
func (c *Client) cancelOn(hc *http.Client, base, sid string) {
	ctx, cancel := context.WithTimeout(context.Background(), registerTimeout)
	defer cancel()
	u := base + "cancel"
	if sid != "" {
		u += "?sessionId=" + url.QueryEscape(sid)
	}
	call(ctx, hc, http.MethodPost, u, nil, 0, 0, nil)
}

func (c *Client) uploadOne(ctx context.Context, hc *http.Client, base, sid, id, token string, f SendFile, progress func(int64)) error {
	in, err := os.Open(f.Path)
	if err != nil {
		return err
	}
	defer in.Close()
	u := base + "upload?sessionId=" + url.QueryEscape(sid) + "&fileId=" + url.QueryEscape(id) + "&token=" + url.QueryEscape(token)
	body := &countingReader{r: io.LimitReader(in, f.Size), fn: progress}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return err
	}
	req.ContentLength = f.Size
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var eb errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		json.Unmarshal(b, &eb)
		return &StatusError{Code: resp.StatusCode, Message: cleanText(eb.Message, 200)}
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return nil
}

type countingReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 && c.fn != nil {
		c.fn(c.n)
	}
	return n, err
}

// Fetched is what Fetch kept.
type Fetched struct {
	Files []string // final slash paths under the download folder
	Bytes int64
}

// pinQuery is the query of a prepare request that carries pin ("" none).
func pinQuery(pin string) string {
	if pin == "" {
		return ""
	}
	return "?pin=" + url.QueryEscape(pin)
}

// Fetch downloads everything device d offers for download (reverse
// transfer: prepare-download, then download of each file) into store,
// under the same rules as files pushed to this machine.
func (c *Client) Fetch(ctx context.Context, d Device, pin string, store *share.Store, progress Progress) (Fetched, error) {
	hc := c.http(d.Protocol, d.Fingerprint)
	defer hc.CloseIdleConnections()
	base := baseURL(d.Protocol, d.AddrPort())
	q := pinQuery(pin)
	var ans PrepareDownloadReply
	pctx, pcancel := context.WithTimeout(ctx, decideTimeout)
	_, err := call(pctx, hc, http.MethodPost, base+"prepare-download"+q, nil, 0, MaxPrepareBody, &ans)
	pcancel()
	if err != nil {
		return Fetched{}, err
	}
	if ans.SessionID == "" || len(ans.SessionID) > MaxIDBytes {
		return Fetched{}, fmt.Errorf("%w: no session id", ErrBadMessage)
	}
	if err := checkFiles(ans.Files, share.ValidatePath); err != nil {
		return Fetched{}, err
	}
	var total int64
	ids := make([]string, 0, len(ans.Files))
	for id, f := range ans.Files {
		total += f.Size
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if free, ok := freeSpace(store.Dir()); ok && uint64(total) > free {
		return Fetched{}, fmt.Errorf("not enough free space: %d bytes offered, %d free", total, free)
	}
	var res Fetched
	for _, id := range ids {
		f := ans.Files[id]
		u := base + "download?sessionId=" + url.QueryEscape(ans.SessionID) + "&fileId=" + url.QueryEscape(id)
		rel, err := c.downloadOne(ctx, hc, u, store, f, func(k int64) {
			if progress != nil {
				progress(res.Bytes+k, total, f.FileName)
			}
		})
		if err != nil {
			return res, fmt.Errorf("%.80q: %w", f.FileName, err)
		}
		res.Files = append(res.Files, rel)
		res.Bytes += f.Size
	}
	return res, nil
}

func (c *Client) downloadOne(ctx context.Context, hc *http.Client, u string, store *share.Store, f File, progress func(int64)) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", &StatusError{Code: resp.StatusCode}
	}
	if resp.ContentLength >= 0 && resp.ContentLength != f.Size {
		return "", fmt.Errorf("%w: %d bytes announced, %d sent", ErrSize, f.Size, resp.ContentLength)
	}
	// The body's read deadline is the idle timer below: a stalled body
	// ends the download.
	body := &idleReader{r: &countingReader{r: resp.Body, fn: progress}, cancel: resp.Body.Close}
	defer body.stop()
	return writeStream(ctx, body, nil, store, f)
}

// idleReader closes the body it reads when nothing arrives for idleRead.
type idleReader struct {
	r      io.Reader
	cancel func() error
	t      *time.Timer
}

func (i *idleReader) Read(p []byte) (int, error) {
	if i.t == nil {
		i.t = time.AfterFunc(idleRead, func() { i.cancel() })
	} else {
		i.t.Reset(idleRead)
	}
	return i.r.Read(p)
}

func (i *idleReader) stop() {
	if i.t != nil {
		i.t.Stop()
	}
}
