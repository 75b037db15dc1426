package e2e

// End-to-end tests of the porch binary over a real network: `porch serve` peers in network
// namespaces (package porch/test/netns) found by mDNS, driven through the command line as a user
// would. What they assume of the output is gathered in the helpers at the bottom.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"porch/test/netns"
)

// e2ePeer is what the tests read from `porch peers --json`.
type e2ePeer struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Addrs []string `json:"addrs"`
	Port  int      `json:"port"`
}

// entryJSON is what the tests read from `porch ls --json`.
type entryJSON struct {
	Name string `json:"name"`
	Path string `json:"path"`
	Size int64  `json:"size"`
	Dir  bool   `json:"dir"`
}

// album is the tree alice shares in the tests: path -> size (-1: an empty folder).
var album = map[string]int64{
	"album/track1.bin":     3<<20 + 12345, // several blocks, last one short
	"album/track2.bin":     4096,
	"album/cd2/notes.txt":  0,
	"album/cd2/deep/x.bin": 1 << 20,
	"album/empty":          -1,
}

// TestE2E runs alice, bob and carol as `porch serve` and exercises discovery, browsing,
// downloading, hostile paths and, last, departures.
func TestE2E(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 3)
	root := t.TempDir()
	makeTree(t, root, album)

	// A share added before serve starts.
	mustRun(t, n, 0, "share", "add", filepath.Join(root, "album"), "--data", n.Data(0))
	serve := []*netns.Proc{n.Start(t, 0, "serve"), n.Start(t, 1, "serve"), n.Start(t, 2, "serve")}

	t.Run("peers", func(t *testing.T) {
		var peers []e2ePeer
		ok := netns.WaitFor(t, 30*time.Second, func() bool {
			peers = listPeers(t, n, 1)
			return hasPeers(peers, "alice", "bob", "carol")
		})
		if !ok {
			t.Fatalf("peers --json from bob's namespace never listed alice, bob and carol: %+v", peers)
		}
		for _, p := range peers {
			if p.ID == "" || p.Name == "" || len(p.Addrs) == 0 || p.Port <= 0 || p.Port > 65535 {
				t.Errorf("peer with missing fields: %+v", p)
			}
		}
	})

	t.Run("share-add-while-serving", func(t *testing.T) {
		makeTree(t, root, map[string]int64{"late/new.txt": 10})
		mustRun(t, n, 0, "share", "add", filepath.Join(root, "late"), "--data", n.Data(0))
		var names []string
		ok := netns.WaitFor(t, 20*time.Second, func() bool {
			out, _, code := n.Run(t, 1, "ls", "alice", "--json")
			if code != 0 {
				return false
			}
			names = entryNames(t, out)
			return contains(names, "album") && contains(names, "late")
		})
		if !ok {
			t.Fatalf("alice's top level never showed album and late (the running serve did not pick up share add): %v", names)
		}
	})

	t.Run("ls", func(t *testing.T) {
		out, errOut, code := n.Run(t, 1, "ls", "alice/album", "--json")
		if code != 0 {
			t.Fatalf("ls alice/album: exit %d: %s", code, errOut)
		}
		var got []entryJSON
		decodeArray(t, out, "entries", &got)
		want := map[string]entryJSON{
			"track1.bin": {"track1.bin", "album/track1.bin", album["album/track1.bin"], false},
			"track2.bin": {"track2.bin", "album/track2.bin", album["album/track2.bin"], false},
			"cd2":        {"cd2", "album/cd2", 1 << 20, true},
			"empty":      {"empty", "album/empty", 0, true},
		}
		if len(got) != len(want) {
			t.Errorf("ls alice/album: %d entries, want %d: %+v", len(got), len(want), got)
		}
		for _, e := range got {
			w, ok := want[e.Name]
			if !ok {
				t.Errorf("unexpected entry %+v", e)
				continue
			}
			e.Path = strings.TrimPrefix(e.Path, "/")
			if e.Path != w.Path || e.Dir != w.Dir || (!e.Dir && e.Size != w.Size) {
				t.Errorf("entry %+v, want %+v", e, w)
			}
		}
	})

	t.Run("get-file", func(t *testing.T) {
		to := t.TempDir()
		mustRun(t, n, 2, "get", "alice/album/track1.bin", "--to", to)
		sameFile(t, filepath.Join(root, "album/track1.bin"), filepath.Join(to, "track1.bin"))
		assertNoPartials(t, to)
		assertNoExecBits(t, to)

		// Again into the same folder: the first copy is never overwritten.
		before := fileID(t, filepath.Join(to, "track1.bin"))
		_, errOut, code := n.Run(t, 2, "get", "alice/album/track1.bin", "--to", to)
		if code != 0 {
			t.Fatalf("second get: exit %d: %s", code, errOut)
		}
		if after := fileID(t, filepath.Join(to, "track1.bin")); after != before {
			t.Errorf("second get replaced track1.bin (%s -> %s)", before, after)
		}
		sameFile(t, filepath.Join(root, "album/track1.bin"), filepath.Join(to, "track1.bin"))
		if _, err := os.Stat(filepath.Join(to, "track1 (1).bin")); err == nil {
			sameFile(t, filepath.Join(root, "album/track1.bin"), filepath.Join(to, "track1 (1).bin"))
		}
	})

	t.Run("get-folder", func(t *testing.T) {
		to := t.TempDir()
		mustRun(t, n, 1, "get", "alice/album", "--to", to)
		sameTree(t, filepath.Join(root, "album"), filepath.Join(to, "album"))
		assertNoPartials(t, to)
		assertNoExecBits(t, to)
	})

	t.Run("hostile-paths", func(t *testing.T) {
		for _, ref := range []string{"alice/../../etc", "alice/album/../../../etc/passwd", "alice//etc"} {
			out, errOut, code := n.Run(t, 1, "ls", ref, "--json")
			if code != 1 {
				t.Errorf("ls %s: exit %d, want 1\nstdout: %s\nstderr: %s", ref, code, out, errOut)
			}
			if strings.Contains(out, "passwd") || strings.Contains(out, "root:") {
				t.Errorf("ls %s leaked: %s", ref, out)
			}
		}
		to := t.TempDir()
		_, _, code := n.Run(t, 1, "get", "alice/../../etc/passwd", "--to", to)
		if code == 0 {
			t.Errorf("get alice/../../etc/passwd succeeded")
		}
		if ents, _ := os.ReadDir(to); len(ents) != 0 {
			t.Errorf("get of a hostile path wrote %v", ents)
		}
	})

	t.Run("departures", func(t *testing.T) {
		bob := serve[1]
		if err := serve[0].Stop(); err != nil {
			t.Errorf("alice's serve did not exit cleanly on SIGTERM: %v", err)
		}
		if !netns.WaitFor(t, 10*time.Second, func() bool { return logShowsPeer(bob.Stderr(), "peer removed", "alice") }) {
			t.Errorf("bob's serve did not drop alice within 10 s of a clean stop:\n%s", netns.Tail(bob.Stderr(), 10))
		}
		var peers []e2ePeer
		if !netns.WaitFor(t, 10*time.Second, func() bool {
			peers = listPeers(t, n, 1)
			return !hasPeers(peers, "alice")
		}) {
			t.Errorf("alice still listed 10 s after a clean stop: %+v", peers)
		}

		serve[2].Kill()
		if !netns.WaitFor(t, 30*time.Second, func() bool { return logShowsPeer(bob.Stderr(), "peer removed", "carol") }) {
			t.Errorf("bob's serve did not drop carol within 30 s of SIGKILL:\n%s", netns.Tail(bob.Stderr(), 10))
		}
		if !netns.WaitFor(t, 30*time.Second, func() bool {
			peers = listPeers(t, n, 1)
			return !hasPeers(peers, "carol")
		}) {
			t.Errorf("carol still listed 30 s after SIGKILL: %+v", peers)
		}
		if !hasPeers(peers, "bob") {
			t.Errorf("bob vanished from his own namespace's view: %+v", peers)
		}
	})
}

