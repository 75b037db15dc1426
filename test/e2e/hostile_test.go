package e2e

// A peer that speaks the real protocol and lies. The real porch binary is pointed at it by
// address (porch ls / porch get 127.0.0.1:PORT/...), inside a private network namespace of the
// test's own, and must refuse every lie with one clear line, in bounded time and memory, leaving
// nothing outside the download folder and nothing unverified under a final name.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"porch/peer/identity"
	"porch/peer/wire"
	"porch/share"
	"porch/test/netns"
)

// hostileFile is a file the hostile peer claims to share, with its true bytes.
type hostileFile struct {
	data []byte
	h    share.Hashes
}

func newHostileFile(data []byte) hostileFile {
	h, err := share.HashReader(bytes.NewReader(data), nil)
	if err != nil {
		panic(err)
	}
	return hostileFile{data, h}
}

// hostilePeer serves protocol v1 with its own key, honestly but for lie.
type hostilePeer struct {
	id    *identity.Identity
	lie   string
	small hostileFile // dir/a.txt
	big   hostileFile // dir/big.bin, three blocks
}

func (h *hostilePeer) entry(p string, f hostileFile) share.Entry {
	return share.Entry{Name: filepath.Base(p), Path: p, Size: f.h.Size, ContentID: f.h.ContentID()}
}

// listing is the honest tree of dir.
func (h *hostilePeer) listing() []share.Entry {
	return []share.Entry{
		{Name: "dir", Path: "dir", Dir: true, Size: h.small.h.Size + h.big.h.Size, Files: 2},
		h.entry("dir/a.txt", h.small),
		h.entry("dir/big.bin", h.big),
	}
}

// lying returns the listing the lie asks for.
func (h *hostilePeer) lying(r *http.Request) (entries []share.Entry, next string) {
	top := share.Entry{Name: "dir", Path: "dir", Dir: true}
	bad := func(name, p string) []share.Entry {
		return []share.Entry{top, {Name: name, Path: p, Size: 1, ContentID: h.small.h.ContentID()}}
	}
	switch h.lie {
	case "dotdot":
		return bad("..", "dir/.."), ""
	case "absolute":
		return bad("passwd", "/etc/passwd"), ""
	case "backslash":
		return bad(`..\..\x`, `dir/..\..\x`), ""
	case "control":
		return bad("a\x1b[2Jb", "dir/a\x1b[2Jb"), ""
	case "reserved":
		return bad("x.0123456789ab.partial", "dir/x.0123456789ab.partial"), ""
	case "long":
		n := strings.Repeat("n", 4000)
		return bad(n, "dir/"+n), ""
	case "outside":
		return bad("other.txt", "elsewhere/other.txt"), ""
	case "case":
		return []share.Entry{top, h.entry("dir/A.txt", h.small), h.entry("dir/a.txt", h.small)}, ""
	case "unicode":
		return []share.Entry{top, h.entry("dir/caf\u00e9.txt", h.small), h.entry("dir/cafe\u0301.txt", h.small)}, ""
	case "endless":
		n, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		var es []share.Entry
		if n == 0 {
			es = append(es, top)
		}
		for i := range 1000 {
			es = append(es, share.Entry{Name: fmt.Sprintf("%0200d", n*1000+i), Path: fmt.Sprintf("dir/%0200d", n*1000+i), Dir: true})
		}
		return es, strconv.Itoa(n + 1)
	case "size":
		e := h.entry("dir/a.txt", h.small)
		e.Size = 1 << 40 // says a terabyte, its hashes say otherwise
		return []share.Entry{top, e}, ""
	}
	return h.listing(), ""
}

