package share

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"porch/share/db"
	"porch/test/wait"
)

// openLib opens a library on a fresh data folder sharing paths.
func openLib(t *testing.T, data string, opts LibraryOptions, paths ...string) *Library {
	t.Helper()
	opts.DataDir = data
	l, err := OpenLibrary(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if len(paths) > 0 {
		if _, err := l.Add(paths...); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func names(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}

func mustList(t *testing.T, l *Library, p string) []Entry {
	t.Helper()
	es, err := l.List(p)
	if err != nil {
		t.Fatalf("List(%q): %v", p, err)
	}
	return es
}

func TestLibraryTree(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "music", "b.flac"), "bb")
	writeFile(t, filepath.Join(src, "music", "A.flac"), "a")
	writeFile(t, filepath.Join(src, "music", "cd2", "x.flac"), "xxxx")
	writeFile(t, filepath.Join(src, "music", "cd1", "y.flac"), "yyy")
	writeFile(t, filepath.Join(src, "other", "music", "z.txt"), "z")
	writeFile(t, filepath.Join(src, "notes.txt"), "hello")
	l := openLib(t, t.TempDir(), LibraryOptions{},
		filepath.Join(src, "music"), filepath.Join(src, "notes.txt"), filepath.Join(src, "other", "music"))

	if got, want := names(mustList(t, l, "")), []string{"music", "music (2)", "notes.txt"}; !slices.Equal(got, want) {
		t.Fatalf("top = %q, want %q", got, want)
	}
	if got, want := names(mustList(t, l, "music")), []string{"cd1", "cd2", "A.flac", "b.flac"}; !slices.Equal(got, want) {
		t.Fatalf("music = %q, want %q", got, want)
	}
	e, err := l.Stat("music")
	if err != nil || !e.Dir || e.Size != 10 || e.Files != 4 {
		t.Fatalf("Stat(music) = %+v, %v", e, err)
	}
	e, err = l.Stat("music/cd1/y.flac")
	if err != nil || e.Dir || e.Size != 3 || e.Path != "music/cd1/y.flac" || e.Name != "y.flac" {
		t.Fatalf("Stat file = %+v, %v", e, err)
	}
	if e.ContentID != "" {
		t.Fatal("content id before hashing")
	}
	top, _ := l.Stat("")
	if files, bytes := l.Totals(); top.Files != 6 || files != 6 || bytes != 16 || top.Size != 16 {
		t.Fatalf("totals %d %d, top %+v", files, bytes, top)
	}
	if es := mustList(t, l, "notes.txt"); len(es) != 1 || es[0].Size != 5 {
		t.Fatalf("List of a file = %+v", es)
	}
	var walked []string
	if err := l.Walk("music", func(e Entry) error { walked = append(walked, e.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{"music", "music/cd1", "music/cd1/y.flac", "music/cd2", "music/cd2/x.flac", "music/A.flac", "music/b.flac"}
	if !slices.Equal(walked, want) {
		t.Fatalf("Walk = %q, want %q", walked, want)
	}
	walked = nil
	l.Walk("", func(e Entry) error { walked = append(walked, e.Path); return nil })
	if len(walked) != 10 {
		t.Fatalf("Walk(\"\") visited %d: %q", len(walked), walked)
	}
	stop := errors.New("stop")
	if err := l.Walk("", func(Entry) error { return stop }); err != stop {
		t.Fatalf("Walk did not return fn's error: %v", err)
	}
	if got := names(l.Search("FLAC y", 0)); !slices.Equal(got, []string{"y.flac"}) {
		t.Fatalf("Search = %q", got)
	}
	if got := l.Search("music", 0); len(got) != 2 {
		t.Fatalf("Search(music) = %q", names(got))
	}
	if got := l.Search("flac", 2); len(got) != 2 {
		t.Fatalf("Search max 2 gave %d", len(got))
	}
	if l.Search("  ", 0) != nil {
		t.Fatal("empty query matched")
	}
	if _, err := l.Stat("music/nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Stat missing = %v", err)
	}
	items := l.Items()
	if len(items) != 3 || items[0].Files != 4 || items[0].Bytes != 10 || items[0].Err != "" {
		t.Fatalf("Items = %+v", items)
	}
}

func TestLibraryRescanSeesChanges(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.txt"), "a")
	writeFile(t, filepath.Join(src, "b.txt"), "b")
	var changes atomic.Int32
	l := openLib(t, t.TempDir(), LibraryOptions{OnChange: func() { changes.Add(1) }}, src)
	item := filepath.Base(src)
	before := changes.Load()

	writeFile(t, filepath.Join(src, "new", "c.txt"), "ccc")
	os.Remove(filepath.Join(src, "a.txt"))
	writeFile(t, filepath.Join(src, "b.txt"), "bigger")
	if err := l.Rescan(); err != nil {
		t.Fatal(err)
	}
	if got, want := names(mustList(t, l, item)), []string{"new", "b.txt"}; !slices.Equal(got, want) {
		t.Fatalf("after changes: %q, want %q", got, want)
	}
	if e, _ := l.Stat(item + "/b.txt"); e.Size != 6 {
		t.Fatalf("modified size %d", e.Size)
	}
	if changes.Load() == before {
		t.Fatal("OnChange not called after a change")
	}
	before = changes.Load()
	l.Rescan()
	if changes.Load() != before {
		t.Fatal("OnChange called without a change")
	}
	// The shared folder disappears: the item stays in the catalog with an error.
	os.RemoveAll(src)
	l.Rescan()
	if es := mustList(t, l, ""); len(es) != 0 {
		t.Fatalf("deleted item still listed: %q", names(es))
	}
	if st := l.Items(); len(st) != 1 || st[0].Err == "" {
		t.Fatalf("Items after delete = %+v", st)
	}
}

func TestLibrarySymlinks(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "shared")
	outside := filepath.Join(base, "private.txt")
	writeFile(t, outside, "secret")
	writeFile(t, filepath.Join(src, "real.txt"), "real")
	writeFile(t, filepath.Join(src, "sub", "deep.txt"), "deep")
	for link, target := range map[string]string{
		"escape.txt":   "../private.txt",
		"absolute.txt": outside,
		"inside.txt":   "real.txt",
		"subdir":       "sub",
		"loop":         ".",
		"dangling":     "nothing",
	} {
		if err := os.Symlink(target, filepath.Join(src, link)); err != nil {
			t.Skip("symlinks unsupported:", err)
		}
	}
	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	if got, want := names(mustList(t, l, "shared")), []string{"sub", "inside.txt", "real.txt"}; !slices.Equal(got, want) {
		t.Fatalf("listed %q, want %q", got, want)
	}
	if e, _ := l.Stat("shared/inside.txt"); e.Size != 4 || e.Dir {
		t.Fatalf("link to a file inside: %+v", e)
	}
	for _, p := range []string{"shared/escape.txt", "shared/absolute.txt", "shared/subdir/deep.txt", "shared/loop/real.txt"} {
		if _, err := l.Open(p); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", p, err)
		}
	}
	if _, err := l.Open("shared/inside.txt"); !errors.Is(err, ErrNotHashed) {
		t.Fatalf("Open before hashing (so before the secret check) = %v, want ErrNotHashed", err)
	}
	hashAll(t, l)
	f, err := l.Open("shared/inside.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(io.NewSectionReader(f, 0, 100))
	if string(b) != "real" {
		t.Fatalf("read %q", b)
	}
}

func TestLibraryOpenHostilePaths(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "shared")
	writeFile(t, filepath.Join(src, "ok.txt"), "ok")
	writeFile(t, filepath.Join(base, "private.txt"), "secret")
	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	hashAll(t, l)
	if f, err := l.Open("shared/ok.txt"); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	for _, tc := range []struct {
		path string
		want error
	}{
		{"../private.txt", ErrBadPath},
		{"shared/../../private.txt", ErrBadPath},
		{"/etc/passwd", ErrBadPath},
		{filepath.Join(base, "private.txt"), ErrBadPath},
		{"shared/./ok.txt", ErrBadPath},
		{"shared//ok.txt", ErrBadPath},
		{`shared\..\..\private.txt`, ErrBadPath},
		{"shared/ok.txt\x00", ErrBadPath},
		{"%2e%2e/private.txt", ErrNotFound},
		{"shared/%2e%2e/%2e%2e/private.txt", ErrNotFound},
		{"shared/..%2fprivate.txt", ErrNotFound},
		{"private.txt", ErrNotFound},
		{"shared", ErrNotFound},
		{"", ErrNotFound},
	} {
		t.Run(tc.path, func(t *testing.T) {
			f, err := l.Open(tc.path)
			if err == nil {
				f.Close()
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open(%q) = %v, want %v", tc.path, err, tc.want)
			}
		})
	}
}

func TestLibrarySecrets(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, ".ssh", "id_ed25519"), "key")
	writeFile(t, filepath.Join(src, "app", ".env"), "TOKEN=1")
	writeFile(t, filepath.Join(src, "app", "main.go"), "package main")
	writeFile(t, filepath.Join(src, "cert.pem"), "pem")
	if err := os.Symlink(filepath.Join(".ssh", "id_ed25519"), filepath.Join(src, "photo.jpg")); err != nil {
		t.Skip(err)
	}
	item := filepath.Base(src)

	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	var listed []string
	l.Walk("", func(e Entry) error { listed = append(listed, e.Path); return nil })
	want := []string{item, item + "/app", item + "/app/main.go"}
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %q, want %q", listed, want)
	}
	st := l.Items()[0]
	slices.Sort(st.Secrets)
	if !slices.Equal(st.Secrets, []string{".ssh", "app/.env", "cert.pem", "photo.jpg"}) {
		t.Fatalf("Secrets = %q", st.Secrets)
	}
	if _, err := l.Open(item + "/cert.pem"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("secret served: %v", err)
	}

	all := openLib(t, t.TempDir(), LibraryOptions{IncludeSecrets: true}, src)
	if _, err := all.Stat(item + "/.ssh/id_ed25519"); err != nil {
		t.Fatalf("IncludeSecrets: %v", err)
	}
	// Sharing a secret folder itself shares nothing by default.
	l2 := openLib(t, t.TempDir(), LibraryOptions{}, filepath.Join(src, ".ssh"))
	if es := mustList(t, l2, ""); len(es) != 0 || !slices.Equal(l2.Items()[0].Secrets, []string{"."}) {
		t.Fatalf("secret item: %q %+v", names(es), l2.Items())
	}
	// So does sharing a folder inside one.
	writeFile(t, filepath.Join(src, ".gnupg", "private-keys-v1.d", "k.key"), "k")
	l3 := openLib(t, t.TempDir(), LibraryOptions{}, filepath.Join(src, ".gnupg", "private-keys-v1.d"))
	if es := mustList(t, l3, ""); len(es) != 0 {
		t.Fatalf("folder inside a secret folder listed: %q", names(es))
	}
}

