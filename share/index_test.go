package share

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// bigTree writes dirs folders of per files (and one nested folder in each)
// below root/big and returns the slash paths of every file, in walk order.
func bigTree(t *testing.T, root string, dirs, per int) []string {
	t.Helper()
	var files []string
	for d := range dirs {
		dir := filepath.Join(root, "big", fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "sub", "Inner.txt"), fmt.Sprintf("inner %d", d))
		files = append(files, fmt.Sprintf("big/d%03d/sub/Inner.txt", d))
		for f := range per {
			name := fmt.Sprintf("f%04d.txt", f)
			writeFile(t, filepath.Join(dir, name), fmt.Sprintf("%d/%d", d, f))
			files = append(files, fmt.Sprintf("big/d%03d/%s", d, name))
		}
	}
	return files
}

// TestIndexLargeTree checks every lookup of a tree of a few thousand files
// against what is on disk: paths built on demand, binary search by name,
// totals, walks from any point and search.
func TestIndexLargeTree(t *testing.T) {
	src := t.TempDir()
	const dirs, per = 20, 150
	files := bigTree(t, src, dirs, per)
	l := openLib(t, t.TempDir(), LibraryOptions{}, filepath.Join(src, "big"))

	n, size := l.Totals()
	if n != len(files) {
		t.Fatalf("Totals: %d files, want %d", n, len(files))
	}
	for _, p := range files {
		e, err := l.Stat(p)
		if err != nil {
			t.Fatalf("Stat(%q): %v", p, err)
		}
		if e.Path != p || e.Name != filepath.Base(p) || e.Dir {
			t.Fatalf("Stat(%q) = %+v", p, e)
		}
		size -= e.Size
	}
	if size != 0 {
		t.Fatalf("sizes add up to %d less than Totals", -size)
	}
	for _, p := range []string{"big/d000/F0001.txt", "big/d000/f0001.tx", "big/d999", "big/d000/sub/inner.txt", "big/d000/f0001.txt/x"} {
		if _, err := l.Stat(p); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(%q): %v, want ErrNotFound", p, err)
		}
	}

	es := mustList(t, l, "big/d007")
	if len(es) != per+1 || es[0].Name != "sub" || !es[0].Dir || es[0].Files != 1 {
		t.Fatalf("List: %d entries, first %+v", len(es), es[0])
	}
	for i, e := range es[1:] {
		if want := fmt.Sprintf("big/d007/f%04d.txt", i); e.Path != want {
			t.Fatalf("entry %d is %q, want %q", i+1, e.Path, want)
		}
	}

	var all []string
	if err := l.Walk("", func(e Entry) error { all = append(all, e.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := 1 + dirs*(2+1+per); len(all) != want {
		t.Fatalf("Walk visited %d entries, want %d", len(all), want)
	}
	for _, skip := range []int{0, 1, 2, 3, 150, 153, 154, 155, 1000, len(all) - 1, len(all), len(all) + 5} {
		var got []string
		if err := l.WalkFrom("", skip, func(e Entry) error { got = append(got, e.Path); return nil }); err != nil {
			t.Fatal(err)
		}
		if want := all[min(skip, len(all)):]; !slices.Equal(got, want) {
			t.Fatalf("WalkFrom(%d): %d entries, want %d", skip, len(got), len(want))
		}
	}
	var below []string
	if err := l.WalkFrom("big/d003", 2, func(e Entry) error { below = append(below, e.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(below) != per+1 || below[0] != "big/d003/sub/Inner.txt" {
		t.Fatalf("WalkFrom a folder: %d entries, first %v", len(below), below[:1])
	}

	found := l.Search("f0149 ext:txt", 0)
	if len(found) != dirs || found[0].Path != "big/d000/f0149.txt" {
		t.Fatalf("Search: %d results, first %+v", len(found), found[0])
	}
	if found := l.Search("inner", 0); len(found) != dirs || found[dirs-1].Path != fmt.Sprintf("big/d%03d/sub/Inner.txt", dirs-1) {
		t.Fatalf("Search for a name in capitals: %v", names(found))
	}
	if found := l.Search("type:folder sub", 5); len(found) != 5 {
		t.Fatalf("Search with a limit: %d results", len(found))
	}
}

// TestIndexFindMixedCase checks the binary search where names differ only
// in case, sort apart from bytes, or a folder and a file share a name's fold.
func TestIndexFindMixedCase(t *testing.T) {
	src := t.TempDir()
	for _, n := range []string{"b", "B", "a.txt", "A.txt", "Zed", "zed", "é.txt", "_x", "~y", "10", "9"} {
		writeFile(t, filepath.Join(src, "m", n), n)
	}
	writeFile(t, filepath.Join(src, "m", "Dir", "in"), "in")
	writeFile(t, filepath.Join(src, "m", "dir", "in"), "in2")
	l := openLib(t, t.TempDir(), LibraryOptions{}, filepath.Join(src, "m"))
	es := mustList(t, l, "m")
	if len(es) != 13 {
		t.Fatalf("listed %v", names(es))
	}
	for _, e := range es {
		got, err := l.Stat(e.Path)
		if err != nil || got.Path != e.Path || got.Dir != e.Dir || got.Size != e.Size {
			t.Errorf("Stat(%q) = %+v, %v; listed %+v", e.Path, got, err, e)
		}
	}
	if e, err := l.Stat("m/dir/in"); err != nil || e.Size != 3 {
		t.Errorf("Stat(m/dir/in) = %+v, %v", e, err)
	}
}

// TestIndexRescanKeepsUnchangedFolders checks that a rescan keeps the very
// folders of the previous snapshot where nothing changed, and builds again
// only a changed folder and those above it, keeping content ids.
func TestIndexRescanKeepsUnchangedFolders(t *testing.T) {
	src := t.TempDir()
	bigTree(t, src, 5, 10)
	l := openLib(t, t.TempDir(), LibraryOptions{}, filepath.Join(src, "big"))
	hashAll(t, l)
	before := slices.Clone(l.tree.Load().folders)
	v := l.Version()
	if err := l.Rescan(); err != nil {
		t.Fatal(err)
	}
	if after := l.tree.Load().folders; !slices.Equal(before, after) {
		t.Fatal("a rescan that found nothing new built folders again")
	}
	if l.Version() != v {
		t.Fatal("the version moved without a change")
	}
	cid := mustStat(t, l, "big/d001/f0001.txt").ContentID
	if cid == "" {
		t.Fatal("no content id after hashing")
	}

	writeFile(t, filepath.Join(src, "big", "d003", "new.txt"), "new")
	if err := l.Rescan(); err != nil {
		t.Fatal(err)
	}
	after := l.tree.Load().folders
	var rebuilt []string
	for i, f := range after {
		if f != before[i] {
			rebuilt = append(rebuilt, f.path)
		}
	}
	if len(after) != len(before) || !slices.Equal(rebuilt, []string{"big", "big/d003"}) {
		t.Fatalf("rebuilt %v", rebuilt)
	}
	if l.Version() == v {
		t.Fatal("the version did not move with a new file")
	}
	if got := mustStat(t, l, "big/d001/f0001.txt").ContentID; got != cid {
		t.Fatalf("content id %q after the rescan, want %q", got, cid)
	}
	if got := mustStat(t, l, "big/d003/f0001.txt").ContentID; got == "" {
		t.Fatal("a rebuilt folder lost its files' content ids")
	}
	if !l.Has(cid) {
		t.Fatal("Has lost a content id in a folder kept by the rescan")
	}
}

// TestIndexHashesFromCacheOrFile checks that block hashes, not kept in
// memory, come from the hash cache, and from the file itself once the cache
// lost them.
func TestIndexHashesFromCacheOrFile(t *testing.T) {
	src := t.TempDir()
	big := strings.Repeat("x", BlockSize+10)
	writeFile(t, filepath.Join(src, "s", "big.bin"), big)
	writeFile(t, filepath.Join(src, "s", "small.txt"), "small")
	data := t.TempDir()
	l := openLib(t, data, LibraryOptions{}, filepath.Join(src, "s"))
	hashAll(t, l)
	if err := l.cache.save(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"s/big.bin", "s/small.txt"} {
		e := mustStat(t, l, p)
		h, err := l.Hashes(e.ContentID)
		if err != nil || h.Size != e.Size || h.ContentID() != e.ContentID {
			t.Fatalf("Hashes(%s) = %v, %v", p, h.Size, err)
		}
	}
	if _, err := l.opts.DB.ExpireHashes(time.Now().Add(time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	l.cache = newHashCache(l.opts.DB) // forget the folders read so far
	e := mustStat(t, l, "s/big.bin")
	h, err := l.Hashes(e.ContentID)
	if err != nil || len(h.Blocks) != 2 || h.ContentID() != e.ContentID {
		t.Fatalf("Hashes without the cache = %d blocks, %v", len(h.Blocks), err)
	}
	// A file changed since it was hashed gives no hashes for the old content.
	writeFile(t, filepath.Join(src, "s", "big.bin"), big[:BlockSize])
	l.cache = newHashCache(l.opts.DB)
	if _, err := l.opts.DB.ExpireHashes(time.Now().Add(time.Hour).Unix()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Hashes(e.ContentID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Hashes of a changed file: %v, want ErrNotFound", err)
	}
	if _, err := l.Hashes("p1-" + strings.Repeat("0", 64)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Hashes of unknown content: %v", err)
	}
	if l.Has("not a content id") {
		t.Fatal("Has accepted a malformed id")
	}
}

// TestIndexHashingBesideRescans hashes while rescans publish new snapshots
// and checks that every content id ends up where Has and OpenContent find
// it.
func TestIndexHashingBesideRescans(t *testing.T) {
	src := t.TempDir()
	files := bigTree(t, src, 8, 40)
	l := openLib(t, t.TempDir(), LibraryOptions{HashWorkers: 2}, filepath.Join(src, "big"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			writeFile(t, filepath.Join(src, "big", "d000", "churn.txt"), time.Now().String())
			if err := l.Rescan(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	l.hashPending(context.Background())
	cancel()
	<-done
	hashAll(t, l)
	for _, p := range files {
		e := mustStat(t, l, p)
		if e.ContentID == "" || !l.Has(e.ContentID) {
			t.Fatalf("%s: content id %q not found", p, e.ContentID)
		}
		f, err := l.OpenContent(e.ContentID)
		if err != nil {
			t.Fatalf("OpenContent(%s): %v", p, err)
		}
		f.Close()
	}
}

func mustStat(t *testing.T, l *Library, p string) Entry {
	t.Helper()
	e, err := l.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
