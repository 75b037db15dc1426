// Command localsendpeer is a LocalSend device for Porch's end-to-end tests,
// written from LocalSend's protocol (not from Porch's code), that behaves
// like LocalSend 1.17 or 1.18.
//
//	localsendpeer serve --mode 1.17|1.18 --iface IF --alias NAME --dir DIR [--pin PIN] [--offer FILE]... [--slow KIB]
//	localsendpeer send  --mode 1.17|1.18 --to HOST:PORT --fp FINGERPRINT [--pin PIN] [--text MSG] [FILE]...
//
// serve announces on 224.0.0.167:53317 on IF (three datagrams), answers
// what it hears and serves register, info, prepare-upload, upload, cancel
// and, with --offer, prepare-download and download. Mode 1.17 asks for no
// client certificate, answers only announcements and answers them by UDP
// (as 1.17 does when its HTTP answer fails), ignores sha256; mode 1.18
// requires a client certificate, answers every datagram by HTTP only and
// checks sha256 (422). --slow reads uploads at about KIB KiB a second, so
// that a test can stop a transfer halfway. Everything it sees is printed on stdout as one JSON
// object a line: {"event":"ready"|"device"|"received"|"text"|...}.
//
// send uploads files (or a text message) to a Porch at HOST:PORT, pinning
// FINGERPRINT, and prints {"event":"sent","status":CODE,...}. Mode 1.18
// presents a client certificate, 1.17 none.
//
// It is test code: it keeps everything in memory and stops on SIGTERM.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

const port = 53317

var group = net.IPv4(224, 0, 0, 167)

type info struct {
	Alias        string `json:"alias"`
	Version      string `json:"version"`
	DeviceModel  string `json:"deviceModel,omitempty"`
	DeviceType   string `json:"deviceType,omitempty"`
	Fingerprint  string `json:"fingerprint"`
	Port         int    `json:"port,omitempty"`
	Protocol     string `json:"protocol,omitempty"`
	Download     bool   `json:"download"`
	Announce     *bool  `json:"announce,omitempty"`
	Announcement *bool  `json:"announcement,omitempty"`
}

type fileDto struct {
	ID       string `json:"id"`
	FileName string `json:"fileName"`
	Size     int64  `json:"size"`
	FileType string `json:"fileType"`
	SHA256   string `json:"sha256,omitempty"`
	Preview  string `json:"preview,omitempty"`
}

var (
	out   = json.NewEncoder(os.Stdout)
	outMu sync.Mutex
)