// hashAll hashes every pending file synchronously.
func hashAll(t *testing.T, l *Library) {
	t.Helper()
	l.hashPending(context.Background())
	if h, total := l.HashProgress(); h != total {
		t.Fatalf("hashed %d of %d bytes", h, total)
	}
}

func TestLibraryHashing(t *testing.T) {
	src := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), (BlockSize*5/2)/16)
	writeFile(t, filepath.Join(src, "big.bin"), string(big))
	writeFile(t, filepath.Join(src, "copy.bin"), string(big))
	writeFile(t, filepath.Join(src, "empty"), "")
	data := t.TempDir()
	item := filepath.Base(src)
	l := openLib(t, data, LibraryOptions{HashWorkers: 2}, src)
	hashAll(t, l)
	if n := l.hashedFiles.Load(); n != 3 {
		t.Fatalf("hashed %d files, want 3", n)
	}
	e, _ := l.Stat(item + "/big.bin")
	want, _ := HashReader(bytes.NewReader(big), nil)
	if e.ContentID != want.ContentID() {
		t.Fatalf("cid %q, want %q", e.ContentID, want.ContentID())
	}
	h, err := l.Hashes(e.ContentID)
	if err != nil || h.Size != int64(len(big)) || len(h.Blocks) != 3 {
		t.Fatalf("Hashes = %d blocks, %v", len(h.Blocks), err)
	}
	if !l.Has(e.ContentID) || l.Has("p1-"+strings.Repeat("0", 64)) {
		t.Fatal("Has wrong")
	}
	if _, err := l.Hashes("p1-" + strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Hashes unknown = %v", err)
	}
	if _, err := l.Hashes("nope"); !errors.Is(err, ErrBadContentID) {
		t.Fatalf("Hashes bad = %v", err)
	}
	f, err := l.OpenContent(e.ContentID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(io.NewSectionReader(f, 0, int64(len(big))))
	f.Close()
	if !bytes.Equal(got, big) {
		t.Fatal("OpenContent read other bytes")
	}
	if st := l.Items()[0]; st.HashedBytes != st.Bytes {
		t.Fatalf("item hashed %d of %d", st.HashedBytes, st.Bytes)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened (a restart): content ids come from the cache, nothing is read.
	l2 := openLib(t, data, LibraryOptions{}, src)
	if e2, _ := l2.Stat(item + "/big.bin"); e2.ContentID != e.ContentID {
		t.Fatalf("after restart cid %q", e2.ContentID)
	}
	hashAll(t, l2)
	if n := l2.hashedFiles.Load(); n != 0 {
		t.Fatalf("restart re-hashed %d files", n)
	}
	// Removing and sharing again does not re-hash either.
	if err := l2.Remove(item); err != nil {
		t.Fatal(err)
	}
	l2.Add(src)
	hashAll(t, l2)
	if n := l2.hashedFiles.Load(); n != 0 {
		t.Fatalf("re-share re-hashed %d files", n)
	}
}

func TestLibraryModifiedFile(t *testing.T) {
	src := t.TempDir()
	name := filepath.Join(src, "doc.txt")
	writeFile(t, name, "version one")
	item := filepath.Base(src)
	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	hashAll(t, l)
	old, _ := l.Stat(item + "/doc.txt")
	f, err := l.OpenContent(old.ContentID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 3)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "ver" {
		t.Fatalf("ReadAt before change: %q %v", buf, err)
	}
	writeFile(t, name, "version two!")
	if _, err := f.ReadAt(buf, 0); !errors.Is(err, ErrChanged) {
		t.Fatalf("ReadAt after change = %v, want ErrChanged", err)
	}
	if _, err := l.Open(item + "/doc.txt"); !errors.Is(err, ErrChanged) {
		t.Fatalf("Open of a changed, unscanned file = %v", err)
	}
	l.Rescan()
	hashAll(t, l)
	cur, _ := l.Stat(item + "/doc.txt")
	if cur.ContentID == "" || cur.ContentID == old.ContentID {
		t.Fatalf("content id after change %q (was %q)", cur.ContentID, old.ContentID)
	}
	if l.Has(old.ContentID) {
		t.Fatal("old content still offered")
	}
	f2, err := l.Open(item + "/doc.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	// Same size, different time: still detected.
	later := time.Now().Add(time.Hour)
	os.Chtimes(name, later, later)
	if _, err := f2.ReadAt(buf, 0); !errors.Is(err, ErrChanged) {
		t.Fatalf("ReadAt after touch = %v", err)
	}
}

func TestLibraryRun(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "one.txt"), "1")
	data := t.TempDir()
	var changes atomic.Int32
	l := openLib(t, data, LibraryOptions{Rescan: 20 * time.Millisecond, OnChange: func() { changes.Add(1) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()

	// The CLI, another process, shares a folder.
	cli, err := OpenCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Add(src); err != nil {
		t.Fatal(err)
	}
	item := filepath.Base(src)
	waitFor(t, func() bool {
		e, err := l.Stat(item + "/one.txt")
		return err == nil && e.ContentID != ""
	})
	writeFile(t, filepath.Join(src, "two.txt"), "2")
	waitFor(t, func() bool {
		e, err := l.Stat(item + "/two.txt")
		return err == nil && e.ContentID != ""
	})
	if changes.Load() == 0 {
		t.Fatal("OnChange never called")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := len(cacheRecords(t, data)); n != 2 {
		t.Fatalf("hash cache holds %d entries, want 2", n)
	}
}

// waitFor waits for the library to catch up with the disk (see package wait).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	wait.Until(t, 10*time.Second, "the library to catch up", cond)
}

func TestLibraryReplacedFileSameSizeAndTime(t *testing.T) {
	src := t.TempDir()
	name := filepath.Join(src, "f.txt")
	writeFile(t, name, "aaaa")
	item := filepath.Base(src)
	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	hashAll(t, l)
	old, _ := l.Stat(item + "/f.txt")
	fi, _ := os.Stat(name)

	// Another file with the same size and time takes its place (new inode).
	tmp := filepath.Join(t.TempDir(), "g.txt")
	writeFile(t, tmp, "bbbb")
	os.Chtimes(tmp, fi.ModTime(), fi.ModTime())
	if err := os.Rename(tmp, name); err != nil {
		t.Skip("cannot rename across temp folders:", err)
	}
	nfi, _ := os.Stat(name)
	if inodeOf(nfi) == 0 || inodeOf(nfi) == inodeOf(fi) {
		t.Skip("no inode numbers here")
	}
	l.Rescan()
	hashAll(t, l)
	cur, _ := l.Stat(item + "/f.txt")
	want, _ := HashReader(strings.NewReader("bbbb"), nil)
	if cur.ContentID != want.ContentID() || cur.ContentID == old.ContentID {
		t.Fatalf("replaced file keeps content id %q", cur.ContentID)
	}
}

func TestHashCacheCorruptFile(t *testing.T) {
	data := t.TempDir()
	writeFile(t, filepath.Join(data, "hashcache.json"), "[{garbage")
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "x"), "x")
	l := openLib(t, data, LibraryOptions{}, src)
	hashAll(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(cacheRecords(t, data)); n != 1 {
		t.Fatalf("cache after a damaged hashcache.json: %d entries", n)
	}
}

func TestLibraryFileItem(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "real", "report.pdf"), "pdf!")
	if err := os.Symlink(filepath.Join(src, "real", "report.pdf"), filepath.Join(src, "link.pdf")); err != nil {
		t.Skip(err)
	}
	l := openLib(t, t.TempDir(), LibraryOptions{}, filepath.Join(src, "link.pdf"))
	e, err := l.Stat("link.pdf")
	if err != nil || e.Dir || e.Size != 4 {
		t.Fatalf("shared file via symlink: %+v %v", e, err)
	}
	hashAll(t, l)
	f, err := l.Open("link.pdf")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if st := l.Items(); st[0].Files != 1 || st[0].Bytes != 4 {
		t.Fatalf("Items = %+v", st)
	}
}

