package localsend

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"porch/share"
)

// testCert is one certificate for every test of the package (RSA keys are slow to make).
var testCert = sync.OnceValue(func() *Cert {
	dir, err := os.MkdirTemp("", "localsend-cert-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	c, err := LoadCert(dir)
	if err != nil {
		panic(err)
	}
	return c
})

func TestFingerprintMatchesLocalSend(t *testing.T) {
	// LocalSend's own test vector (packages/core/src/crypto/cert.rs).
	raw, err := os.ReadFile("testdata/localsend-test-cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	if got, want := Fingerprint(b.Bytes), "4BADDE53A7F7CDEEED93189FD898E02BF6B4806CA4C05DE0ACE08319B86552FA"; got != want {
		t.Errorf("fingerprint %s, LocalSend computes %s", got, want)
	}
}

func TestCertCreatedOnceByConcurrentProcesses(t *testing.T) {
	dir := t.TempDir()
	fps := make(chan string, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			c, err := LoadCert(dir)
			if err != nil {
				t.Error(err)
				fps <- ""
				return
			}
			fps <- c.Fingerprint
		})
	}
	wg.Wait()
	close(fps)
	again, err := LoadCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	for fp := range fps {
		if fp != again.Fingerprint {
			t.Errorf("one loader uses %s, the data folder keeps %s", fp, again.Fingerprint)
		}
	}
}