// TestE2EResume kills a download halfway and checks the rerun completes it.
func TestE2EResume(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 2)
	root := t.TempDir()
	makeTree(t, root, map[string]int64{"big/big.bin": 200 << 20})
	mustRun(t, n, 0, "share", "add", filepath.Join(root, "big"), "--data", n.Data(0))
	n.Start(t, 0, "serve", "--max-upload", "20MB/s")
	n.Start(t, 1, "serve")
	waitPeer(t, n, 1, "alice")

	to := t.TempDir()
	get := n.Start(t, 1, "get", "alice/big/big.bin", "--to", to, "--data", n.CLIData(1))
	waitGrowingPartial(t, get, to, 200<<20, 3*time.Second)
	get.Kill()
	if findPartial(to) == "" {
		t.Fatalf("the .partial was removed when get was killed")
	}
	if _, err := os.Stat(filepath.Join(to, "big.bin")); err == nil {
		t.Fatalf("big.bin finished before get was killed; raise its size or lower --max-upload")
	}

	_, errOut, code := n.Run(t, 1, "get", "alice/big/big.bin", "--to", to)
	if code != 0 {
		t.Fatalf("resumed get: exit %d: %s", code, errOut)
	}
	sameFile(t, filepath.Join(root, "big/big.bin"), filepath.Join(to, "big.bin"))
	assertNoPartials(t, to)
}

