package share

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// ReadSmall reads a small shared file whole by its content id, the version
// the index lists: a file over the limit is not read but its size is told,
// a changed file is ErrChanged, an unknown id ErrNotFound.
func TestReadSmall(t *testing.T) {
	src := t.TempDir()
	item := filepath.Base(src)
	block := bytes.Repeat([]byte{7}, BlockSize)
	writeFile(t, filepath.Join(src, "a.txt"), "alpha")
	writeFile(t, filepath.Join(src, "sub", "block.bin"), string(block))
	writeFile(t, filepath.Join(src, "empty"), "")
	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	hashAll(t, l)
	cid := func(p string) string {
		t.Helper()
		e, err := l.Stat(item + "/" + p)
		if err != nil || e.ContentID == "" {
			t.Fatalf("%s: %+v %v", p, e, err)
		}
		return e.ContentID
	}
	buf := make([]byte, BlockSize)
	for p, want := range map[string][]byte{"a.txt": []byte("alpha"), "sub/block.bin": block, "empty": {}} {
		got, size, err := l.ReadSmall(cid(p), BlockSize, buf)
		if err != nil || size != int64(len(want)) || !bytes.Equal(got, want) {
			t.Errorf("ReadSmall(%s) = %d bytes, size %d, %v", p, len(got), size, err)
		}
	}
	if got, size, err := l.ReadSmall(cid("a.txt"), 4, buf); got != nil || size != 5 || err != nil {
		t.Errorf("over the limit: %q, %d, %v; want nothing read and size 5", got, size, err)
	}
	if got, size, err := l.ReadSmall(cid("sub/block.bin"), BlockSize, buf[:10]); got != nil || size != BlockSize || err != nil {
		t.Errorf("over the buffer: %d bytes, %d, %v", len(got), size, err)
	}
	missing := Hashes{Size: 1, Blocks: [][HashSize]byte{{9}}}.ContentID()
	if _, _, err := l.ReadSmall(missing, BlockSize, buf); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown content id: %v, want ErrNotFound", err)
	}
	if _, _, err := l.ReadSmall("nonsense", BlockSize, buf); !errors.Is(err, ErrBadContentID) {
		t.Errorf("malformed content id: %v", err)
	}
	old := cid("a.txt")
	writeFile(t, filepath.Join(src, "a.txt"), "ALPHA")
	later := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(src, "a.txt"), later, later)
	if _, _, err := l.ReadSmall(old, BlockSize, buf); !errors.Is(err, ErrChanged) {
		t.Errorf("changed since it was indexed: %v, want ErrChanged", err)
	}
}

// The direct read stays beneath the item's folder and follows no symbolic
// link (those go through the os.Root, which vets them), and reads only the
// version it is told.
func TestReadBeneath(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("openat2 is Linux's")
	}
	base := t.TempDir()
	src := filepath.Join(base, "shared")
	writeFile(t, filepath.Join(src, "real.txt"), "real")
	writeFile(t, filepath.Join(base, "outside.txt"), "secret")
	if err := os.Symlink("real.txt", filepath.Join(src, "inside.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..", filepath.Join(src, "up")); err != nil {
		t.Fatal(err)
	}
	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	r := l.roots[src]
	if r == nil || r.folder == nil {
		t.Fatalf("no open root for %s: %+v", src, l.roots)
	}
	fi, err := os.Stat(filepath.Join(src, "real.txt"))
	if err != nil {
		t.Fatal(err)
	}
	size, mtime := fi.Size(), fi.ModTime().UnixNano()
	buf := make([]byte, 16)
	if err := readBeneath(r, "real.txt", size, mtime, buf[:size]); err != nil || string(buf[:size]) != "real" {
		t.Fatalf("real.txt: %q %v", buf[:size], err)
	}
	for _, p := range []string{"inside.txt", "up/outside.txt", "../outside.txt", filepath.Join(base, "outside.txt")} {
		if err := readBeneath(r, p, 6, mtime, buf[:6]); !errors.Is(err, errNoFastRead) {
			t.Errorf("%s: %v, want errNoFastRead", p, err)
		}
	}
	if err := readBeneath(r, "real.txt", size+1, mtime, buf[:size+1]); !errors.Is(err, ErrChanged) {
		t.Errorf("another size: %v, want ErrChanged", err)
	}
	if err := readBeneath(r, "real.txt", size, mtime+1, buf[:size]); !errors.Is(err, ErrChanged) {
		t.Errorf("another time: %v, want ErrChanged", err)
	}
}