// TestLibraryConcurrentUse reads the library from many goroutines while Run
// rescans and hashes and the shared folder changes; run it with -race.
func TestLibraryConcurrentUse(t *testing.T) {
	src := t.TempDir()
	for i := range 20 {
		writeFile(t, filepath.Join(src, "d", strings.Repeat("x", i+1)+".txt"), strings.Repeat("y", i*1000))
	}
	l := openLib(t, t.TempDir(), LibraryOptions{Rescan: 5 * time.Millisecond, HashWorkers: 3, OnChange: func() {}}, src)
	item := filepath.Base(src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			buf := make([]byte, 512)
			for i := range 200 {
				l.List(item + "/d")
				l.Walk("", func(Entry) error { return nil })
				l.Search("x", 5)
				l.HashProgress()
				l.Items()
				if f, err := l.Open(item + "/d/" + strings.Repeat("x", (i+g)%20+1) + ".txt"); err == nil {
					f.ReadAt(buf, 0)
					if cid := f.Entry().ContentID; cid != "" {
						l.Hashes(cid)
						if f2, err := l.OpenContent(cid); err == nil {
							f2.Close()
						}
					}
					f.Close()
				}
			}
		})
	}
	for i := range 50 {
		writeFile(t, filepath.Join(src, "d", "new", strings.Repeat("n", i%10+1)), strings.Repeat("z", i))
		if i%10 == 0 {
			l.Rescan()
		}
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestLibraryNeverSharesDataDir(t *testing.T) {
	home := t.TempDir()
	data := filepath.Join(home, "porch-data")
	writeFile(t, filepath.Join(home, "doc.txt"), "d")
	l := openLib(t, data, LibraryOptions{}, home)
	item := filepath.Base(home)
	if got := names(mustList(t, l, item)); !slices.Equal(got, []string{"doc.txt"}) {
		t.Fatalf("listed %q", got)
	}
	if st := l.Items()[0]; !slices.Contains(st.Secrets, "porch-data") {
		t.Fatalf("data folder not reported: %+v", st)
	}
	l2 := openLib(t, data, LibraryOptions{}, data)
	if es := mustList(t, l2, ""); len(es) != 1 || es[0].Name != item {
		t.Fatalf("data folder shared as an item: %q", names(es))
	}
}

// Two caches on one data folder (two processes) see each other's entries.
func TestHashCacheSharedByTwoProcesses(t *testing.T) {
	data := t.TempDir()
	c1, c2 := newHashCache(openTestDB(t, data)), newHashCache(openTestDB(t, data))
	h, _ := HashReader(strings.NewReader("x"), nil)
	fh := &fileHash{cid: h.ContentID(), h: h}
	c1.put("/d/one", fileKey{Size: 1, MTime: 1}, fh)
	c2.put("/d/two", fileKey{Size: 1, MTime: 2}, fh)
	if !c1.isDirty() {
		t.Fatal("put left nothing to save")
	}
	if err := c1.save(); err != nil {
		t.Fatal(err)
	}
	if err := c2.save(); err != nil {
		t.Fatal(err)
	}
	c := newHashCache(openTestDB(t, data))
	if n := len(cacheRecords(t, data)); n != 2 {
		t.Fatalf("cache after two writers: %d entries", n)
	}
	if c.get("/d/one", fileKey{Size: 1, MTime: 1}) == nil || c.get("/d/one", fileKey{Size: 1, MTime: 3}) != nil {
		t.Fatal("lookup by key wrong")
	}
	if got := c.get("/d/two", fileKey{Size: 1, MTime: 2}); got == nil || got.cid != fh.cid {
		t.Fatalf("entry of the other writer: %+v", got)
	}
}

// A lookup of an entry unused for longer than touchEvery records the use;
// entries unused for hashCacheMaxAge are deleted.
func TestHashCacheAgesOut(t *testing.T) {
	data := t.TempDir()
	d := openTestDB(t, data)
	h, _ := HashReader(strings.NewReader("x"), nil)
	b, _ := h.MarshalBinary()
	now := time.Now()
	old := now.Add(-2 * touchEvery).Unix()
	ancient := now.Add(-hashCacheMaxAge - time.Hour).Unix()
	err := d.UpdateHashes([]db.HashRecord{
		{Path: "/d/old", Size: 1, MTime: 1, Seen: old, Hashes: b, Rules: secretRulesVersion},
		{Path: "/d/ancient", Size: 1, MTime: 1, Seen: ancient, Hashes: b, Rules: secretRulesVersion},
	}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := newHashCache(d)
	if c.get("/d/old", fileKey{Size: 1, MTime: 1}) == nil {
		t.Fatal("entry missed")
	}
	if err := c.save(); err != nil {
		t.Fatal(err)
	}
	recs := cacheRecords(t, data)
	if r, ok := recs["/d/old"]; !ok || r.Seen < now.Unix() {
		t.Errorf("used entry: %+v, %v", r, ok)
	}
	if _, ok := recs["/d/ancient"]; ok {
		t.Error("unused entry kept")
	}
}

// openTestDB opens the database of data for the test's duration.
func openTestDB(t *testing.T, data string) *db.DB {
	t.Helper()
	d, err := db.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// cacheRecords reads every hash cache entry of data's database, by path.
func cacheRecords(t *testing.T, data string) map[string]db.HashRecord {
	t.Helper()
	d, err := db.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := map[string]db.HashRecord{}
	if err := d.EachHash(func(r db.HashRecord) error { m[r.Path] = r; return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

// hashcache.json of an earlier version (an array of records with the hashes
// in base64) is imported on the first start. Its records were never checked
// for secrets, so each file is read once more for that check (and keeps its
// content id); after that nothing is read again.
func TestHashCacheMigratedFromJSON(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	type record struct {
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		MTime  int64  `json:"mtime"`
		Ino    uint64 `json:"ino,omitempty"`
		Hashes []byte `json:"hashes"`
		Seen   int64  `json:"seen"`
	}
	var recs []record
	for _, name := range []string{"a.txt", "b.txt"} {
		p := filepath.Join(src, name)
		writeFile(t, p, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := HashReader(strings.NewReader(name), nil)
		b, _ := h.MarshalBinary()
		recs = append(recs, record{Path: p, Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Ino: inodeOf(fi), Hashes: b, Seen: time.Now().Unix()})
	}
	raw, _ := json.Marshal(recs)
	writeFile(t, filepath.Join(data, "hashcache.json"), string(raw))
	l := openLib(t, data, LibraryOptions{}, src)
	if n := len(cacheRecords(t, data)); n != 2 {
		t.Fatalf("imported %d records, want 2", n)
	}
	hashAll(t, l)
	if n := l.hashedFiles.Load(); n != 2 {
		t.Fatalf("read %d files for the secret check, want 2", n)
	}
	l.Close()
	l = openLib(t, data, LibraryOptions{})
	hashAll(t, l)
	if n := l.hashedFiles.Load(); n != 0 {
		t.Fatalf("read %d files again after the check", n)
	}
	if _, err := os.Stat(filepath.Join(data, "hashcache.json.migrated")); err != nil {
		t.Fatal(err)
	}
}