// TestE2EMultiSource checks that a file two peers hold is fetched from both.
func TestE2EMultiSource(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 3)
	root := sameFileTwice(t, n, 48<<20)
	// Rate limits make a single source slow enough that the second one always matters.
	startHolders(t, n, "8MB/s")

	to := t.TempDir()
	_, errOut, code := n.Run(t, 2, "get", "alice/a/same.bin", "--to", to)
	if code != 0 {
		t.Fatalf("get: exit %d: %s", code, errOut)
	}
	sameFile(t, filepath.Join(root, "a/same.bin"), filepath.Join(to, "same.bin"))
	if got := sourcesUsed(errOut); got != 2 {
		t.Errorf("get used %d sources, want 2; stderr:\n%s", got, netns.Tail(errOut, 10))
	}
}

// ---- assumptions about the CLI's output, in one place ----

// sourcesRE finds how many peers a finished `porch get` drew from, in its final stderr line
// ("…, sources: 2") or in the phrase "from 2 sources".
var sourcesRE = regexp.MustCompile(`(?i)(?:sources:\s*(\d+)|from\s+(\d+)\s+sources)`)

// sourcesUsed is the source count reported last on stderr, or -1.
func sourcesUsed(stderr string) int {
	m := sourcesRE.FindAllStringSubmatch(stderr, -1)
	if len(m) == 0 {
		return -1
	}
	last := m[len(m)-1]
	s := last[1]
	if s == "" {
		s = last[2]
	}
	v, _ := strconv.Atoi(s)
	return v
}

// decodeArray decodes a --json document that is an array, or an object holding the array under
// key.
func decodeArray(t *testing.T, out, key string, v any) {
	t.Helper()
	out = strings.TrimSpace(out)
	if strings.HasPrefix(out, "{") {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(out), &obj); err != nil {
			t.Fatalf("bad JSON %q: %v", out, err)
		}
		out = string(obj[key])
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("bad JSON array %q: %v", out, err)
	}
}

