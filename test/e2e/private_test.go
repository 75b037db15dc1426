package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"porch/peer/identity"
	"porch/test/netns"
)

// inNamespace returns a dialer whose sockets are made inside the network namespace ns
// (/run/netns/NS), so that this test process talks to the peers as a process of that
// namespace would, and never through this machine's own interfaces: when the namespace
// cannot be entered, nothing is dialled.
func inNamespace(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		done := make(chan result, 1)
		go func() {
			// The thread stays locked to the end of this goroutine, so Go ends it
			// instead of handing its namespace to other goroutines.
			runtime.LockOSThread()
			f, err := os.Open(filepath.Join("/run/netns", ns))
			if err != nil {
				done <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				done <- result{nil, fmt.Errorf("entering namespace %s: %w", ns, err)}
				return
			}
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			done <- result{c, err}
		}()
		r := <-done
		return r.c, r.err
	}
}

// rawPeer makes raw HTTPS requests to one porch serve from another peer's namespace, as
// Porch's wire client would: TLS 1.3, the server's key pinned, and the client certificate
// of id (none when id is nil).
type rawPeer struct {
	ns   string
	addr string // host:port of the server
	fp   string // the server's fingerprint
}

// answer is a response as a client sees it: status, headers but Date, body bytes.
type answer struct {
	code int
	hdr  http.Header
	body []byte
}

func (a answer) String() string { return fmt.Sprintf("%d %v %q", a.code, a.hdr, a.body) }

func (a answer) same(b answer) bool {
	return a.code == b.code && bytes.Equal(a.body, b.body) &&
		maps.EqualFunc(a.hdr, b.hdr, func(x, y []string) bool { return slices.Equal(x, y) })
}

