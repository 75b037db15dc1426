package wire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"porch/peer/identity"
	"porch/share"
)

// Remote names a peer to talk to: its id, display name, the fingerprint it
// announced, and the addresses (host:port) it may be reached at.
type Remote struct {
	ID, Name, Fingerprint string
	Addrs                 []string
}

// Client talks to one remote peer over pinned mutual TLS. It is safe for
// concurrent use; connections are pooled (at most 16 per peer).
//
// With Remote.ID and Fingerprint set, every handshake must present that
// fingerprint and Known must agree with it. With Fingerprint empty (a peer
// given by address), the first handshake's fingerprint is learned and pinned
// for the client's life, and the first call checks the peer's /v1/info: the
// id it reports is checked against Known (and Remote.ID if set) before any
// other request is made.
type Client struct {
	self   *identity.Identity
	known  *identity.Known
	remote Remote
	hc     *http.Client
	tr     *http.Transport

	lastOK atomic.Int64 // UnixNano of the last response received; 0 for none

	mu      sync.Mutex
	addrs   []string
	fp      string // pinned fingerprint; "" until learned
	id      string // verified peer id; "" until verified
	lastErr error
}

// clientHost is the placeholder host in request URLs; dialing ignores it and
// tries the Remote's addresses.
const clientHost = "peer.porch"

// NewClient returns a client for r, presenting id's certificate. known may be
// nil (no trust-on-first-use check).
func NewClient(id *identity.Identity, known *identity.Known, r Remote) *Client {
	c := &Client{self: id, known: known, remote: r, addrs: append([]string(nil), r.Addrs...), fp: r.Fingerprint}
	if r.ID != "" && r.Fingerprint != "" {
		c.id = r.ID
	}
	tcfg := id.ClientTLS(c.verify)
	tcfg.NextProtos = []string{"http/1.1"}
	var protos http.Protocols
	protos.SetHTTP1(true)
	c.tr = &http.Transport{
		DialContext:           c.dial,
		TLSClientConfig:       tcfg,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		MaxConnsPerHost:       16,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       IdleTimeout / 2,
		Protocols:             &protos,
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
	}
	c.hc = &http.Client{
		Transport: c.tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c
}

// SetAddrs replaces the addresses new connections are dialed at.
func (c *Client) SetAddrs(addrs []string) {
	c.mu.Lock()
	c.addrs = append([]string(nil), addrs...)
	c.mu.Unlock()
}

// Fingerprint returns the pinned fingerprint ("" before the first handshake
// of a client created without one).
func (c *Client) Fingerprint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fp
}

