package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"porch/peer/identity"
	"porch/share"
)

// privatePeer serves a real library holding an open folder "pub", a folder
// for trusted neighbours "tr" (with a copy of pub's file and a file of its
// own) and a folder "ch" for one chosen neighbour, to callers sorted by the
// key they present.
type privatePeer struct {
	id      *identity.Identity
	addr    string
	cids    map[string]string // tree path -> content id
	trusted *identity.Identity
	chosen  *identity.Identity
}

func startPrivatePeer(t testing.TB) *privatePeer {
	t.Helper()
	src := t.TempDir()
	files := map[string]string{
		"pub/same.txt": "the same bytes", "tr/same.txt": "the same bytes",
		"tr/only.txt": "for trusted eyes", "tr/deep/x.txt": "x", "ch/mine.txt": "for the chosen one",
	}
	for p, data := range files {
		abs := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(abs, []byte(data), 0o644); err != nil {
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
	pp := &privatePeer{id: id, trusted: newIdentity(t), chosen: newIdentity(t), cids: map[string]string{}}
	cat := lib.Catalog()
	if _, err := cat.Add(filepath.Join(src, "pub")); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.AddVisible(share.Visibility{Restricted: true, Trusted: true}, filepath.Join(src, "tr")); err != nil {
		t.Fatal(err)
	}
	chosen := share.ChosenPeer{ID: pp.chosen.ID, Fingerprint: pp.chosen.Fingerprint, Name: "carol"}
	if _, err := cat.AddVisible(share.Visibility{Restricted: true, Peers: []share.ChosenPeer{chosen}}, filepath.Join(src, "ch")); err != nil {
		t.Fatal(err)
	}
	if err := lib.Rescan(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { lib.Run(ctx) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if n, _ := lib.Totals(); n == len(files) {
			if h, total := lib.HashProgress(); h == total {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("hashing did not finish")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for p := range files {
		e, err := lib.Stat(p)
		if err != nil || e.ContentID == "" {
			t.Fatalf("Stat(%s) = %+v, %v", p, e, err)
		}
		pp.cids[p] = e.ContentID
	}
	srv, err := NewServer(ServerOptions{
		Identity: id,
		Library:  LibraryOf(lib),
		Self:     func() Info { return Info{Name: "private peer"} },
		ViewFor: func(fp string) Library {
			return ViewOf(lib.For(share.Viewer{Fingerprint: fp, Trusted: fp == pp.trusted.Fingerprint}))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pp.addr = ln.Addr().String()
	wg.Go(func() {
		if err := srv.Serve(ctx, ln); err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return pp
}

// answer is a response as a caller sees it: status, headers but Date, body.
type answer struct {
	code int
	hdr  http.Header
	body []byte
}

func (a answer) same(b answer) bool {
	return a.code == b.code && bytes.Equal(a.body, b.body) &&
		maps.EqualFunc(a.hdr, b.hdr, func(x, y []string) bool { return slices.Equal(x, y) })
}

// call makes one raw request to pp as id would (nil: no client certificate).
func (pp *privatePeer) call(t *testing.T, id *identity.Identity, method, target, body string, hdr map[string]string) (answer, error) {
	t.Helper()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
	if id != nil {
		cfg = id.ClientTLS(identity.Pin(pp.id.Fingerprint))
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(method, "https://"+pp.addr+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	resp.Header.Del("Date")
	return answer{resp.StatusCode, resp.Header, b}, nil
}

// privateRequests are requests about what only some may see, each with a
// twin about something that never existed; ghost is how the twin spells
// what the request names, so their answers compare after replacing it.
type privateRequest struct {
	name, method, target, body string
	hdr                        map[string]string
	twin                       string // target or body of the twin, naming what never existed
	ghost, real                string // the twin's name for what the request names
}

const ghostCID = "p1-00000000000000000000000000000000000000000000000000000000000000ff"

func privateRequests(pp *privatePeer, item string) []privateRequest {
	file := map[string]string{"tr": "tr/only.txt", "ch": "ch/mine.txt"}[item]
	cid := pp.cids[file]
	const ghost = "zz" // an item name of the same length that is not shared
	var out []privateRequest
	for _, p := range []string{item, file, item + "/deep", item + "/nothing-here"} {
		g := ghost + p[len(item):]
		out = append(out,
			privateRequest{"ls " + p, "GET", "/v1/ls?path=" + p, "", nil, "/v1/ls?path=" + g, ghost, item},
			privateRequest{"tree " + p, "GET", "/v1/tree?path=" + p, "", nil, "/v1/tree?path=" + g, ghost, item},
			privateRequest{"file " + p, "GET", "/v1/file?path=" + p, "", nil, "/v1/file?path=" + g, ghost, item},
			privateRequest{"file HEAD " + p, "HEAD", "/v1/file?path=" + p, "", nil, "/v1/file?path=" + g, ghost, item})
	}
	word := strings.TrimSuffix(filepath.Base(file), ".txt")
	out = append(out,
		privateRequest{"file range", "GET", "/v1/file?path=" + file, "", map[string]string{"Range": "bytes=0-3"}, "/v1/file?path=" + ghost + file[len(item):], ghost, item},
		privateRequest{"hashes", "GET", "/v1/hashes/" + cid, "", nil, "/v1/hashes/" + ghostCID, ghostCID, cid},
		privateRequest{"content", "GET", "/v1/content/" + cid, "", nil, "/v1/content/" + ghostCID, ghostCID, cid},
		privateRequest{"content range", "GET", "/v1/content/" + cid, "", map[string]string{"Range": "bytes=0-"}, "/v1/content/" + ghostCID, ghostCID, cid},
		privateRequest{"has", "POST", "/v1/has", `{"cids":["` + cid + `"]}`, nil, `{"cids":["` + ghostCID + `"]}`, ghostCID, cid},
		privateRequest{"batch", "POST", "/v1/batch", `{"cids":["` + cid + `"]}`, nil, `{"cids":["` + ghostCID + `"]}`, ghostCID, cid},
		privateRequest{"search", "GET", "/v1/search?q=" + word, "", nil, "/v1/search?q=" + strings.Repeat("z", len(word)), "", ""},
	)
	return out
}

// ask makes r and its twin as id and returns both answers, the twin's with
// the ghost names put back to the private ones.
func (pp *privatePeer) ask(t *testing.T, id *identity.Identity, r privateRequest) (got, absent answer) {
	t.Helper()
	got, err := pp.call(t, id, r.method, r.target, r.body, r.hdr)
	if err != nil {
		t.Fatalf("%s: %v", r.name, err)
	}
	twinTarget, twinBody := r.target, r.body
	if r.method == "POST" {
		twinBody = r.twin
	} else {
		twinTarget = r.twin
	}
	absent, err = pp.call(t, id, r.method, twinTarget, twinBody, r.hdr)
	if err != nil {
		t.Fatalf("%s (twin): %v", r.name, err)
	}
	if r.ghost != "" {
		absent.body = bytes.ReplaceAll(absent.body, []byte(r.ghost), []byte(r.real))
	}
	return got, absent
}

func TestHiddenItemsAnswerAsIfAbsent(t *testing.T) {
	pp := startPrivatePeer(t)
	stranger := newIdentity(t)
	for _, c := range []struct {
		who    string
		id     *identity.Identity
		hidden []string
	}{
		{"stranger", stranger, []string{"tr", "ch"}},
		{"trusted", pp.trusted, []string{"ch"}},
		{"chosen", pp.chosen, []string{"tr"}},
	} {
		for _, item := range c.hidden {
			for _, r := range privateRequests(pp, item) {
				got, absent := pp.ask(t, c.id, r)
				if !got.same(absent) {
					t.Errorf("%s, %s: %d %v %q; absent: %d %v %q", c.who, r.name, got.code, got.hdr, got.body, absent.code, absent.hdr, absent.body)
				}
			}
		}
	}
	// What each may see is served to it.
	for _, c := range []struct {
		who   string
		id    *identity.Identity
		items []string
		files int
	}{
		{"stranger", stranger, []string{"pub"}, 1},
		{"trusted", pp.trusted, []string{"pub", "tr"}, 4},
		{"chosen", pp.chosen, []string{"ch", "pub"}, 2},
	} {
		known, err := identity.OpenKnown(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cl := NewClient(c.id, known, Remote{ID: pp.id.ID, Fingerprint: pp.id.Fingerprint, Addrs: []string{pp.addr}})
		ctx := ctxT(t)
		ents, err := cl.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ents {
			got = append(got, e.Name)
		}
		if !slices.Equal(got, c.items) {
			t.Errorf("%s lists %q, want %q", c.who, got, c.items)
		}
		in, err := cl.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if in.Files != c.files || in.HashedBytes != in.Bytes {
			t.Errorf("%s: info %+v, want %d files", c.who, in, c.files)
		}
		var tree []string
		cl.Tree(ctx, "", func(e share.Entry) error { tree = append(tree, e.Path); return nil })
		for _, p := range tree {
			if !slices.Contains(c.items, strings.Split(p, "/")[0]) {
				t.Errorf("%s: tree lists %s", c.who, p)
			}
		}
		cl.Close()
	}
	// The bytes a stranger may see stay served when a hidden item holds them too.
	a, err := pp.call(t, stranger, "GET", "/v1/content/"+pp.cids["pub/same.txt"], "", nil)
	if err != nil || a.code != http.StatusOK || string(a.body) != "the same bytes" {
		t.Errorf("open content shared twice: %d %q %v", a.code, a.body, err)
	}
	a, err = pp.call(t, stranger, "POST", "/v1/has", `{"cids":["`+pp.cids["pub/same.txt"]+`","`+pp.cids["tr/only.txt"]+`"]}`, nil)
	if err != nil || string(a.body) != `{"has":["`+pp.cids["pub/same.txt"]+`"]}`+"\n" {
		t.Errorf("has: %q %v", a.body, err)
	}
	// No client certificate: no answer at all.
	if a, err := pp.call(t, nil, "GET", "/v1/ls?path=", "", nil); err == nil {
		t.Errorf("a caller without a certificate was answered: %d %q", a.code, a.body)
	}
}

// BenchmarkHiddenVersusAbsentHTTPS times whole requests of a stranger over
// one kept-alive TLS connection: a file of a hidden item against one that
// never existed, by path and by content id, taking turns.
func BenchmarkHiddenVersusAbsentHTTPS(b *testing.B) {
	pp := startPrivatePeer(b)
	tr := &http.Transport{TLSClientConfig: newIdentity(b).ClientTLS(identity.Pin(pp.id.Fingerprint))}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	get := func(target string) {
		resp, err := hc.Get("https://" + pp.addr + target)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			b.Fatalf("%s: %d", target, resp.StatusCode)
		}
	}
	for _, c := range []struct{ name, hidden, absent string }{
		{"file", "/v1/file?path=tr/only.txt", "/v1/file?path=zz/only.txt"},
		{"content", "/v1/content/" + pp.cids["tr/only.txt"], "/v1/content/" + ghostCID},
	} {
		for _, which := range []string{"hidden", "absent"} {
			target := c.hidden
			if which == "absent" {
				target = c.absent
			}
			b.Run(c.name+"/"+which, func(b *testing.B) {
				for b.Loop() {
					get(target)
				}
			})
		}
	}
}