func TestCertPersists(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint != b.Fingerprint || len(a.Fingerprint) != 64 || strings.ToUpper(a.Fingerprint) != a.Fingerprint {
		t.Errorf("fingerprints %s and %s", a.Fingerprint, b.Fingerprint)
	}
	if fi, err := os.Stat(filepath.Join(dir, certFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v, want mode 0600", certFile, fi.Mode(), err)
	}
	os.WriteFile(filepath.Join(dir, certFile), []byte("garbage"), 0o600)
	c, err := LoadCert(dir)
	if err != nil || c.Fingerprint == a.Fingerprint {
		t.Errorf("a damaged certificate was not replaced: %v", err)
	}
}

// rig is a Server on a real TLS listener on 127.0.0.1 with a download folder.
type rig struct {
	t        *testing.T
	srv      *Server
	url      string
	dl       string
	mu       sync.Mutex
	decide   error
	pin      string
	seen     []Device
	texts    []string
	received []string
	ended    chan [2]int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, dl: filepath.Join(t.TempDir(), "downloads"), ended: make(chan [2]int, 16)}
	srv, err := NewServer(ServerOptions{
		Cert:    testCert(),
		Self:    func() Info { return Info{Alias: "porch", Port: 53317} },
		Store:   func() (*share.Store, error) { return share.OpenStore(r.dl) },
		Receive: func() bool { return true },
		Decide: func(ctx context.Context, o Offer) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.decide
		},
		PIN: func() string { r.mu.Lock(); defer r.mu.Unlock(); return r.pin },
		Seen: func(d Device) {
			r.mu.Lock()
			r.seen = append(r.seen, d)
			r.mu.Unlock()
		},
		Text: func(o Offer) { r.mu.Lock(); r.texts = append(r.texts, o.Text); r.mu.Unlock() },
		Received: func(o Offer, rel string, size int64) {
			r.mu.Lock()
			r.received = append(r.received, rel)
			r.mu.Unlock()
		},
		Ended: func(o Offer, kept, failed int, cancelled bool) { r.ended <- [2]int{kept, failed} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	r.srv, r.url = srv, "https://"+ln.Addr().String()+"/api/localsend/v2/"
	return r
}

// plain is a client without a certificate (as LocalSend 1.17 and browsers).
var plain = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

func (r *rig) post(path string, body []byte) (int, map[string]any) {
	r.t.Helper()
	resp, err := plain.Post(r.url+path, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func prepareBody(files map[string]File) []byte {
	b, _ := json.Marshal(PrepareUpload{Info: Info{Alias: "sender", Fingerprint: "ABCD", DeviceType: "mobile"}, Files: files})
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestReceive(t *testing.T) {
	r := newRig(t)
	a, b := []byte("first file"), bytes.Repeat([]byte("x"), 300<<10)
	code, ans := r.post("prepare-upload", prepareBody(map[string]File{
		"a": {FileName: "a.txt", Size: int64(len(a)), SHA256: sum(a)},
		"b": {FileName: "album/cd1/01.flac", Size: int64(len(b))},
	}))
	if code != 200 {
		t.Fatalf("prepare-upload: %d %v", code, ans)
	}
	sid, toks := ans["sessionId"].(string), ans["files"].(map[string]any)
	up := func(id string, body []byte) int {
		c, _ := r.post(fmt.Sprintf("upload?sessionId=%s&fileId=%s&token=%s", sid, id, toks[id]), body)
		return c
	}
	if c := up("a", []byte("first filX")); c != 422 {
		t.Errorf("a body that does not match its sha256: %d, want 422", c)
	}
	if c := up("a", a); c != 200 {
		t.Errorf("upload a: %d", c)
	}
	if c := up("a", a); c != 403 {
		t.Errorf("a file uploaded twice: %d, want 403", c)
	}
	if c := up("b", b); c != 200 {
		t.Errorf("upload b: %d", c)
	}
	if got := <-r.ended; got != [2]int{2, 0} {
		t.Errorf("session ended with %v kept/failed", got)
	}
	for rel, want := range map[string][]byte{"a.txt": a, "album/cd1/01.flac": b} {
		p := filepath.Join(r.dl, filepath.FromSlash(rel))
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v", rel, len(got), err)
		}
		if fi, _ := os.Stat(p); fi.Mode()&0o111 != 0 {
			t.Errorf("%s is executable", rel)
		}
	}
	entries, _ := os.ReadDir(r.dl)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".partial") {
			t.Errorf("left %s", e.Name())
		}
	}
	// The same name again lands beside.
	code, ans = r.post("prepare-upload", prepareBody(map[string]File{"a": {FileName: "a.txt", Size: int64(len(a))}}))
	if code != 200 {
		t.Fatalf("prepare-upload: %d", code)
	}
	r.post(fmt.Sprintf("upload?sessionId=%s&fileId=a&token=%s", ans["sessionId"], ans["files"].(map[string]any)["a"]), a)
	if _, err := os.Stat(filepath.Join(r.dl, "a (1).txt")); err != nil {
		t.Errorf("second a.txt: %v", err)
	}
}

func TestChecksumTries(t *testing.T) {
	r := newRig(t)
	body := []byte("payload")
	_, ans := r.post("prepare-upload", prepareBody(map[string]File{"a": {FileName: "a", Size: 7, SHA256: sum([]byte("other!!"))}}))
	sid, tok := ans["sessionId"], ans["files"].(map[string]any)["a"]
	var codes []int
	for i := 0; i < 4; i++ {
		c, _ := r.post(fmt.Sprintf("upload?sessionId=%s&fileId=a&token=%s", sid, tok), body)
		codes = append(codes, c)
	}
	if fmt.Sprint(codes) != "[422 422 422 409]" {
		t.Errorf("four uploads that do not match: %v, want three 422 then the session gone (409)", codes)
	}
	if got := <-r.ended; got != [2]int{0, 1} {
		t.Errorf("session ended with %v", got)
	}
	if ents, _ := os.ReadDir(r.dl); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}

func TestSessionRules(t *testing.T) {
	r := newRig(t)
	one := map[string]File{"a": {FileName: "a", Size: 1}}
	code, ans := r.post("prepare-upload", prepareBody(one))
	if code != 200 {
		t.Fatal(code)
	}
	sid, tok := ans["sessionId"].(string), ans["files"].(map[string]any)["a"].(string)
	if c, _ := r.post("prepare-upload", prepareBody(one)); c != 409 {
		t.Errorf("second session: %d, want 409", c)
	}
	for what, q := range map[string]string{
		"no token":      "upload?sessionId=" + sid + "&fileId=a",
		"wrong token":   "upload?sessionId=" + sid + "&fileId=a&token=nope",
		"wrong file":    "upload?sessionId=" + sid + "&fileId=b&token=" + tok,
		"wrong session": "upload?sessionId=other&fileId=a&token=" + tok,
	} {
		want := map[string]int{"no token": 400, "wrong token": 403, "wrong file": 403, "wrong session": 409}[what]
		if c, _ := r.post(q, []byte("x")); c != want {
			t.Errorf("%s: %d, want %d", what, c, want)
		}
	}
	if c, _ := r.post("cancel?sessionId=other", nil); c != 409 {
		t.Errorf("cancel of another session: %d, want 409", c)
	}
	if c, _ := r.post("cancel?sessionId="+sid, nil); c != 200 {
		t.Errorf("cancel: %d", c)
	}
	if c, _ := r.post(fmt.Sprintf("upload?sessionId=%s&fileId=a&token=%s", sid, tok), []byte("x")); c != 409 {
		t.Errorf("upload after cancel: %d, want 409", c)
	}
	r.mu.Lock()
	r.decide = ErrDeclined
	r.mu.Unlock()
	if c, _ := r.post("prepare-upload", prepareBody(one)); c != 403 {
		t.Errorf("declined: %d, want 403", c)
	}
	r.mu.Lock()
	r.decide = nil
	r.mu.Unlock()
	if c, _ := r.post("prepare-upload", prepareBody(one)); c != 200 {
		t.Errorf("after a decline the slot is free again: %d", c)
	}
}

func TestTextMessage(t *testing.T) {
	r := newRig(t)
	code, _ := r.post("prepare-upload", prepareBody(map[string]File{"t": {FileName: "m.txt", Size: 5, FileType: "text/plain", Preview: "hello"}}))
	if code != 204 {
		t.Errorf("text message: %d, want 204", code)
	}
	if len(r.texts) != 1 || r.texts[0] != "hello" {
		t.Errorf("texts %v", r.texts)
	}
	if ents, _ := os.ReadDir(r.dl); len(ents) != 0 {
		t.Errorf("a text message wrote %v", ents)
	}
}

func TestPIN(t *testing.T) {
	r := newRig(t)
	r.pin = "1234"
	one := prepareBody(map[string]File{"t": {FileName: "m.txt", Size: 1, FileType: "text/plain", Preview: "x"}})
	try := func(q string) int {
		c, _ := r.post("prepare-upload"+q, one)
		return c
	}
	var codes []int
	for _, q := range []string{"", "?pin=1234", "?pin=0", "?pin=1", "?pin=2", "?pin=1234"} {
		codes = append(codes, try(q))
	}
	if fmt.Sprint(codes) != "[401 204 401 401 401 429]" {
		t.Errorf("no PIN, right, three wrong, right: %v, want [401 204 401 401 401 429]", codes)
	}
}

func TestRegister(t *testing.T) {
	r := newRig(t)
	other, err := LoadCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(other, func() Info { return Info{Alias: "phone", Port: 53317, Protocol: "https"} }, nil)
	ap := netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(r.url, "https://"), "/api/localsend/v2/"))
	d, err := c.Register(context.Background(), ap, "https", testCert().Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if d.Alias != "porch" || d.DeviceType != DeviceType || d.Fingerprint != testCert().Fingerprint || !d.Verified {
		t.Errorf("register answer %+v", d)
	}
	if len(r.seen) != 1 || r.seen[0].Fingerprint != other.Fingerprint || !r.seen[0].Verified {
		t.Errorf("server saw %+v", r.seen)
	}
	// A client that claims another fingerprint than its certificate's is not listed.
	liar := NewClient(other, func() Info { return Info{Alias: "liar", Port: 1, Protocol: "https"} }, nil)
	liarInfo := liar.info()
	liarInfo.Fingerprint = strings.Repeat("A", 64)
	body, _ := json.Marshal(liarInfo)
	hc := liar.http("https", testCert().Fingerprint)
	resp, err := hc.Post(r.url+"register", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("register: %v", err)
	}
	resp.Body.Close()
	if len(r.seen) != 1 {
		t.Errorf("a register with a spoofed fingerprint was listed: %+v", r.seen)
	}
	// Pinning: a server whose certificate is not the announced one is refused.
	if _, err := c.Register(context.Background(), ap, "https", other.Fingerprint); !errors.Is(err, ErrFingerprint) {
		t.Errorf("register to a server with another certificate: %v, want ErrFingerprint", err)
	}
}

func TestSend(t *testing.T) {
	r := newRig(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "photos", "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "photos", "a.jpg"), bytes.Repeat([]byte("a"), 1000), 0o644)
	os.WriteFile(filepath.Join(src, "photos", "sub", "b.jpg"), bytes.Repeat([]byte("b"), 70000), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(src, "photos", "link"))
	os.MkdirAll(filepath.Join(src, "photos", ".ssh"), 0o755)
	os.WriteFile(filepath.Join(src, "photos", ".ssh", "id_ed25519"), []byte("secret"), 0o600)
	os.WriteFile(filepath.Join(src, "photos", ".env"), []byte("TOKEN=1"), 0o600)
	if _, err := Collect([]string{filepath.Join(src, "photos", ".env")}); err == nil {
		t.Error("a secret given as a path was collected")
	}
	files, err := Collect([]string{filepath.Join(src, "photos")})
	if err != nil || len(files) != 2 { // the symbolic link and the secrets left out
		t.Fatalf("collect: %v %+v", err, files)
	}
	other, _ := LoadCert(t.TempDir())
	c := NewClient(other, func() Info { return Info{Alias: "phone", Port: 53317, Protocol: "https"} }, nil)
	ap := netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(r.url, "https://"), "/api/localsend/v2/"))
	d := Device{Info: Info{Alias: "porch", Fingerprint: testCert().Fingerprint, Port: int(ap.Port()), Protocol: "https"}, Addr: ap.Addr()}
	var last int64
	if err := c.Send(context.Background(), d, "", files, func(done, total int64, _ string) { last = done }); err != nil {
		t.Fatal(err)
	}
	if last != 71000 {
		t.Errorf("progress ended at %d of 71000", last)
	}
	got, _ := os.ReadFile(filepath.Join(r.dl, "photos", "sub", "b.jpg"))
	if len(got) != 70000 {
		t.Errorf("b.jpg: %d bytes", len(got))
	}
	if _, err := os.Lstat(filepath.Join(r.dl, "photos", "link")); err == nil {
		t.Error("a symbolic link was sent")
	}
	r.pin = "77"
	var se *StatusError
	if err := c.Send(context.Background(), d, "", files, nil); !errors.As(err, &se) || se.Code != 401 {
		t.Errorf("send without the PIN: %v, want 401", err)
	}
	if err := c.Send(context.Background(), d, "77", files, nil); err != nil {
		t.Errorf("send with the PIN: %v", err)
	}
}

func TestBodyBounds(t *testing.T) {
	r := newRig(t)
	big := append([]byte(`{"info":{"alias":"a","fingerprint":"x"},"files":{},"pad":"`), bytes.Repeat([]byte("p"), MaxPrepareBody)...)
	if c, _ := r.post("prepare-upload", append(big, `"}`...)); c != 400 {
		t.Errorf("a body over %d bytes: %d, want 400", MaxPrepareBody, c)
	}
	resp, err := plain.Get(strings.Replace(r.url, "/v2/", "/v1/", 1) + "info")
	if err == nil {
		var i Info
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&i)
		resp.Body.Close()
		if resp.StatusCode != 200 || i.Alias != "porch" || i.Fingerprint != testCert().Fingerprint || i.DeviceType != "desktop" {
			t.Errorf("/v1/info: %d %+v", resp.StatusCode, i)
		}
	}
}