// Close closes idle connections. Calls in progress are not interrupted.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// LastResponse is when the last response of any status arrived from the
// peer over this client (zero if none did): a sign of life. Safe for
// concurrent use.
func (c *Client) LastResponse() time.Time {
	if n := c.lastOK.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// verify pins the server's fingerprint during the TLS handshake.
func (c *Client) verify(fp string) error {
	c.mu.Lock()
	if c.fp == "" {
		c.fp = fp
	}
	want := c.fp
	c.mu.Unlock()
	if err := identity.Pin(want)(fp); err != nil {
		return err
	}
	if c.known != nil && c.remote.ID != "" {
		return c.known.Check(c.remote.ID, fp)
	}
	return nil
}

// dial tries each address in turn, the last one that worked first.
func (c *Client) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	c.mu.Lock()
	addrs := append([]string(nil), c.addrs...)
	c.mu.Unlock()
	if len(addrs) == 0 {
		return nil, fmt.Errorf("peer %s: no address", c.label())
	}
	d := net.Dialer{Timeout: DialTimeout}
	var errs []error
	for i, a := range addrs {
		conn, err := d.DialContext(ctx, network, a)
		if err == nil {
			if i > 0 {
				c.mu.Lock()
				if len(c.addrs) > i && c.addrs[i] == a {
					c.addrs[0], c.addrs[i] = c.addrs[i], c.addrs[0]
				}
				c.mu.Unlock()
			}
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (c *Client) label() string {
	switch {
	case c.remote.Name != "":
		return c.remote.Name
	case c.remote.ID != "":
		return c.remote.ID
	case len(c.remote.Addrs) > 0:
		return c.remote.Addrs[0]
	}
	return "?"
}

// do sends a request and returns the response if its status is want;
// otherwise it returns a *StatusError.
func (c *Client) do(ctx context.Context, method, rawPath string, query url.Values, body any, hdr http.Header, want int) (*http.Response, error) {
	u := url.URL{Scheme: "https", Host: clientHost, Path: rawPath}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", c.label(), err)
	}
	c.lastOK.Store(time.Now().UnixNano())
	if resp.StatusCode != want {
		defer resp.Body.Close()
		se := &StatusError{Code: resp.StatusCode}
		var er errorReply
		if json.NewDecoder(io.LimitReader(resp.Body, MaxErrorBytes)).Decode(&er) == nil {
			se.Msg = er.Error
		}
		return nil, fmt.Errorf("peer %s: %s %s: %w", c.label(), method, rawPath, se)
	}
	if resp.TLS != nil {
		if fp := identity.PeerFingerprint(*resp.TLS); fp != c.Fingerprint() {
			resp.Body.Close()
			return nil, fmt.Errorf("peer %s: %w", c.label(), identity.ErrFingerprint)
		}
	}
	resp.Body = guardBody(resp.Body, bodyStall)
	return resp, nil
}

// getJSON fetches a JSON document of at most max bytes into v.
func (c *Client) getJSON(ctx context.Context, method, p string, q url.Values, body, v any, max int64) error {
	_, err := c.getJSONn(ctx, method, p, q, body, v, max)
	return err
}

// getJSONn is getJSON that also says how many bytes the body had (max+1
// when it was longer).
func (c *Client) getJSONn(ctx context.Context, method, p string, q url.Values, body, v any, max int64) (int64, error) {
	if err := c.ensure(ctx); err != nil {
		return 0, err
	}
	return c.rawJSON(ctx, method, p, q, body, v, max)
}

func (c *Client) rawJSON(ctx context.Context, method, p string, q url.Values, body, v any, max int64) (int64, error) {
	resp, err := c.do(ctx, method, p, q, body, nil, http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	n := int64(len(b))
	if err != nil {
		return n, fmt.Errorf("peer %s: %s: %w", c.label(), p, err)
	}
	if n > max {
		return n, fmt.Errorf("peer %s: %s: %w: more than %d bytes", c.label(), p, ErrBadResponse, max)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return n, fmt.Errorf("peer %s: %s: %w: %v", c.label(), p, ErrBadResponse, err)
	}
	return n, nil
}

// ensure verifies the peer's identity through /v1/info if that has not been
// done yet.
func (c *Client) ensure(ctx context.Context) error {
	c.mu.Lock()
	ok := c.id != ""
	c.mu.Unlock()
	if ok {
		return nil
	}
	_, err := c.Info(ctx)
	return err
}

// Info fetches the peer's /v1/info and checks it: the reported fingerprint
// must be the one of the TLS connection, the id must match Remote.ID (if
// set), and Known must accept the pair (ErrKeyChanged otherwise).
func (c *Client) Info(ctx context.Context) (Info, error) {
	var in Info
	if _, err := c.rawJSON(ctx, http.MethodGet, "/v1/info", nil, nil, &in, MaxInfoBytes); err != nil {
		return Info{}, err
	}
	fp := c.Fingerprint()
	if err := checkInfo(in, fp, c.remote.ID); err != nil {
		return Info{}, fmt.Errorf("peer %s: %w", c.label(), err)
	}
	if c.known != nil {
		if err := c.known.Check(in.ID, fp); err != nil {
			return Info{}, fmt.Errorf("peer %s: %w", c.label(), err)
		}
	}
	c.mu.Lock()
	c.id = in.ID
	c.mu.Unlock()
	return in, nil
}

// checkInfo validates a peer's /v1/info: it must report the fingerprint fp
// of the connection it came over, the id wantID if one is expected, an id
// that is a UUID, and counts that are not negative.
func checkInfo(in Info, fp, wantID string) error {
	switch {
	case in.Fingerprint != fp:
		return fmt.Errorf("%w: info reports %s, the connection presents %s", identity.ErrFingerprint, quote(in.Fingerprint), fp)
	case wantID != "" && in.ID != wantID:
		return fmt.Errorf("%w: id %s, expected %s", ErrBadResponse, quote(in.ID), wantID)
	case !validID(in.ID):
		return fmt.Errorf("%w: id %s is not a UUID", ErrBadResponse, quote(in.ID))
	case in.Files < 0 || in.Bytes < 0 || in.HashedBytes < 0:
		return fmt.Errorf("%w: info with negative counts", ErrBadResponse)
	}
	return nil
}

// validID reports whether id is a peer id as Porch makes them: a UUID in
// canonical lower-case form.
func validID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

func checkReqPath(p string) error {
	if err := share.ValidatePath(p); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}

// List returns the children of folder p ("" the top), fetching every page.
// Every entry must be a valid direct child of p; at most MaxListEntries are
// accepted.
func (c *Client) List(ctx context.Context, p string) ([]share.Entry, error) {
	if err := checkReqPath(p); err != nil {
		return nil, err
	}
	var out []share.Entry
	err := c.pages(ctx, "/v1/ls", p, listBytes, func(e share.Entry) error {
		if parent(e.Path) != p && e.Path != p { // a file lists as itself
			return fmt.Errorf("%w: %s is not in %s", ErrBadResponse, quote(e.Path), quote(p))
		}
		if len(out) >= MaxListEntries {
			return fmt.Errorf("%w: more than %d entries", ErrBadResponse, MaxListEntries)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// Tree calls fn for p and everything below it, in pre-order, page by page.
// Every entry must be a valid path at or below p. An error from fn stops the
// walk and is returned.
func (c *Client) Tree(ctx context.Context, p string, fn func(share.Entry) error) error {
	if err := checkReqPath(p); err != nil {
		return err
	}
	return c.pages(ctx, "/v1/tree", p, treeBytes, func(e share.Entry) error {
		if !within(e.Path, p) {
			return fmt.Errorf("%w: %s is not under %s", ErrBadResponse, quote(e.Path), quote(p))
		}
		return fn(e)
	})
}

// pages fetches every page of a listing, at most maxBytes of them in all,
// and passes each entry to fn.
func (c *Client) pages(ctx context.Context, endpoint, p string, maxBytes int64, fn func(share.Entry) error) error {
	cursor := ""
	var total int64
	for {
		q := url.Values{"path": {p}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page ListPage
		n, err := c.getJSONn(ctx, http.MethodGet, endpoint, q, nil, &page, min(MaxPageBytes, maxBytes-total))
		if err != nil {
			if errors.Is(err, ErrBadResponse) && total+n >= maxBytes {
				return fmt.Errorf("peer %s: %s %s: %w: the listing goes on past %d MiB", c.label(), endpoint, quote(p), ErrBadResponse, maxBytes>>20)
			}
			return err
		}
		total += n
		for _, e := range page.Entries {
			if err := checkEntry(e); err != nil {
				return fmt.Errorf("peer %s: %s %s: %w", c.label(), endpoint, quote(p), err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		if len(page.Entries) == 0 || page.Next == cursor || len(page.Next) > 256 {
			return fmt.Errorf("peer %s: %s %s: %w: cursor does not advance", c.label(), endpoint, quote(p), ErrBadResponse)
		}
		cursor = page.Next
	}
}

// Search asks the peer for entries matching q (at most MaxSearch).
func (c *Client) Search(ctx context.Context, q string) ([]share.Entry, error) {
	var res searchReply
	if err := c.getJSON(ctx, http.MethodGet, "/v1/search", url.Values{"q": {q}, "limit": {strconv.Itoa(MaxSearch)}}, nil, &res, MaxSearchBytes); err != nil {
		return nil, err
	}
	if len(res.Results) > MaxSearch {
		return nil, fmt.Errorf("peer %s: search: %w: %d results", c.label(), ErrBadResponse, len(res.Results))
	}
	for _, e := range res.Results {
		if err := checkEntry(e); err != nil {
			return nil, fmt.Errorf("peer %s: search: %w", c.label(), err)
		}
	}
	return res.Results, nil
}

// Has returns the subset of cids the peer holds (at most MaxCIDs per call).
func (c *Client) Has(ctx context.Context, cids []string) ([]string, error) {
	if len(cids) > MaxCIDs {
		return nil, fmt.Errorf("%w: more than %d content ids", ErrBadRequest, MaxCIDs)
	}
	asked := make(map[string]bool, len(cids))
	for _, id := range cids {
		asked[id] = true
	}
	var res hasReply
	if err := c.getJSON(ctx, http.MethodPost, "/v1/has", nil, cidList{CIDs: cids}, &res, MaxHasBytes); err != nil {
		return nil, err
	}
	for _, id := range res.Has {
		if !asked[id] {
			return nil, fmt.Errorf("peer %s: has: %w: %s was not asked for", c.label(), ErrBadResponse, quote(id))
		}
	}
	return res.Has, nil
}

// Hashes fetches the block hashes of cid and checks that they derive cid.
func (c *Client) Hashes(ctx context.Context, cid string) (share.Hashes, error) {
	if !share.ValidContentID(cid) {
		return share.Hashes{}, fmt.Errorf("%w: %q", share.ErrBadContentID, cid)
	}
	if err := c.ensure(ctx); err != nil {
		return share.Hashes{}, err
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/hashes/"+cid, nil, nil, nil, http.StatusOK)
	if err != nil {
		return share.Hashes{}, err
	}
	defer resp.Body.Close()
	// A file's size fits in 63 bits, but a list for more than 2^40 bytes
	// (32 MiB of hashes) is refused as absurd.
	const maxHashes = 8 + (1<<40/share.BlockSize)*share.HashSize
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHashes+1))
	if err != nil {
		return share.Hashes{}, fmt.Errorf("peer %s: hashes: %w", c.label(), err)
	}
	if len(b) > maxHashes {
		return share.Hashes{}, fmt.Errorf("peer %s: hashes: %w: too long", c.label(), ErrBadResponse)
	}
	var h share.Hashes
	if err := h.UnmarshalBinary(b); err != nil {
		return share.Hashes{}, fmt.Errorf("peer %s: %w: %v", c.label(), ErrBadResponse, err)
	}
	if h.ContentID() != cid {
		return share.Hashes{}, fmt.Errorf("peer %s: hashes for %s: %w", c.label(), cid, share.ErrHashMismatch)
	}
	return h, nil
}

// ReadRange fills p with the bytes of content cid starting at off, reading
// straight into p. The peer must answer 206 with exactly that range.
func (c *Client) ReadRange(ctx context.Context, cid string, off int64, p []byte) error {
	if !share.ValidContentID(cid) {
		return fmt.Errorf("%w: %q", share.ErrBadContentID, cid)
	}
	if off < 0 {
		return fmt.Errorf("%w: offset %d", ErrRange, off)
	}
	if len(p) == 0 {
		return nil
	}
	if err := c.ensure(ctx); err != nil {
		return err
	}
	end := off + int64(len(p)) - 1
	hdr := http.Header{"Range": {"bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(end, 10)}}
	resp, err := c.do(ctx, http.MethodGet, "/v1/content/"+cid, nil, nil, hdr, http.StatusPartialContent)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.ContentLength != int64(len(p)) {
		return fmt.Errorf("peer %s: content %s: %w: length %d, want %d", c.label(), cid, ErrBadResponse, resp.ContentLength, len(p))
	}
	cr := resp.Header.Get("Content-Range")
	prefix := "bytes " + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(end, 10) + "/"
	if !strings.HasPrefix(cr, prefix) {
		return fmt.Errorf("peer %s: content %s: %w: Content-Range %s, want %s*", c.label(), cid, ErrBadResponse, quote(cr), prefix)
	}
	if _, err := io.ReadFull(resp.Body, p); err != nil {
		return fmt.Errorf("peer %s: content %s at %d: %w", c.label(), cid, off, err)
	}
	return nil
}

// Batch fetches the contents of small files (at most one block each) in one
// request and calls fn with each one the peer holds, in order: i is the index
// in cids, data the bytes (valid only during the call; not verified). Content
// the peer lacks is skipped. An error from fn stops the batch.
func (c *Client) Batch(ctx context.Context, cids []string, fn func(i int, data []byte) error) error {
	if len(cids) > MaxCIDs {
		return fmt.Errorf("%w: more than %d content ids", ErrBadRequest, MaxCIDs)
	}
	if len(cids) == 0 {
		return nil
	}
	if err := c.ensure(ctx); err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/batch", nil, cidList{CIDs: cids}, nil, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Records are small: read the body in large pieces.
	body := bufio.NewReaderSize(resp.Body, 64<<10)
	var buf []byte
	var hdr [8]byte
	var total int64
	for i := range cids {
		if _, err := io.ReadFull(body, hdr[:]); err != nil {
			return fmt.Errorf("peer %s: batch item %d: %w", c.label(), i, err)
		}
		n := binary.BigEndian.Uint64(hdr[:])
		if n == batchMissing {
			continue
		}
		if n > share.BlockSize || total+int64(n) > MaxBatchBytes {
			return fmt.Errorf("peer %s: batch item %d: %w: %d bytes", c.label(), i, ErrBadResponse, n)
		}
		total += int64(n)
		if cap(buf) < int(n) {
			buf = make([]byte, n, max(n, 64<<10))
		}
		data := buf[:n]
		if _, err := io.ReadFull(body, data); err != nil {
			return fmt.Errorf("peer %s: batch item %d: %w", c.label(), i, err)
		}
		if err := fn(i, data); err != nil {
			return err
		}
	}
	return nil
}

// Hello announces self to the peer (POST /v1/hello). self.Fingerprint must be
// this client's own fingerprint.
func (c *Client) Hello(ctx context.Context, self Info) error {
	return c.post(ctx, "/v1/hello", self)
}

// Goodbye tells the peer this one is leaving (POST /v1/goodbye).
func (c *Client) Goodbye(ctx context.Context) error {
	return c.post(ctx, "/v1/goodbye", struct{}{})
}

// Pair asks the peer's user to compare the pairing code with this one's.
func (c *Client) Pair(ctx context.Context) error {
	return c.post(ctx, "/v1/pair", struct{}{})
}

func (c *Client) post(ctx context.Context, p string, body any) error {
	if err := c.ensure(ctx); err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, p, nil, body, nil, http.StatusNoContent)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
