package wire

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
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
	"sync/atomic"
	"testing"
	"time"

	"porch/peer/identity"
	"porch/share"
)

// testPeer is a real server over loopback serving a real share.Library.
type testPeer struct {
	id   *identity.Identity
	lib  *share.Library
	srv  *Server
	addr string
	src  string // the shared folder's parent on disk
}

type peerOpts struct {
	files map[string][]byte // relative to the shared folder "files"
	wrap  func(Library) Library
	opts  ServerOptions
	hash  bool
	stall time.Duration // the server's write stall timeout, if not zero
	// listen, when set, wraps the server's listener.
	listen func(net.Listener) net.Listener
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func startPeer(t testing.TB, po peerOpts) *testPeer {
	t.Helper()
	src := t.TempDir()
	shared := filepath.Join(src, "files")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range po.files {
		p := filepath.Join(shared, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	id, err := identity.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	lib, err := share.OpenLibrary(share.LibraryOptions{DataDir: data, Rescan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lib.Close() })
	if _, err := lib.Add(shared); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	if po.hash {
		wg.Add(1)
		go func() { defer wg.Done(); lib.Run(ctx) }()
		deadline := time.Now().Add(20 * time.Second)
		for {
			h, total := lib.HashProgress()
			if h == total {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("hashing did not finish: %d of %d bytes", h, total)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	o := po.opts
	o.Identity = id
	o.Library = LibraryOf(lib)
	if po.wrap != nil {
		o.Library = po.wrap(o.Library)
	}
	if o.Self == nil {
		o.Self = func() Info { return Info{Name: "test peer"} }
	}
	srv, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	if po.stall > 0 {
		srv.stall = po.stall
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if po.listen != nil {
		ln = po.listen(ln)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, ln); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	return &testPeer{id: id, lib: lib, srv: srv, addr: addr, src: src}
}

func newIdentity(t testing.TB) *identity.Identity {
	t.Helper()
	id, err := identity.Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// client returns a client of p with a fresh identity and Known store.
func (p *testPeer) client(t testing.TB) *Client {
	t.Helper()
	known, err := identity.OpenKnown(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(newIdentity(t), known, Remote{ID: p.id.ID, Name: "srv", Fingerprint: p.id.Fingerprint, Addrs: []string{p.addr}})
	t.Cleanup(c.Close)
	return c
}

// raw returns a plain HTTP client pinned to p, presenting a fresh identity.
func (p *testPeer) raw(t *testing.T) *http.Client {
	t.Helper()
	cfg := newIdentity(t).ClientTLS(identity.Pin(p.id.Fingerprint))
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (p *testPeer) get(t *testing.T, hc *http.Client, target string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+p.addr+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	return resp.StatusCode, resp.Header, b
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestInfoAndPinning(t *testing.T) {
	p := startPeer(t, peerOpts{files: map[string][]byte{"a.txt": []byte("hello")}, hash: true})
	ctx := ctxT(t)

	in, err := p.client(t).Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in.V != 1 || in.ID != p.id.ID || in.Fingerprint != p.id.Fingerprint || in.Name != "test peer" || in.Files != 1 || in.Bytes != 5 || in.HashedBytes != 5 {
		t.Fatalf("info %+v", in)
	}

	t.Run("wrong fingerprint", func(t *testing.T) {
		other := newIdentity(t)
		c := NewClient(newIdentity(t), nil, Remote{ID: p.id.ID, Fingerprint: other.Fingerprint, Addrs: []string{p.addr}})
		defer c.Close()
		if _, err := c.Info(ctx); !errors.Is(err, identity.ErrFingerprint) {
			t.Fatalf("Info: %v, want ErrFingerprint", err)
		}
		if _, err := c.List(ctx, ""); !errors.Is(err, identity.ErrFingerprint) {
			t.Fatalf("List: %v, want ErrFingerprint", err)
		}
	})

	t.Run("changed key", func(t *testing.T) {
		known, err := identity.OpenKnown(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		// The id was seen before with another key.
		if err := known.Check(p.id.ID, newIdentity(t).Fingerprint); err != nil {
			t.Fatal(err)
		}
		for _, fp := range []string{p.id.Fingerprint, ""} {
			c := NewClient(newIdentity(t), known, Remote{ID: p.id.ID, Fingerprint: fp, Addrs: []string{p.addr}})
			_, err := c.List(ctx, "")
			c.Close()
			if !errors.Is(err, identity.ErrKeyChanged) {
				t.Fatalf("fp %q: %v, want ErrKeyChanged", fp, err)
			}
		}
		// An address-only client learns the id from /v1/info.
		c := NewClient(newIdentity(t), known, Remote{Addrs: []string{p.addr}})
		defer c.Close()
		if _, err := c.Info(ctx); !errors.Is(err, identity.ErrKeyChanged) {
			t.Fatalf("by address: %v, want ErrKeyChanged", err)
		}
		if _, err := c.List(ctx, ""); !errors.Is(err, identity.ErrKeyChanged) {
			t.Fatalf("by address, List: %v, want ErrKeyChanged", err)
		}
	})

	t.Run("learn by address", func(t *testing.T) {
		known, err := identity.OpenKnown(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		c := NewClient(newIdentity(t), known, Remote{Addrs: []string{"127.0.0.1:1", p.addr}})
		defer c.Close()
		es, err := c.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Name != "files" {
			t.Fatalf("entries %+v", es)
		}
		if c.Fingerprint() != p.id.Fingerprint {
			t.Fatal("fingerprint not learned")
		}
		if fp, ok := known.Lookup(p.id.ID); !ok || fp != p.id.Fingerprint {
			t.Fatalf("known %q %v", fp, ok)
		}
	})
}

func TestMutualAuthRequired(t *testing.T) {
	p := startPeer(t, peerOpts{})
	cfg := newIdentity(t).ClientTLS(identity.Pin(p.id.Fingerprint))
	cfg.Certificates = nil
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + p.addr + "/v1/info")
	if err == nil {
		resp.Body.Close()
		t.Fatalf("request without a client certificate got %s", resp.Status)
	}
}

func TestRanges(t *testing.T) {
	size := 3*share.BlockSize + 123
	data := randomBytes(t, size)
	p := startPeer(t, peerOpts{files: map[string][]byte{"big.bin": data, "empty": nil}, hash: true})
	e, err := p.lib.Stat("files/big.bin")
	if err != nil || e.ContentID == "" {
		t.Fatalf("stat: %+v %v", e, err)
	}
	hc := p.raw(t)
	last := int64(3 * share.BlockSize)
	for _, target := range []string{"/v1/file?path=files/big.bin", "/v1/content/" + e.ContentID} {
		for _, c := range []struct {
			rng        string
			code       int
			start, end int64 // expected bytes [start, end)
		}{
			{"", 200, 0, int64(size)},
			{"bytes=0-0", 206, 0, 1},
			{"bytes=1000-1999999", 206, 1000, 2000000},
			{fmt.Sprintf("bytes=%d-", last), 206, last, int64(size)},
			{fmt.Sprintf("bytes=%d-%d", last, 10*size), 206, last, int64(size)},
			{"bytes=-10", 206, int64(size) - 10, int64(size)},
			{fmt.Sprintf("bytes=%d-", size), 416, 0, 0},
			{"bytes=5-2", 416, 0, 0},
			{"bytes=0-1,3-4", 416, 0, 0},
			{"bytes=-0", 416, 0, 0},
			{"bytes=abc", 416, 0, 0},
			{"bytes=+1-2", 416, 0, 0},
			{"items=0-1", 416, 0, 0},
		} {
			t.Run(target[:8]+" "+c.rng, func(t *testing.T) {
				hdr := map[string]string{}
				if c.rng != "" {
					hdr["Range"] = c.rng
				}
				code, h, body := p.get(t, hc, target, hdr)
				if code != c.code {
					t.Fatalf("status %d, want %d (%s)", code, c.code, body)
				}
				if code == 416 {
					if h.Get("Content-Range") != fmt.Sprintf("bytes */%d", size) {
						t.Errorf("Content-Range %q", h.Get("Content-Range"))
					}
					return
				}
				if !bytes.Equal(body, data[c.start:c.end]) {
					t.Fatalf("got %d bytes, want bytes %d-%d", len(body), c.start, c.end)
				}
				if h.Get(contentIDHeader) != e.ContentID {
					t.Errorf("content id header %q", h.Get(contentIDHeader))
				}
				if code == 206 {
					want := fmt.Sprintf("bytes %d-%d/%d", c.start, c.end-1, size)
					if h.Get("Content-Range") != want {
						t.Errorf("Content-Range %q, want %q", h.Get("Content-Range"), want)
					}
				}
			})
		}
	}
	t.Run("empty file", func(t *testing.T) {
		code, _, body := p.get(t, hc, "/v1/file?path=files/empty", nil)
		if code != 200 || len(body) != 0 {
			t.Fatalf("status %d, %d bytes", code, len(body))
		}
		code, _, _ = p.get(t, hc, "/v1/file?path=files/empty", map[string]string{"Range": "bytes=0-0"})
		if code != 416 {
			t.Fatalf("range of empty file: status %d", code)
		}
	})
	t.Run("ReadRange", func(t *testing.T) {
		c := p.client(t)
		ctx := ctxT(t)
		buf := make([]byte, share.BlockSize)
		for _, off := range []int64{0, 1, share.BlockSize, last} {
			n := min(int64(len(buf)), int64(size)-off)
			if err := c.ReadRange(ctx, e.ContentID, off, buf[:n]); err != nil {
				t.Fatalf("off %d: %v", off, err)
			}
			if !bytes.Equal(buf[:n], data[off:off+n]) {
				t.Fatalf("off %d: wrong bytes", off)
			}
		}
		// Past the end: the server has fewer bytes than asked for.
		if err := c.ReadRange(ctx, e.ContentID, last, buf[:200]); !errors.Is(err, ErrBadResponse) {
			t.Fatalf("short range: %v, want ErrBadResponse", err)
		}
		if err := c.ReadRange(ctx, e.ContentID, int64(size), buf[:1]); !errors.Is(err, ErrRange) {
			t.Fatalf("range past the end: %v, want ErrRange", err)
		}
		missing := share.Hashes{Size: 1, Blocks: [][share.HashSize]byte{{1}}}.ContentID()
		if err := c.ReadRange(ctx, missing, 0, buf[:1]); !errors.Is(err, share.ErrNotFound) {
			t.Fatalf("missing content: %v, want ErrNotFound", err)
		}
	})
}

func TestTraversal(t *testing.T) {
	secret := "TOP-SECRET-" + strings.Repeat("x", 20)
	p := startPeer(t, peerOpts{files: map[string][]byte{"ok.txt": []byte("fine"), "sub/inner.txt": []byte("inner")}, hash: true})
	if err := os.WriteFile(filepath.Join(p.src, "secret.txt"), []byte(secret), 0o644); err != nil {
		t.Fatal(err)
	}
	hc := p.raw(t)
	abs := filepath.ToSlash(filepath.Join(p.src, "secret.txt"))
	targets := []string{
		"/v1/file?path=../secret.txt",
		"/v1/file?path=files/../secret.txt",
		"/v1/file?path=files/../../secret.txt",
		"/v1/file?path=" + abs,
		"/v1/file?path=%2e%2e/secret.txt",
		"/v1/file?path=files%2f%2e%2e%2fsecret.txt",
		"/v1/file?path=files%5c..%5csecret.txt",
		"/v1/file?path=..%5csecret.txt",
		"/v1/file?path=files/ok.txt%00",
		"/v1/file?path=files/./ok.txt",
		"/v1/file?path=files//ok.txt",
		"/v1/file?path=/files/ok.txt",
		"/v1/file?path=secret.txt",
		"/v1/file?path=files",
		"/v1/file?path=",
		"/v1/file",
		"/v1/ls?path=..",
		"/v1/ls?path=/",
		"/v1/ls?path=files/..",
		"/v1/tree?path=%2e%2e",
		"/v1/tree?path=" + abs,
		"/v1/content/..%2f..%2fsecret.txt",
		"/v1/content/p1-..",
		"/v1/hashes/..%2fsecret.txt",
		"/v1/../../secret.txt",
		"/v1/file/../../secret.txt",
	}
	for _, target := range targets {
		code, _, body := p.get(t, hc, target, nil)
		if code == 200 || code == 206 {
			t.Errorf("%s: status %d", target, code)
		}
		if bytes.Contains(body, []byte("TOP-SECRET")) {
			t.Errorf("%s: leaked the secret", target)
		}
		if strings.HasPrefix(target, "/v1/file?") || strings.HasPrefix(target, "/v1/ls?") || strings.HasPrefix(target, "/v1/tree?") {
			if code != 400 && code != 404 {
				t.Errorf("%s: status %d, want 400 or 404", target, code)
			}
		}
	}
	// The good path works, so the failures above are not an accident.
	if code, _, body := p.get(t, hc, "/v1/file?path=files/ok.txt", nil); code != 200 || string(body) != "fine" {
		t.Fatalf("good path: %d %q", code, body)
	}
	if code, _, body := p.get(t, hc, "/v1/file?path=files%2fsub%2finner.txt", nil); code != 200 || string(body) != "inner" {
		t.Fatalf("escaped good path: %d %q", code, body)
	}
}

func TestListPaging(t *testing.T) {
	const n = 5200
	files := make(map[string][]byte, n)
	for i := range n {
		files[fmt.Sprintf("many/f%05d", i)] = nil
	}
	p := startPeer(t, peerOpts{files: files})
	ctx := ctxT(t)
	c := p.client(t)
	es, err := c.List(ctx, "files/many")
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != n {
		t.Fatalf("%d entries, want %d", len(es), n)
	}
	for i, e := range es {
		if want := fmt.Sprintf("f%05d", i); e.Name != want || e.Path != "files/many/"+want {
			t.Fatalf("entry %d is %+v, want %s", i, e, want)
		}
	}
	var tree []string
	if err := c.Tree(ctx, "files", func(e share.Entry) error { tree = append(tree, e.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(tree) != n+2 || tree[0] != "files" || tree[1] != "files/many" || tree[n+1] != fmt.Sprintf("files/many/f%05d", n-1) {
		t.Fatalf("tree: %d entries, first %v", len(tree), tree[:min(3, len(tree))])
	}
	// The page bounds themselves.
	hc := p.raw(t)
	for _, c := range []struct {
		target string
		count  int
		next   string
	}{
		{"/v1/ls?path=files/many", MaxListPage, "1000"},
		{"/v1/ls?path=files/many&limit=5000", MaxListPage, "1000"},
		{"/v1/ls?path=files/many&cursor=5000&limit=10", 10, "5010"},
		{"/v1/ls?path=files/many&cursor=5100", 100, ""},
		{"/v1/ls?path=files/many&cursor=9999", 0, ""},
		{"/v1/tree?path=files", MaxTreePage, "5000"},
		{"/v1/tree?path=files&cursor=5000", 202, ""},
	} {
		code, _, body := p.get(t, hc, c.target, nil)
		var page ListPage
		if code != 200 || json.Unmarshal(body, &page) != nil {
			t.Fatalf("%s: %d %s", c.target, code, body)
		}
		if len(page.Entries) != c.count || page.Next != c.next {
			t.Errorf("%s: %d entries, next %q; want %d, %q", c.target, len(page.Entries), page.Next, c.count, c.next)
		}
	}
	for _, target := range []string{"/v1/ls?path=files&limit=0", "/v1/ls?path=files&limit=x", "/v1/ls?path=files&cursor=-1"} {
		if code, _, _ := p.get(t, hc, target, nil); code != 400 {
			t.Errorf("%s: status %d, want 400", target, code)
		}
	}
}

func TestMetadataEndpoints(t *testing.T) {
	big := randomBytes(t, share.BlockSize+10)
	p := startPeer(t, peerOpts{files: map[string][]byte{
		"Holiday Photo.jpg":     []byte("jpeg"),
		"docs/holiday plan.txt": []byte("plan"),
		"big.bin":               big,
	}, hash: true})
	ctx := ctxT(t)
	c := p.client(t)
	bigE, err := p.lib.Stat("files/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.Hashes(ctx, bigE.ContentID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Size != int64(len(big)) || len(h.Blocks) != 2 || h.Blocks[1] != share.BlockHash(big[share.BlockSize:]) {
		t.Fatalf("hashes %d/%d", h.Size, len(h.Blocks))
	}
	missing := share.Hashes{Size: 1, Blocks: [][share.HashSize]byte{{7}}}.ContentID()
	if _, err := c.Hashes(ctx, missing); !errors.Is(err, share.ErrNotFound) {
		t.Fatalf("missing hashes: %v", err)
	}
	got, err := c.Has(ctx, []string{missing, bigE.ContentID})
	if err != nil || len(got) != 1 || got[0] != bigE.ContentID {
		t.Fatalf("Has: %v %v", got, err)
	}
	res, err := c.Search(ctx, "HOLIDAY")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("search: %+v", res)
	}
	if res, err := c.Search(ctx, "   "); err != nil || len(res) != 0 {
		t.Fatalf("blank search: %v %v", res, err)
	}
	hc := p.raw(t)
	if code, _, _ := p.get(t, hc, "/v1/search?q="+strings.Repeat("a", MaxQuery+1), nil); code != 400 {
		t.Errorf("long query: %d", code)
	}
	if code, _, _ := p.get(t, hc, "/v1/hashes/p1-zz", nil); code != 400 {
		t.Errorf("bad cid: %d", code)
	}
	// Request bodies are bounded and validated.
	for _, c := range []struct {
		body string
		code int
	}{
		{`{"cids":["nope"]}`, 400},
		{`{"cids":` + strings.Repeat("[", 100) + `}`, 400},
		{`{"cids":["` + strings.Repeat("a", MaxRequestBody) + `"]}`, 413},
		{fmt.Sprintf(`{"cids":[%s"%s"]}`, strings.Repeat(`"`+missing+`",`, MaxCIDs), missing), 400},
	} {
		resp, err := hc.Post("https://"+p.addr+"/v1/has", "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code {
			t.Errorf("has body of %d bytes: status %d, want %d", len(c.body), resp.StatusCode, c.code)
		}
	}
}

func TestBatch(t *testing.T) {
	small := map[string][]byte{"a": []byte("alpha"), "b": nil, "c": randomBytes(t, share.BlockSize)}
	files := map[string][]byte{"big": randomBytes(t, share.BlockSize+1)}
	for k, v := range small {
		files[k] = v
	}
	p := startPeer(t, peerOpts{files: files, hash: true})
	cid := func(name string) string {
		e, err := p.lib.Stat("files/" + name)
		if err != nil || e.ContentID == "" {
			t.Fatalf("%s: %+v %v", name, e, err)
		}
		return e.ContentID
	}
	missing := share.Hashes{Size: 1, Blocks: [][share.HashSize]byte{{9}}}.ContentID()
	cids := []string{cid("a"), missing, cid("big"), cid("b"), cid("c"), cid("a")}
	names := []string{"a", "", "", "b", "c", "a"}

	c := p.client(t)
	var seen []int
	err := c.Batch(ctxT(t), cids, func(i int, data []byte) error {
		seen = append(seen, i)
		if !bytes.Equal(data, small[names[i]]) {
			t.Errorf("item %d: %d bytes, want %s", i, len(data), names[i])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[0 3 4 5]" {
		t.Fatalf("items %v", seen)
	}

	// The framing itself.
	body, _ := json.Marshal(cidList{CIDs: cids[:4]})
	resp, err := p.raw(t).Post("https://"+p.addr+"/v1/batch", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	var want []byte
	want = binary.BigEndian.AppendUint64(want, 5)
	want = append(want, "alpha"...)
	want = binary.BigEndian.AppendUint64(want, ^uint64(0))
	want = binary.BigEndian.AppendUint64(want, ^uint64(0))
	want = binary.BigEndian.AppendUint64(want, 0)
	if !bytes.Equal(raw, want) {
		t.Fatalf("batch bytes %x, want %x", raw, want)
	}
}

func TestHelloGoodbye(t *testing.T) {
	type call struct {
		kind, fp string
		info     Info
	}
	calls := make(chan call, 4)
	p := startPeer(t, peerOpts{opts: ServerOptions{Hooks: Hooks{
		Hello: func(fp string, remote netip.Addr, in Info) {
			if !remote.IsLoopback() {
				t.Errorf("hello from %v, want loopback", remote)
			}
			calls <- call{"hello", fp, in}
		},
		Goodbye: func(fp string, in Info) { calls <- call{"goodbye", fp, in} },
	}}})
	ctx := ctxT(t)
	me := newIdentity(t)
	c := NewClient(me, nil, Remote{ID: p.id.ID, Fingerprint: p.id.Fingerprint, Addrs: []string{p.addr}})
	defer c.Close()
	if err := c.Hello(ctx, Info{V: 1, ID: me.ID, Name: "me", Fingerprint: me.Fingerprint, Port: 1234}); err != nil {
		t.Fatal(err)
	}
	if got := <-calls; got.kind != "hello" || got.fp != me.Fingerprint || got.info.Name != "me" || got.info.Port != 1234 {
		t.Fatalf("hello hook %+v", got)
	}
	// A hello claiming another fingerprint is refused.
	if err := c.Hello(ctx, Info{V: 1, ID: me.ID, Fingerprint: p.id.Fingerprint}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("forged hello: %v", err)
	}
	if err := c.Goodbye(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-calls; got.kind != "goodbye" || got.fp != me.Fingerprint {
		t.Fatalf("goodbye hook %+v", got)
	}
	select {
	case got := <-calls:
		t.Fatalf("unexpected hook call %+v", got)
	default:
	}
}

func TestChangedFile(t *testing.T) {
	p := startPeer(t, peerOpts{files: map[string][]byte{"f": []byte("original")}, hash: true})
	e, _ := p.lib.Stat("files/f")
	if err := os.WriteFile(filepath.Join(p.src, "files", "f"), []byte("changed, longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	err := p.client(t).ReadRange(ctx, e.ContentID, 0, make([]byte, 8))
	if !errors.Is(err, share.ErrChanged) {
		t.Fatalf("changed file: %v, want ErrChanged", err)
	}
	code, _, _ := p.get(t, p.raw(t), "/v1/file?path=files/f", nil)
	if code != http.StatusConflict {
		t.Fatalf("changed file: status %d, want 409", code)
	}
}

// BenchmarkReadRange measures block downloads (1 MiB ranges, 8 in
// flight) from one peer over loopback TLS.
func BenchmarkReadRange(b *testing.B) {
	const blocks = 16
	data := randomBytes(b, blocks*share.BlockSize)
	p := startPeer(b, peerOpts{files: map[string][]byte{"f": data}, hash: true})
	e, _ := p.lib.Stat("files/f")
	c := p.client(b)
	ctx := ctxT(b)
	if _, err := c.Info(ctx); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.SetBytes(share.BlockSize)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, share.BlockSize)
		for pb.Next() {
			i := next.Add(1) % blocks
			if err := c.ReadRange(ctx, e.ContentID, i*share.BlockSize, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