// waitGrowingPartial waits (60 s at most) until the download get makes into to has a .partial
// that has grown by 8 MiB, or (when preallocated to its whole size) that has existed for
// preallocated; it fails t if get exits first.
func waitGrowingPartial(t *testing.T, get *netns.Proc, to string, size int64, preallocated time.Duration) {
	t.Helper()
	var partial string
	var first int64
	var seen time.Time
	if !netns.WaitFor(t, 60*time.Second, func() bool {
		if get.Exited() {
			return false
		}
		if partial == "" {
			if partial = findPartial(to); partial != "" {
				first, seen = allocated(partial), time.Now()
			}
			return false
		}
		// Grown: more blocks on disk, or (preallocated) simply some time downloading.
		return allocated(partial) > first+8<<20 || allocated(partial) >= size && time.Since(seen) > preallocated
	}) {
		t.Fatalf("no growing .partial in %s (get exited: %v)\n%s", to, get.Exited(), get.Stderr())
	}
}

// findPartial is the path of a download in progress under dir ("*.partial", not the short-lived
// "*.statetmp.partial" its state is written through), or "".
func findPartial(dir string) string {
	var found string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".partial") && !strings.HasSuffix(p, ".statetmp.partial") {
			found = p
		}
		return nil
	})
	return found
}

// assertNoPartials fails t if any .partial or .partial.state file is left under dir.
func assertNoPartials(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, ".partial") || strings.HasSuffix(p, ".partial.state")) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// logShowsPeer reports whether a serve or window process's slog text log has a line with msg
// ("peer added", "peer removed") about the peer with display name name.
func logShowsPeer(log, msg, name string) bool {
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, msg) && (strings.Contains(line, " name="+name+" ") ||
			strings.HasSuffix(line, " name="+name) || strings.Contains(line, ` name="`+name+`"`)) {
			return true
		}
	}
	return false
}

// ---- helpers ----

func mustRun(t *testing.T, n *testNet, i int, args ...string) string {
	t.Helper()
	out, errOut, code := n.Run(t, i, args...)
	if code != 0 {
		t.Fatalf("%s: porch %s: exit %d\n%s", n.Name(i), strings.Join(args, " "), code, errOut)
	}
	return out
}

// listPeers runs `porch peers --json --wait 3s` in peer i's namespace (nil on failure).
func listPeers(t *testing.T, n *testNet, i int) []e2ePeer {
	t.Helper()
	out, _, code := n.Run(t, i, "peers", "--json", "--wait", "3s")
	if code != 0 {
		return nil
	}
	var peers []e2ePeer
	decodeArray(t, out, "peers", &peers)
	return peers
}

func hasPeers(peers []e2ePeer, names ...string) bool {
	for _, name := range names {
		found := false
		for _, p := range peers {
			found = found || p.Name == name
		}
		if !found {
			return false
		}
	}
	return true
}

// waitPeer waits until peer i's namespace sees all the named peers.
func waitPeer(t *testing.T, n *testNet, i int, names ...string) {
	t.Helper()
	var peers []e2ePeer
	if !netns.WaitFor(t, 30*time.Second, func() bool {
		peers = listPeers(t, n, i)
		return hasPeers(peers, names...)
	}) {
		t.Fatalf("%s never saw %v: %+v", n.Name(i), names, peers)
	}
}

// waitHashed waits until `ls PEER/PATH --json` shows the file with a content id.
func waitHashed(t *testing.T, n *testNet, i int, ref string) {
	t.Helper()
	if !netns.WaitFor(t, 60*time.Second, func() bool {
		out, _, code := n.Run(t, i, "ls", ref, "--json")
		if code != 0 {
			return false
		}
		var ents []struct {
			CID string `json:"cid"`
		}
		decodeArray(t, out, "entries", &ents)
		return len(ents) == 1 && ents[0].CID != ""
	}) {
		t.Fatalf("%s never showed a content id", ref)
	}
}

