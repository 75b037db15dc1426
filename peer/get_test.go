package peer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"porch/share"
)

// A folder of small files in more folders than the writers keep open at
// once arrives whole: a file of the download whose name is taken by a
// different file here becomes "name (1).ext" and the file here is left
// alone, a file already here with the same bytes is skipped, and no partial
// file is left.
func TestGetManySmallFilesInManyFolders(t *testing.T) {
	b := newBus()
	alice := start(t, testOptions(t, b, "Alice"))
	src := filepath.Join(t.TempDir(), "many")
	files := map[string][]byte{}
	for i := range 3 * maxOpenDirs {
		// Folders interleave in the listing's order with their files
		// and their subfolders'.
		rel := fmt.Sprintf("d%03d/f%d.txt", i%(2*maxOpenDirs), i)
		if i%3 == 0 {
			rel = fmt.Sprintf("d%03d/sub/f%d.txt", i%(2*maxOpenDirs), i)
		}
		files[rel] = fmt.Appendf(nil, "file %d: %s", i, strings.Repeat("x", i))
		writeFile(t, src, rel, files[rel])
	}
	if _, err := alice.AddShares(src); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(t, b, "")
	opts.ClientOnly = true
	me := start(t, opts)
	waitFor(t, "alice hashed and online", func() bool { return hashed(alice.Engine) && online(me.Engine, alice.ID()) })

	dir := t.TempDir()
	here := []byte("a different file that was here first")
	writeFile(t, dir, "many/d001/f1.txt", here)
	writeFile(t, dir, "many/d002/f2.txt", files["d002/f2.txt"])
	res, err := me.Get(context.Background(), alice.ID(), "many", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Files != len(files)-1 || res.SkippedBytes != int64(len(files["d002/f2.txt"])) {
		t.Errorf("result %+v: want %d files written and one skipped", res, len(files)-1)
	}
	for rel, want := range files {
		if rel == "d001/f1.txt" {
			rel = "d001/f1 (1).txt"
		}
		got, err := os.ReadFile(filepath.Join(dir, "many", filepath.FromSlash(rel)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %q, %v", rel, got, err)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "many", "d001", "f1.txt")); !bytes.Equal(got, here) {
		t.Errorf("the file that was here first now holds %q", got)
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".partial") {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

// The folder cache keeps at most maxOpenDirs folders open when nobody uses
// them, closes the least recently used first and opens a closed one again.
func TestDirCache(t *testing.T) {
	store, err := share.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := &dirCache{store: store, open: map[string]*cachedDir{}}
	defer c.closeAll()
	for i := range 2 * maxOpenDirs {
		if err := store.MkdirAll(fmt.Sprintf("d%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	held, name, releaseHeld, err := c.acquire("d0/kept.txt")
	if err != nil || name != "kept.txt" {
		t.Fatalf("acquire: %q, %v", name, err)
	}
	for i := 1; i < 2*maxOpenDirs; i++ {
		_, _, release, err := c.acquire(fmt.Sprintf("d%d/f", i))
		if err != nil {
			t.Fatal(err)
		}
		release()
		if len(c.open) > maxOpenDirs {
			t.Fatalf("%d folders open", len(c.open))
		}
	}
	if c.open["d0"] == nil || c.open["d0"].d != held {
		t.Error("a folder in use was closed")
	}
	releaseHeld()
	if _, ok := c.open["d1"]; ok {
		t.Error("the least recently used folder is still open")
	}
	d, _, release, err := c.acquire("d1/again")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := d.Put("again", "p1-"+strings.Repeat("0", 64), nil); err == nil {
		t.Error("Put accepted bytes that do not match the content id")
	}
}