func (h *hostilePeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	stall := func(prefix []byte) {
		w.Write(prefix)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}
	p := r.URL.Path
	switch {
	case p == "/v1/info":
		in := wire.Info{V: 1, ID: h.id.ID, Name: "mallory", Fingerprint: h.id.Fingerprint, Port: 1, Files: 2, Bytes: 1}
		if h.lie == "info" {
			in.Fingerprint = strings.Repeat("ab", 32) // not the key of this connection
		}
		json.NewEncoder(w).Encode(in)
	case p == "/v1/ls" || p == "/v1/tree":
		if h.lie == "stall-list" {
			stall([]byte(`{"entries":[`))
			return
		}
		if h.lie == "page" {
			w.Write([]byte(`{"entries":[],"next":"` + strings.Repeat("x", wire.MaxPageBytes) + `"}`))
			return
		}
		es, next := h.lying(r)
		if p == "/v1/ls" {
			// ls lists the inside of the folder asked for.
			var in []share.Entry
			for _, e := range es {
				if e.Path != "dir" {
					in = append(in, e)
				}
			}
			es = in
		}
		json.NewEncoder(w).Encode(wire.ListPage{Entries: es, Next: next})
	case p == "/v1/has":
		json.NewEncoder(w).Encode(map[string][]string{"has": {}})
	case strings.HasPrefix(p, "/v1/hashes/"):
		f := h.fileOf(strings.TrimPrefix(p, "/v1/hashes/"))
		b, _ := f.h.MarshalBinary()
		switch h.lie {
		case "stall-hashes":
			stall(b[:8])
			return
		case "hashes-short":
			b = b[:len(b)-share.HashSize]
		case "hashes-other":
			b, _ = h.small.h.MarshalBinary()
		}
		w.Write(b)
	case strings.HasPrefix(p, "/v1/content/"):
		f := h.fileOf(strings.TrimPrefix(p, "/v1/content/"))
		var off, end int64
		if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &off, &end); err != nil || end >= f.h.Size {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		data := append([]byte(nil), f.data[off:end+1]...)
		if h.lie == "blocks" {
			for i := range data {
				data[i] ^= 0x5a
			}
		}
		w.Header().Set("Content-Length", strconv.FormatInt(end-off+1, 10))
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, end, f.h.Size))
		w.WriteHeader(http.StatusPartialContent)
		if h.lie == "stall-content" {
			stall(data[:len(data)/2])
			return
		}
		w.Write(data)
	case p == "/v1/batch":
		var req struct {
			CIDs []string `json:"cids"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		var hdr [8]byte
		switch h.lie {
		case "stall-batch":
			stall(hdr[:4])
			return
		case "batch-big":
			binary.BigEndian.PutUint64(hdr[:], 1<<40)
			w.Write(hdr[:])
			w.Write(bytes.Repeat([]byte{'x'}, 1<<16))
			return
		}
		for _, cid := range req.CIDs {
			data := h.fileOf(cid).data
			if h.lie == "batch-lie" {
				data = bytes.Repeat([]byte{'z'}, len(data)) // the right length, other bytes
			}
			binary.BigEndian.PutUint64(hdr[:], uint64(len(data)))
			w.Write(hdr[:])
			w.Write(data)
		}
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (h *hostilePeer) fileOf(cid string) hostileFile {
	if cid == h.big.h.ContentID() {
		return h.big
	}
	return h.small
}

// startHostile serves a hostile peer with key id on loopback until the test ends.
func startHostile(t *testing.T, id *identity.Identity, lie string) (addr string) {
	t.Helper()
	big := make([]byte, 2*share.BlockSize+1)
	for i := range big {
		big[i] = byte(i * 7)
	}
	h := &hostilePeer{id: id, lie: lie, small: newHostileFile([]byte("small")), big: newHostileFile(big)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: id.ServerTLS()}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// porchResult is how one run of the real binary ended.
type porchResult struct {
	stdout, stderr string
	exit           int
	took           time.Duration
	maxRSS         int64 // bytes
}

// runPorch runs the porch binary here (in the test's private namespace), killed if it takes
// longer than limit.
func runPorch(t *testing.T, limit time.Duration, args ...string) porchResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, needPorch(t), append(args, "--iface", "lo")...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := porchResult{stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("porch %s did not end within %v:\n%s", strings.Join(args, " "), limit, netns.Tail(r.stderr, 5))
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.exit = ee.ExitCode()
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss << 10
	}
	return r
}

// oneClearLine checks a refusal: exit 1, a single line on stderr that names the peer's
// address or name, not longer than what a terminal shows.
func oneClearLine(t *testing.T, what string, r porchResult) {
	t.Helper()
	line := strings.TrimSpace(r.stderr)
	switch {
	case r.exit != 1:
		t.Errorf("%s: exit %d, want 1; stderr:\n%s", what, r.exit, netns.Tail(r.stderr, 5))
	case strings.Contains(line, "\n"):
		t.Errorf("%s: more than one line on stderr:\n%s", what, netns.Tail(r.stderr, 8))
	case len(line) > 400:
		t.Errorf("%s: a line of %d bytes: %.200s…", what, len(line), line)
	case r.maxRSS > 400<<20:
		t.Errorf("%s: porch grew to %d MiB", what, r.maxRSS>>20)
	}
}

// checkDownloads checks what a refused get left in to: nothing outside it (its parent holds
// only to and data), and every file under a final name is one of the true files, whole.
func checkDownloads(t *testing.T, what, parent, to string, truth map[string][]byte) {
	t.Helper()
	if ents, _ := os.ReadDir(parent); len(ents) > 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("%s: something was written beside the download folder: %v", what, names)
	}
	filepath.WalkDir(to, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		name := d.Name()
		if strings.HasSuffix(name, ".partial") || strings.HasSuffix(name, ".partial.state") {
			return nil
		}
		fi, _ := d.Info()
		if fi.Mode()&0o111 != 0 {
			t.Errorf("%s: %s is executable", what, p)
		}
		want, ok := truth[name]
		got, _ := os.ReadFile(p)
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: %s holds %d bytes that are not a true file, under a final name", what, p, len(got))
		}
		return nil
	})
}

func TestE2EHostilePeer(t *testing.T) {
	needPorch(t)
	if !netns.Isolate(t) {
		return
	}
	for _, c := range []struct {
		lie     string
		lsFails bool // the listing itself is the lie; otherwise only get meets it
	}{
		{"dotdot", true}, {"absolute", true}, {"backslash", true}, {"control", true},
		{"reserved", true}, {"long", true}, {"outside", true}, {"case", false}, {"unicode", false},
		{"endless", true}, {"page", true}, {"size", false}, {"hashes-short", false},
		{"hashes-other", false}, {"blocks", false}, {"stall-list", true}, {"stall-hashes", false},
		{"stall-content", false}, {"stall-batch", false}, {"batch-big", false}, {"batch-lie", false},
		{"info", true},
	} {
		lie := c.lie
		t.Run(lie, func(t *testing.T) {
			t.Parallel()
			id, err := identity.Load(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			addr := startHostile(t, id, lie)
			parent := t.TempDir()
			data, to := filepath.Join(parent, "data"), filepath.Join(parent, "to")
			for _, d := range []string{data, to} {
				if err := os.Mkdir(d, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			ls := runPorch(t, 2*time.Minute, "ls", addr+"/dir", "--data", data, "--downloads", to)
			if c.lsFails {
				oneClearLine(t, "ls", ls)
			}
			get := runPorch(t, 2*time.Minute, "get", addr+"/dir", "--data", data, "--to", to)
			oneClearLine(t, "get", get)
			small := []byte("small")
			checkDownloads(t, "get", parent, to, map[string][]byte{"a.txt": small, "A.txt": small, "caf\u00e9.txt": small, "cafe\u0301.txt": small})
			t.Logf("ls exit %d in %v; get exit %d in %v, %d MiB: %s", ls.exit, ls.took.Round(time.Millisecond),
				get.exit, get.took.Round(time.Millisecond), get.maxRSS>>20, strings.TrimSpace(get.stderr))
		})
	}
}