func entryNames(t *testing.T, out string) []string {
	var ents []entryJSON
	decodeArray(t, out, "entries", &ents)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	return names
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// makeTree creates files of random bytes (size >= 0) and empty folders (size -1) under root.
func makeTree(t *testing.T, root string, tree map[string]int64) {
	t.Helper()
	for rel, size := range tree {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if size < 0 {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, size); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sha(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sameFile(t *testing.T, want, got string) {
	t.Helper()
	if _, err := os.Stat(got); err != nil {
		t.Fatalf("download missing: %v", err)
	}
	if sha(t, want) != sha(t, got) {
		t.Fatalf("%s differs from %s", got, want)
	}
}

// sameTree checks got holds the same folders (empty ones included) and file bytes as want.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	list := func(root string) map[string]string {
		m := map[string]string{}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			if d.IsDir() {
				m[rel] = "dir"
			} else {
				m[rel] = sha(t, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	w, g := list(want), list(got)
	var keys []string
	for k := range w {
		keys = append(keys, k)
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if w[k] != g[k] {
			t.Errorf("%s: want %q, got %q", k, w[k], g[k])
		}
	}
}

func assertNoExecBits(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil && fi.Mode()&0o111 != 0 {
				t.Errorf("%s is executable (%v)", p, fi.Mode())
			}
		}
		return nil
	})
}

// fileID identifies a file's inode and modification time: it changes if the file is replaced
// or rewritten.
func fileID(t *testing.T, p string) string {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("ino %d mtime %s", st.Ino, fi.ModTime())
}

// allocated is the bytes of disk p occupies (grows as a sparse download fills in).
func allocated(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// Search across real peers: one result for the file two neighbours hold, with
// both of them, in the JSON and in the lines printed as answers come; a query
// that does not parse is refused before anyone is asked.
func TestE2ESearch(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 3)
	sameFileTwice(t, n, 64<<10)
	startHolders(t, n, "")

	var results []struct {
		Name  string `json:"name"`
		Path  string `json:"path"`
		Size  int64  `json:"size"`
		CID   string `json:"cid"`
		Peers []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"peers"`
	}
	decodeArray(t, mustRun(t, n, 2, "search", "same ext:bin size>10KB", "--json", "--wait", "4s"), "search", &results)
	if len(results) != 1 || results[0].Name != "same.bin" || results[0].Size != 64<<10 || len(results[0].Peers) != 2 {
		t.Fatalf("search results %+v, want same.bin once, held by alice and bob", results)
	}
	holders := results[0].Peers[0].Name + "," + results[0].Peers[1].Name
	if holders != "alice,bob" {
		t.Errorf("holders %s, want alice,bob", holders)
	}

	text := mustRun(t, n, 2, "search", "SAME", "--wait", "4s")
	if !strings.Contains(text, "same.bin") || !strings.Contains(text, "alice") || !strings.Contains(text, "bob") {
		t.Errorf("search output does not name the file and both holders:\n%s", text)
	}
	if out := mustRun(t, n, 2, "search", "same", "type:folder"); !strings.Contains(out, "Nothing matches") {
		t.Errorf("type:folder found files:\n%s", out)
	}
	if _, errOut, code := n.Run(t, 2, "search", "size>lots"); code != 2 || !strings.Contains(errOut, "not a size") {
		t.Errorf("bad query: exit %d, stderr %q; want 2 and the reason", code, errOut)
	}
}

// Pairing from the command line between real peers: the code is shown, the
// other side is asked to show it too, trust needs a yes, and trust ls,
// peers --json and untrust see the same state.
func TestE2ETrust(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 2)
	alice := n.Start(t, 0, "serve")
	n.Start(t, 1, "serve")
	waitPeer(t, n, 1, "alice")
	bob := n.Data(1) // the CLI speaks as bob's serve does, with its key

	out, errOut, code := n.Run(t, 1, "trust", "alice", "--data", bob)
	if code != 1 || !strings.Contains(errOut, "not trusted") || !strings.Contains(out, "Pairing code with alice") {
		t.Fatalf("trust without an answer: exit %d\n%s\n%s", code, out, errOut)
	}
	out = mustRun(t, n, 1, "trust", "alice", "--yes", "--data", bob)
	if !strings.Contains(out, "alice is trusted") {
		t.Fatalf("trust --yes:\n%s", out)
	}
	if !netns.WaitFor(t, 10*time.Second, func() bool { return strings.Contains(alice.Stderr(), "neighbour asks to pair") }) {
		t.Errorf("alice's serve was not asked to pair:\n%s", netns.Tail(alice.Stderr(), 10))
	}

	var trusted []struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	decodeArray(t, mustRun(t, n, 1, "trust", "ls", "--json", "--data", bob), "trusted", &trusted)
	if len(trusted) != 1 || trusted[0].Name != "alice" {
		t.Fatalf("trust ls: %+v", trusted)
	}
	var peers []struct {
		Name    string `json:"name"`
		Trusted bool   `json:"trusted"`
	}
	decodeArray(t, mustRun(t, n, 1, "peers", "--json", "--data", bob), "peers", &peers)
	if len(peers) != 1 || !peers[0].Trusted {
		t.Errorf("peers --json after trust: %+v", peers)
	}
	mustRun(t, n, 1, "untrust", trusted[0].ID[:8], "--data", bob)
	if out := mustRun(t, n, 1, "trust", "ls", "--data", bob); !strings.Contains(out, "No trusted neighbours") {
		t.Errorf("trust ls after untrust:\n%s", out)
	}
}

// Beyond one LAN: two subnets joined by a router that carries no multicast.
// Peers given to each other by address find each other, remember it across
// restarts, and keep working when one of them comes back at another address.
func TestE2EBeyondOneLAN(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 2)
	n.Route(t, 1) // bob on 10.214.0.0/24, alice on 10.213.0.0/24
	at := func(i int) string { return n.Addr(i) + ":46724" }
	added := func(p *netns.Proc, name, addr string) func() bool {
		return func() bool {
			for _, line := range strings.Split(p.Stderr(), "\n") {
				if logShowsPeer(line, "peer added", name) && strings.Contains(line, addr) {
					return true
				}
			}
			return false
		}
	}

	alice := n.Start(t, 0, "serve", "--peer", at(1))
	bob := n.Start(t, 1, "serve", "--peer", at(0))
	if !netns.WaitFor(t, 20*time.Second, added(bob, "alice", n.Addr(0))) || !netns.WaitFor(t, 20*time.Second, added(alice, "bob", n.Addr(1))) {
		t.Fatalf("not found by address across the router:\nalice:\n%s\nbob:\n%s", netns.Tail(alice.Stderr(), 10), netns.Tail(bob.Stderr(), 10))
	}
	// mDNS does not cross: a browse from bob's subnet finds only bob.
	for _, p := range listPeers(t, n, 1) {
		if p.Name == "alice" {
			t.Errorf("alice seen by mDNS across the router: %+v", p)
		}
	}
	if out := mustRun(t, n, 1, "ls", at(0)); !strings.Contains(out, "shares nothing") {
		t.Errorf("ls by address across the router:\n%s", out)
	}

	// Remembered: both restart without being told where the other is.
	alice.Stop()
	bob.Stop()
	bob = n.Start(t, 1, "serve")
	alice = n.Start(t, 0, "serve")
	if !netns.WaitFor(t, 30*time.Second, added(bob, "alice", n.Addr(0))) {
		t.Fatalf("bob did not reach alice again from what it remembered:\n%s", netns.Tail(bob.Stderr(), 10))
	}

	// Alice comes back at another address; she still knows where bob is,
	// and bob follows her by her id.
	alice.Stop()
	n.SetAddr(t, 0, 77)
	alice = n.Start(t, 0, "serve")
	if !netns.WaitFor(t, 30*time.Second, added(bob, "alice", n.Addr(0))) {
		t.Fatalf("bob did not follow alice to %s:\n%s", n.Addr(0), netns.Tail(bob.Stderr(), 15))
	}
	bob.Stop()
	bob = n.Start(t, 1, "serve")
	if !netns.WaitFor(t, 30*time.Second, added(bob, "alice", n.Addr(0))) {
		t.Fatalf("after a restart bob looked for alice at her old address:\n%s", netns.Tail(bob.Stderr(), 15))
	}
}