func emit(v map[string]any) {
	outMu.Lock()
	defer outMu.Unlock()
	out.Encode(v)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: localsendpeer serve|send ...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	mode := fs.String("mode", "1.18", "1.17 or 1.18")
	iface := fs.String("iface", "", "interface for multicast")
	alias := fs.String("alias", "LS Device", "display name")
	dir := fs.String("dir", "", "where received files go")
	pin := fs.String("pin", "", "PIN")
	to := fs.String("to", "", "HOST:PORT of the receiver")
	fp := fs.String("fp", "", "the receiver's fingerprint")
	text := fs.String("text", "", "a text message to send")
	slow := fs.Int("slow", 0, "read uploads at about this many KiB a second (0: as fast as they come)")
	var offers multi
	fs.Var(&offers, "offer", "a file offered for download (repeatable)")
	fs.Parse(os.Args[2:])
	cert, fingerprint := newCert()
	p := &lsPeer{mode: *mode, alias: *alias, dir: *dir, pin: *pin, cert: cert, fp: fingerprint, offers: offers, slow: *slow}
	switch os.Args[1] {
	case "serve":
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := p.serve(ctx, *iface); err != nil {
			fmt.Fprintln(os.Stderr, "localsendpeer:", err)
			os.Exit(1)
		}
	case "send":
		os.Exit(p.send(*to, *fp, *text, fs.Args()))
	default:
		os.Exit(2)
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// newCert makes the peer's certificate. Its subject is not byte for byte the one Porch's
// certificate names as issuer (LocalSend's own, made by rcgen, is not either), so a client that
// picks its certificate by the server's list of acceptable issuers sends none.
func newCert() (tls.Certificate, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:   pkix.Name{CommonName: "LocalSend User", Organization: []string{"localsendpeer"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, strings.ToUpper(hex.EncodeToString(sum[:]))
}

type lsPeer struct {
	mode, alias, dir, pin string
	cert                  tls.Certificate
	fp                    string
	offers                []string
	slow                  int
	mc                    *net.UDPConn // joined on the interface; sends go out there

	mu       sync.Mutex
	session  string
	tokens   map[string]string // fileId -> token
	files    map[string]fileDto
	sender   string
	attempts map[string]int
}

func (p *lsPeer) self() info {
	return info{Alias: p.alias, Version: map[string]string{"1.17": "2.1", "1.18": "2.2"}[p.mode], DeviceModel: "TestPeer " + p.mode,
		DeviceType: "mobile", Fingerprint: p.fp, Port: port, Protocol: "https", Download: len(p.offers) > 0}
}

// client is an HTTPS client pinning fp; 1.18 presents its certificate.
func (p *lsPeer) client(fp string) *http.Client {
	cfg := &tls.Config{InsecureSkipVerify: true, VerifyConnection: func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("no certificate")
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		if got := strings.ToUpper(hex.EncodeToString(sum[:])); got != strings.ToUpper(fp) {
			return fmt.Errorf("fingerprint %s, want %s", got, fp)
		}
		return nil
	}}
	if p.mode == "1.18" {
		c := p.cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func (p *lsPeer) serve(ctx context.Context, ifname string) error {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	addrs, _ := ifi.Addrs()
	var host string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			host = ipn.IP.String()
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return err
	}
	tc := &tls.Config{Certificates: []tls.Certificate{p.cert}, ClientAuth: tls.NoClientCert}
	if p.mode == "1.18" {
		// Like 1.18's verifier: a client certificate is required, any valid one, and the
		// acceptable issuers it names are its own certificate's subject.
		tc.ClientAuth = tls.RequireAnyClientCert
		leaf, _ := x509.ParseCertificate(p.cert.Certificate[0])
		tc.ClientCAs = x509.NewCertPool()
		tc.ClientCAs.AddCert(leaf)
	}
	srv := &http.Server{Handler: p, TLSConfig: tc}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	mc, err := net.ListenMulticastUDP("udp4", ifi, &net.UDPAddr{IP: group, Port: port})
	if err != nil {
		return err
	}
	defer mc.Close()
	p.mc = mc
	emit(map[string]any{"event": "ready", "fingerprint": p.fp, "addr": host})
	go func() {
		for i, d := range []time.Duration{100 * time.Millisecond, 400 * time.Millisecond, 1500 * time.Millisecond} {
			time.Sleep(d)
			p.multicast(true)
			emit(map[string]any{"event": "announced", "n": i + 1})
		}
	}()
	go func() { <-ctx.Done(); mc.Close() }()
	buf := make([]byte, 65536)
	for {
		n, from, err := mc.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		var in info
		if json.Unmarshal(buf[:n], &in) != nil || strings.EqualFold(in.Fingerprint, p.fp) {
			continue
		}
		announce := in.Announce != nil && *in.Announce || in.Announcement != nil && *in.Announcement
		emit(map[string]any{"event": "heard", "alias": in.Alias, "fingerprint": in.Fingerprint, "announce": announce, "from": from.IP.String()})
		switch {
		case p.mode == "1.17" && announce:
			p.multicast(false) // answer by UDP
			emit(map[string]any{"event": "device", "via": "udp", "alias": in.Alias, "fingerprint": in.Fingerprint, "deviceType": in.DeviceType})
		case p.mode == "1.18":
			go p.register(from.IP.String(), in)
		}
	}
}

func (p *lsPeer) multicast(announce bool) {
	i := p.self()
	i.Announce = &announce
	if p.mode == "1.17" {
		i.Announcement = &announce
	}
	b, _ := json.Marshal(i)
	if _, err := p.mc.WriteToUDP(b, &net.UDPAddr{IP: group, Port: port}); err != nil {
		emit(map[string]any{"event": "multicast-failed", "err": err.Error()})
	}
}

// register answers a datagram over HTTP, as 1.18 does.
func (p *lsPeer) register(ip string, in info) {
	b, _ := json.Marshal(p.self())
	hc := p.client(in.Fingerprint)
	hc.Timeout = 2 * time.Second
	resp, err := hc.Post(fmt.Sprintf("%s://%s:%d/api/localsend/v2/register", in.Protocol, ip, in.Port), "application/json", bytes.NewReader(b))
	if err != nil {
		emit(map[string]any{"event": "register-failed", "err": err.Error()})
		return
	}
	defer resp.Body.Close()
	var got info
	json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&got)
	emit(map[string]any{"event": "device", "via": "register", "status": resp.StatusCode, "alias": got.Alias,
		"fingerprint": got.Fingerprint, "deviceType": got.DeviceType, "deviceModel": got.DeviceModel, "version": got.Version})
}

func fail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (p *lsPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	q := r.URL.Query()
	switch r.URL.Path {
	case "/api/localsend/v2/info", "/api/localsend/v1/info":
		i := p.self()
		i.Port, i.Protocol = 0, ""
		reply(w, i)
	case "/api/localsend/v2/register":
		var in info
		json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in)
		certFP := ""
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
			certFP = strings.ToUpper(hex.EncodeToString(sum[:]))
		}
		emit(map[string]any{"event": "device", "via": "register-in", "alias": in.Alias, "fingerprint": in.Fingerprint,
			"deviceType": in.DeviceType, "deviceModel": in.DeviceModel, "version": in.Version, "certFingerprint": certFP})
		i := p.self()
		i.Port, i.Protocol = 0, ""
		reply(w, i)
	case "/api/localsend/v2/prepare-upload":
		if p.pin != "" && q.Get("pin") != p.pin {
			fail(w, http.StatusUnauthorized, "PIN required")
			return
		}
		var req struct {
			Info  info               `json:"info"`
			Files map[string]fileDto `json:"files"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || len(req.Files) == 0 {
			fail(w, http.StatusBadRequest, "bad body")
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.session != "" {
			fail(w, http.StatusConflict, "Blocked by another session")
			return
		}
		p.session, p.sender = newToken(), ip
		p.tokens, p.files, p.attempts = map[string]string{}, req.Files, map[string]int{}
		for id := range req.Files {
			p.tokens[id] = newToken()
		}
		emit(map[string]any{"event": "prepare", "from": req.Info.Alias, "files": len(req.Files)})
		reply(w, map[string]any{"sessionId": p.session, "files": p.tokens})
	case "/api/localsend/v2/upload":
		p.upload(w, r, ip)
	case "/api/localsend/v2/cancel":
		p.mu.Lock()
		if q.Get("sessionId") == p.session {
			p.session = ""
		}
		p.mu.Unlock()
		emit(map[string]any{"event": "cancelled"})
	case "/api/localsend/v2/prepare-download":
		if len(p.offers) == 0 {
			fail(w, http.StatusForbidden, "no download")
			return
		}
		if p.pin != "" && q.Get("pin") != p.pin {
			fail(w, http.StatusUnauthorized, "PIN required")
			return
		}
		files := map[string]fileDto{}
		for i, f := range p.offers {
			b, err := os.ReadFile(f)
			if err != nil {
				fail(w, 500, err.Error())
				return
			}
			sum := sha256.Sum256(b)
			id := fmt.Sprint("d", i)
			files[id] = fileDto{ID: id, FileName: filepath.Base(f), Size: int64(len(b)), FileType: "application/octet-stream", SHA256: hex.EncodeToString(sum[:])}
		}
		i := p.self()
		i.Port, i.Protocol = 0, ""
		reply(w, map[string]any{"info": i, "sessionId": "dl-session", "files": files})
	case "/api/localsend/v2/download":
		var id int
		if q.Get("sessionId") != "dl-session" || len(q.Get("fileId")) < 2 {
			fail(w, http.StatusForbidden, "bad session")
			return
		}
		fmt.Sscan(q.Get("fileId")[1:], &id)
		if id < 0 || id >= len(p.offers) {
			fail(w, http.StatusNotFound, "no such file")
			return
		}
		http.ServeFile(w, r, p.offers[id])
		emit(map[string]any{"event": "downloaded", "file": filepath.Base(p.offers[id])})
	default:
		fail(w, http.StatusNotFound, "not found")
	}
}

func (p *lsPeer) upload(w http.ResponseWriter, r *http.Request, ip string) {
	q := r.URL.Query()
	p.mu.Lock()
	sid, fid, tok := q.Get("sessionId"), q.Get("fileId"), q.Get("token")
	f, ok := p.files[fid]
	if sid != p.session || p.session == "" || ip != p.sender || !ok || p.tokens[fid] != tok {
		p.mu.Unlock()
		fail(w, http.StatusForbidden, "Invalid token or IP address")
		return
	}
	p.mu.Unlock()
	var body io.Reader = io.LimitReader(r.Body, f.Size+1)
	if p.slow > 0 {
		body = &slowReader{r: body, perTick: p.slow * 1024 / 20}
	}
	b, err := io.ReadAll(body)
	if err != nil || int64(len(b)) != f.Size {
		emit(map[string]any{"event": "upload-failed", "name": f.FileName, "got": len(b)})
		fail(w, http.StatusInternalServerError, "size mismatch")
		return
	}
	sum := sha256.Sum256(b)
	got := hex.EncodeToString(sum[:])
	if p.mode == "1.18" && f.SHA256 != "" && !strings.EqualFold(got, f.SHA256) {
		fail(w, http.StatusUnprocessableEntity, "Checksum mismatch")
		return
	}
	dst := filepath.Join(p.dir, filepath.FromSlash(f.FileName))
	if !strings.HasPrefix(dst, filepath.Clean(p.dir)+string(filepath.Separator)) {
		fail(w, http.StatusBadRequest, "bad name")
		return
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		fail(w, http.StatusInternalServerError, err.Error())
		return
	}
	emit(map[string]any{"event": "received", "name": f.FileName, "size": len(b), "sha256": got, "announcedSha256": f.SHA256})
	p.mu.Lock()
	delete(p.files, fid)
	if len(p.files) == 0 {
		p.session = ""
	}
	p.mu.Unlock()
}

func newToken() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// send uploads files or a text message to a receiver.
func (p *lsPeer) send(to, fp, text string, paths []string) int {
	hc := p.client(fp)
	base := "https://" + to + "/api/localsend/v2/"
	files := map[string]fileDto{}
	data := map[string][]byte{}
	if text != "" {
		files["t"] = fileDto{ID: "t", FileName: "message.txt", Size: int64(len(text)), FileType: "text/plain", Preview: text}
	}
	for i, a := range paths {
		// NAME=PATH sends PATH under NAME (folders in it), PATH under its base name.
		name, path, ok := strings.Cut(a, "=")
		if !ok {
			name, path = filepath.Base(a), a
		}
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		sum := sha256.Sum256(b)
		id := fmt.Sprint("f", i)
		files[id] = fileDto{ID: id, FileName: name, Size: int64(len(b)), FileType: "application/octet-stream", SHA256: hex.EncodeToString(sum[:])}
		data[id] = b
	}
	i := p.self()
	body, _ := json.Marshal(map[string]any{"info": i, "files": files})
	u := base + "prepare-upload"
	if p.pin != "" {
		u += "?pin=" + p.pin
	}
	resp, err := hc.Post(u, "application/json", bytes.NewReader(body))
	if err != nil {
		emit(map[string]any{"event": "sent", "status": 0, "err": err.Error()})
		return 1
	}
	var ans struct {
		SessionID string            `json:"sessionId"`
		Files     map[string]string `json:"files"`
		Message   string            `json:"message"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ans)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		emit(map[string]any{"event": "sent", "status": resp.StatusCode, "message": ans.Message})
		return 0
	}
	for id, tok := range ans.Files {
		u := fmt.Sprintf("%supload?sessionId=%s&fileId=%s&token=%s", base, ans.SessionID, id, tok)
		resp, err := hc.Post(u, "application/octet-stream", bytes.NewReader(data[id]))
		if err != nil {
			emit(map[string]any{"event": "sent", "status": 0, "err": err.Error()})
			return 1
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			emit(map[string]any{"event": "sent", "status": resp.StatusCode, "file": files[id].FileName})
			return 0
		}
	}
	emit(map[string]any{"event": "sent", "status": 200, "files": len(ans.Files)})
	return 0
}

// slowReader reads at most perTick bytes every 50 ms.
type slowReader struct {
	r       io.Reader
	perTick int
}

func (s *slowReader) Read(b []byte) (int, error) {
	time.Sleep(50 * time.Millisecond)
	if len(b) > s.perTick {
		b = b[:s.perTick]
	}
	return s.r.Read(b)
}