func (p rawPeer) do(id *identity.Identity, method, target, body string, hdr map[string]string) (answer, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
	if id != nil {
		cfg = id.ClientTLS(identity.Pin(p.fp))
	}
	tr := &http.Transport{TLSClientConfig: cfg, DialContext: inNamespace(p.ns), ForceAttemptHTTP2: false}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "https://"+p.addr+target, strings.NewReader(body))
	if err != nil {
		return answer{}, err
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

func (p rawPeer) must(t *testing.T, id *identity.Identity, method, target, body string, hdr map[string]string) answer {
	t.Helper()
	a, err := p.do(id, method, target, body, hdr)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	return a
}

// privateCase is one request about something hidden, and its twin about a name of the same
// length that never existed (ghost), whose answer must be the same once the ghost is
// written back as the hidden name.
type privateCase struct {
	name, method, target, body string
	hdr                        map[string]string
	twin                       string // the twin's target (GET, HEAD) or body (POST)
	ghost, real                string
}

const ghostCID = "p1-00000000000000000000000000000000000000000000000000000000000000ff"

// casesFor lists a request to every endpoint about item (a shared folder's name), its file
// (a path below it) and the content id cid of that file.
func casesFor(item, file, cid string) []privateCase {
	ghost := strings.Repeat("q", len(item))
	var out []privateCase
	for _, p := range []string{item, file, item + "/sub", item + "/never-there"} {
		g := ghost + p[len(item):]
		for _, m := range []struct{ name, method, path string }{
			{"ls", "GET", "/v1/ls?path="}, {"tree", "GET", "/v1/tree?path="},
			{"file", "GET", "/v1/file?path="}, {"file HEAD", "HEAD", "/v1/file?path="},
		} {
			out = append(out, privateCase{m.name + " " + p, m.method, m.path + p, "", nil, m.path + g, ghost, item})
		}
	}
	word := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	rng := map[string]string{"Range": "bytes=0-9"}
	out = append(out,
		privateCase{"file range", "GET", "/v1/file?path=" + file, "", rng, "/v1/file?path=" + ghost + file[len(item):], ghost, item},
		privateCase{"hashes", "GET", "/v1/hashes/" + cid, "", nil, "/v1/hashes/" + ghostCID, ghostCID, cid},
		privateCase{"content", "GET", "/v1/content/" + cid, "", nil, "/v1/content/" + ghostCID, ghostCID, cid},
		privateCase{"content range", "GET", "/v1/content/" + cid, "", rng, "/v1/content/" + ghostCID, ghostCID, cid},
		privateCase{"has", "POST", "/v1/has", `{"cids":["` + cid + `"]}`, nil, `{"cids":["` + ghostCID + `"]}`, ghostCID, cid},
		privateCase{"batch", "POST", "/v1/batch", `{"cids":["` + cid + `"]}`, nil, `{"cids":["` + ghostCID + `"]}`, ghostCID, cid},
		privateCase{"search", "GET", "/v1/search?q=" + word, "", nil, "/v1/search?q=" + strings.Repeat("z", len(word)), "", ""},
		privateCase{"search by folder", "GET", "/v1/search?q=" + item, "", nil, "/v1/search?q=" + ghost, "", ""},
	)
	return out
}

// checkAbsent asks every case as id and fails unless each answer is the one its twin gets.
func checkAbsent(t *testing.T, p rawPeer, who string, id *identity.Identity, cases []privateCase) {
	t.Helper()
	for _, c := range cases {
		got := p.must(t, id, c.method, c.target, c.body, c.hdr)
		twinTarget, twinBody := c.twin, c.body
		if c.method == "POST" {
			twinTarget, twinBody = c.target, c.twin
		}
		absent := p.must(t, id, c.method, twinTarget, twinBody, c.hdr)
		if c.ghost != "" {
			absent.body = bytes.ReplaceAll(absent.body, []byte(c.ghost), []byte(c.real))
		}
		if !got.same(absent) {
			t.Errorf("%s, %s: %v\n  what never existed gets: %v", who, c.name, got, absent)
		}
	}
}

// infoOf is /v1/info as id is told it.
type infoOf struct {
	Files       int   `json:"files"`
	Bytes       int64 `json:"bytes"`
	HashedBytes int64 `json:"hashed_bytes"`
}

func (p rawPeer) info(t *testing.T, id *identity.Identity) infoOf {
	t.Helper()
	a := p.must(t, id, "GET", "/v1/info", "", nil)
	var in infoOf
	if a.code != http.StatusOK || json.Unmarshal(a.body, &in) != nil {
		t.Fatalf("info: %v", a)
	}
	return in
}

// listing is the entries of /v1/ls or /v1/tree.
func (p rawPeer) listing(t *testing.T, id *identity.Identity, target string) (int, []struct {
	Path string `json:"path"`
	CID  string `json:"cid"`
}) {
	t.Helper()
	a := p.must(t, id, "GET", target, "", nil)
	var page struct {
		Entries []struct {
			Path string `json:"path"`
			CID  string `json:"cid"`
		} `json:"entries"`
	}
	if a.code == http.StatusOK {
		if err := json.Unmarshal(a.body, &page); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
	}
	return a.code, page.Entries
}

// Private shares end to end. Alice shares "pub" with everyone, "tr" with trusted neighbours
// (she trusts dave) and "ch" with carol, chosen by name; "tr" also holds a copy of a file of
// "pub". Bob, a stranger, asks every endpoint about the hidden folders, files and content
// ids with raw HTTPS requests and his own key, and gets exactly what a name that never
// existed gets; the counts in info leave them out; a request without a certificate gets
// nothing. Dave and carol each see theirs and not the other's. Then "tr" is opened to
// everyone and bob sees it within seconds.
func TestE2EPrivateShares(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 4) // alice shares; bob a stranger; carol chosen; dave trusted
	src := filepath.Join(n.Dir(0), "src")
	same := bytes.Repeat([]byte("the same bytes in two folders\n"), 100)
	files := map[string][]byte{
		"pub/same.bin":    same,
		"pub/notes.txt":   []byte("open to all"),
		"tr/same.bin":     same,
		"tr/secret.txt":   []byte("for trusted eyes only"),
		"tr/sub/deep.txt": []byte("deep"),
		"ch/carols.txt":   []byte("for carol, and carol alone"),
		"ch/sub/more.txt": []byte("more for carol"),
	}
	for p, data := range files {
		abs := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(abs, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		n.Start(t, i, "serve")
	}
	waitPeer(t, n, 0, "bob", "carol", "dave")
	alice := n.Data(0) // her one-shot commands speak with her serve's key and state
	mustRun(t, n, 0, "share", "add", filepath.Join(src, "pub"), "--data", alice)
	if out := mustRun(t, n, 0, "share", "add", filepath.Join(src, "tr"), "--to", "trusted", "--data", alice); !strings.Contains(out, "with trusted") {
		t.Fatalf("share add --to trusted:\n%s", out)
	}
	if out := mustRun(t, n, 0, "share", "add", filepath.Join(src, "ch"), "--to", "carol", "--data", alice); !strings.Contains(out, "with carol") {
		t.Fatalf("share add --to carol:\n%s", out)
	}
	mustRun(t, n, 0, "trust", "dave", "--yes", "--data", alice)
	var shares []struct {
		Name       string `json:"name"`
		Visibility string `json:"visibility"`
	}
	decodeArray(t, mustRun(t, n, 0, "share", "ls", "--json", "--data", alice), "shares", &shares)
	seen := map[string]string{}
	for _, s := range shares {
		seen[s.Name] = s.Visibility
	}
	if !maps.Equal(seen, map[string]string{"pub": "everyone", "tr": "trusted", "ch": "carol"}) {
		t.Fatalf("share ls: %v", seen)
	}

	aliceID, err := identity.Load(alice)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]*identity.Identity, 4)
	for i := 1; i < 4; i++ {
		if keys[i], err = identity.Load(n.Data(i)); err != nil {
			t.Fatal(err)
		}
	}
	bob, carol, dave := keys[1], keys[2], keys[3]
	addr := net.JoinHostPort(n.Addr(0), strconv.Itoa(46724))
	from := func(i int) rawPeer { return rawPeer{ns: n.NS(i), addr: addr, fp: aliceID.Fingerprint} }

	// Wait until alice has hashed everything, as those who may see each folder see it.
	cids := map[string]string{}
	if !netns.WaitFor(t, 60*time.Second, func() bool {
		for _, c := range []struct {
			i  int
			id *identity.Identity
			at string
		}{{1, bob, "pub"}, {3, dave, "tr"}, {2, carol, "ch"}} {
			code, ents := from(c.i).listing(t, c.id, "/v1/tree?path="+c.at)
			if code != http.StatusOK {
				return false
			}
			for _, e := range ents {
				if _, ok := files[e.Path]; ok {
					if e.CID == "" {
						return false
					}
					cids[e.Path] = e.CID
				}
			}
		}
		return len(cids) == len(files)
	}) {
		t.Fatalf("alice never showed every file hashed to those who may see it: %v", cids)
	}
	if cids["pub/same.bin"] != cids["tr/same.bin"] {
		t.Fatal("the same bytes have two content ids")
	}

	trCases := casesFor("tr", "tr/secret.txt", cids["tr/secret.txt"])
	chCases := casesFor("ch", "ch/carols.txt", cids["ch/carols.txt"])
	checkAbsent(t, from(1), "bob", bob, append(trCases, chCases...))
	checkAbsent(t, from(3), "dave (trusted)", dave, chCases)
	checkAbsent(t, from(2), "carol (chosen)", carol, trCases)

	// The top of the tree and the counts hold only what each may see.
	sizeOf := func(prefix string) (int, int64) {
		var n int
		var b int64
		for p, data := range files {
			if strings.HasPrefix(p, prefix+"/") {
				n++
				b += int64(len(data))
			}
		}
		return n, b
	}
	for _, c := range []struct {
		who   string
		i     int
		id    *identity.Identity
		items []string
	}{
		{"bob", 1, bob, []string{"pub"}},
		{"carol", 2, carol, []string{"ch", "pub"}},
		{"dave", 3, dave, []string{"pub", "tr"}},
	} {
		_, top := from(c.i).listing(t, c.id, "/v1/ls?path=")
		var got []string
		for _, e := range top {
			got = append(got, e.Path)
		}
		if !slices.Equal(got, c.items) {
			t.Errorf("%s lists %q, want %q", c.who, got, c.items)
		}
		_, tree := from(c.i).listing(t, c.id, "/v1/tree?path=")
		for _, e := range tree {
			if !slices.Contains(c.items, strings.Split(e.Path, "/")[0]) {
				t.Errorf("%s: the tree lists %s", c.who, e.Path)
			}
		}
		var wantFiles int
		var wantBytes int64
		for _, it := range c.items {
			f, b := sizeOf(it)
			wantFiles, wantBytes = wantFiles+f, wantBytes+b
		}
		if in := from(c.i).info(t, c.id); in.Files != wantFiles || in.Bytes != wantBytes || in.HashedBytes != wantBytes {
			t.Errorf("%s is told %+v, want %d files, %d bytes", c.who, in, wantFiles, wantBytes)
		}
	}

	// Those who may see a file get its bytes, by path and by content id.
	for _, c := range []struct {
		who  string
		i    int
		id   *identity.Identity
		file string
	}{{"dave", 3, dave, "tr/secret.txt"}, {"carol", 2, carol, "ch/carols.txt"}, {"bob", 1, bob, "pub/notes.txt"}} {
		for _, target := range []string{"/v1/file?path=" + c.file, "/v1/content/" + cids[c.file]} {
			if a := from(c.i).must(t, c.id, "GET", target, "", nil); a.code != http.StatusOK || !bytes.Equal(a.body, files[c.file]) {
				t.Errorf("%s GET %s: %v", c.who, target, a)
			}
		}
	}
	// Bytes held by an open folder too are served to bob from it.
	if a := from(1).must(t, bob, "GET", "/v1/content/"+cids["tr/same.bin"], "", nil); a.code != http.StatusOK || !bytes.Equal(a.body, same) {
		t.Errorf("bob GET content of the file in pub and tr: %d, %d bytes", a.code, len(a.body))
	}
	hasBoth := `{"cids":["` + cids["pub/same.bin"] + `","` + cids["tr/secret.txt"] + `"]}`
	if a := from(1).must(t, bob, "POST", "/v1/has", hasBoth, nil); string(a.body) != `{"has":["`+cids["pub/same.bin"]+`"]}`+"\n" {
		t.Errorf("bob has: %v", a)
	}

	// Without a client certificate nothing is answered.
	if a, err := from(1).do(nil, "GET", "/v1/ls?path=tr", "", nil); err == nil {
		t.Errorf("a request without a certificate was answered: %v", a)
	}

	// Bob's own command line sees the same.
	if out := mustRun(t, n, 1, "ls", "alice", "--json"); !slices.Equal(entryNames(t, out), []string{"pub"}) {
		t.Errorf("porch ls alice from bob: %q", entryNames(t, out))
	}
	if _, errOut, code := n.Run(t, 1, "get", "alice/tr/secret.txt"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("porch get of a hidden file: exit %d, %q", code, errOut)
	}

	// Open to everyone: a running serve picks it up within seconds.
	mustRun(t, n, 0, "share", "set", "tr", "--to", "everyone", "--data", alice)
	if !netns.WaitFor(t, 10*time.Second, func() bool {
		code, _ := from(1).listing(t, bob, "/v1/ls?path=tr")
		return code == http.StatusOK
	}) {
		t.Error("bob never saw tr once it was opened to everyone")
	}
	if a := from(1).must(t, bob, "GET", "/v1/content/"+cids["tr/secret.txt"], "", nil); a.code != http.StatusOK {
		t.Errorf("bob GET content once tr is open: %v", a)
	}
	checkAbsent(t, from(1), "bob, after tr was opened", bob, chCases)
}
