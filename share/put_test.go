package share

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// openDir creates folder rel in a fresh store and opens it for Dir.Put.
func openDir(t *testing.T, rel string) (*Store, *Dir) {
	t.Helper()
	s := openStore(t)
	if err := s.MkdirAll(rel); err != nil {
		t.Fatal(err)
	}
	d, err := s.OpenDir(rel)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return s, d
}

// folderNames lists folder rel of s, sorted.
func folderNames(t *testing.T, s *Store, rel string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(s.Dir(), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func mustRead(t *testing.T, s *Store, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir(), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Files put into an opened folder get their names, their bytes and no
// execute bits, and nothing else is left there.
func TestDirPut(t *testing.T) {
	for _, noReplace := range []bool{true, false} {
		t.Run(fmt.Sprintf("renameat2=%v", noReplace), func(t *testing.T) {
			s, d := openDir(t, "album/disc 1")
			d.noReplace.Store(noReplace) // false: the hard-link fallback
			want := map[string][]byte{}
			for i, n := range []int{0, 1, 4096, BlockSize} {
				b, h := content(t, n, uint64(i))
				name := fmt.Sprintf("f%d.bin", i)
				got, err := d.Put(name, h.ContentID(), b)
				if err != nil {
					t.Fatal(err)
				}
				if got != "album/disc 1/"+name {
					t.Errorf("Put returned %q", got)
				}
				want[name] = b
			}
			for name, b := range want {
				rel := "album/disc 1/" + name
				if !bytes.Equal(mustRead(t, s, rel), b) {
					t.Errorf("%s: bytes differ", name)
				}
				fi, err := os.Stat(filepath.Join(s.Dir(), filepath.FromSlash(rel)))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm()&0o111 != 0 {
					t.Errorf("%s: mode %v has execute bits", name, fi.Mode())
				}
			}
			if got := folderNames(t, s, "album/disc 1"); !slices.Equal(got, []string{"f0.bin", "f1.bin", "f2.bin", "f3.bin"}) {
				t.Errorf("folder holds %q", got)
			}
		})
	}
}

// A name that is taken, by a file or a folder, gives "name (1).ext",
// "name (2).ext"; nothing that exists is overwritten.
func TestDirPutClash(t *testing.T) {
	for _, noReplace := range []bool{true, false} {
		t.Run(fmt.Sprintf("renameat2=%v", noReplace), func(t *testing.T) {
			s, d := openDir(t, "docs")
			d.noReplace.Store(noReplace)
			old := []byte("the finished file already here")
			if err := os.WriteFile(filepath.Join(s.Dir(), "docs", "a.txt"), old, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(s.Dir(), "docs", "a (1).txt"), 0o755); err != nil {
				t.Fatal(err)
			}
			b, h := content(t, 100, 9)
			got, err := d.Put("a.txt", h.ContentID(), b)
			if err != nil {
				t.Fatal(err)
			}
			if got != "docs/a (2).txt" {
				t.Errorf("Put returned %q, want docs/a (2).txt", got)
			}
			if !bytes.Equal(mustRead(t, s, "docs/a.txt"), old) {
				t.Error("the existing file was changed")
			}
			if !bytes.Equal(mustRead(t, s, "docs/a (2).txt"), b) {
				t.Error("the new file's bytes differ")
			}
			if got := folderNames(t, s, "docs"); !slices.Equal(got, []string{"a (1).txt", "a (2).txt", "a.txt"}) {
				t.Errorf("folder holds %q", got)
			}
		})
	}
}

// Writers racing for one name each get a name of their own, with their own
// complete bytes.
func TestDirPutRace(t *testing.T) {
	s, d := openDir(t, "")
	const n = 16
	var wg sync.WaitGroup
	finals := make([]string, n)
	datas := make([][]byte, n)
	for i := range n {
		b, h := content(t, 3000+i, uint64(100+i))
		datas[i] = b
		wg.Go(func() {
			f, err := d.Put("same.dat", h.ContentID(), b)
			if err != nil {
				t.Error(err)
			}
			finals[i] = f
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, f := range finals {
		if seen[f] {
			t.Fatalf("%q given twice", f)
		}
		seen[f] = true
		if !bytes.Equal(mustRead(t, s, f), datas[i]) {
			t.Errorf("%s: bytes differ", f)
		}
	}
	if got := len(folderNames(t, s, "")); got != n {
		t.Errorf("%d entries, want %d", got, n)
	}
}

// Bytes that do not match the content id, hostile names, bad ids and files
// over one block are refused before anything is created.
func TestDirPutRefuses(t *testing.T) {
	s, d := openDir(t, "in")
	b, h := content(t, 500, 3)
	cid := h.ContentID()
	other := slices.Clone(b)
	other[0] ^= 1
	if _, err := d.Put("x.bin", cid, other); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("wrong bytes: %v, want ErrHashMismatch", err)
	}
	for _, name := range []string{"", ".", "..", "../x", "a/b", `a\b`, "x.partial", "y.partial.state", "NUL", "bad\x00", "trail."} {
		if _, err := d.Put(name, cid, b); !errors.Is(err, ErrBadName) {
			t.Errorf("Put(%q): %v, want ErrBadName", name, err)
		}
	}
	if _, err := d.Put("x.bin", "p1-nope", b); err == nil {
		t.Error("a malformed content id was accepted")
	}
	big, bh := content(t, BlockSize+1, 4)
	if _, err := d.Put("big.bin", bh.ContentID(), big); !errors.Is(err, ErrHashMismatch) {
		t.Errorf("two blocks: %v, want ErrHashMismatch", err)
	}
	if got := folderNames(t, s, "in"); len(got) != 0 {
		t.Errorf("refused puts left %q", got)
	}
	if got := folderNames(t, s, ""); !slices.Equal(got, []string{"in"}) {
		t.Errorf("the download folder holds %q", got)
	}
}

// A crash after the bytes are written and before the rename leaves only a
// partial file, never the final name. The next Put of that file writes a
// partial of its own beside the leftover (which may be another download's,
// still being written) and takes the name; DiscardPartials removes the
// leftover.
func TestDirPutCrashBeforeRename(t *testing.T) {
	s, d := openDir(t, "m")
	b, h := content(t, 4096, 5)
	cid := h.ContentID()
	part, err := d.writePartial("song.ogg", cid, b, "", new(error))
	if err != nil {
		t.Fatal(err)
	}
	// The crash: nothing after writePartial runs.
	if got := folderNames(t, s, "m"); !slices.Equal(got, []string{part}) || !strings.HasSuffix(part, partialSuffix) {
		t.Fatalf("after the crash the folder holds %q, want only the partial", got)
	}
	d2, err := s.OpenDir("m")
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if d2.HaveContent("song.ogg", 4096, cid) {
		t.Error("HaveContent reports a file that has no final name")
	}
	got, err := d2.Put("song.ogg", cid, b)
	if err != nil {
		t.Fatal(err)
	}
	if got != "m/song.ogg" || !bytes.Equal(mustRead(t, s, got), b) {
		t.Errorf("Put after the crash wrote %q", got)
	}
	if left := folderNames(t, s, "m"); !slices.Equal(left, []string{"song.ogg", part}) {
		t.Errorf("folder holds %q, want the leftover partial and the file", left)
	}
	if err := s.DiscardPartials("m/song.ogg"); err != nil {
		t.Fatal(err)
	}
	if left := folderNames(t, s, "m"); !slices.Equal(left, []string{"song.ogg"}) {
		t.Errorf("after DiscardPartials the folder holds %q", left)
	}
}

// HaveContent answers from the names the folder held when it was opened,
// and checks the bytes of those.
func TestDirHaveContent(t *testing.T) {
	s := openStore(t)
	b, h := content(t, 2000, 6)
	cid := h.ContentID()
	if _, err := s.Put("f/here.bin", h, b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "f", "other.bin"), []byte("different"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := s.OpenDir("f")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	switch {
	case !d.HaveContent("here.bin", 2000, cid):
		t.Error("the file that is there is not reported")
	case d.HaveContent("other.bin", 2000, cid):
		t.Error("a file with other bytes is reported")
	case d.HaveContent("missing.bin", 2000, cid):
		t.Error("a missing file is reported")
	case d.HaveContent("../f/here.bin", 2000, cid):
		t.Error("a path is accepted as a name")
	}
}

// OpenDir does not create folders (they are made once, up front) and stays
// inside the store.
func TestOpenDir(t *testing.T) {
	s := openStore(t)
	if _, err := s.OpenDir("missing"); err == nil {
		t.Error("OpenDir opened a folder that does not exist")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenDir created the folder: %v", err)
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "link")); err != nil {
		t.Fatal(err)
	}
	if d, err := s.OpenDir("link"); err == nil {
		d.Close()
		t.Error("OpenDir followed a symlink out of the store")
	}
	for _, rel := range []string{"..", "../x", "/abs", "a/../../b"} {
		if d, err := s.OpenDir(rel); err == nil {
			d.Close()
			t.Errorf("OpenDir(%q) succeeded", rel)
		}
	}
	d, err := s.OpenDir("")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b, h := content(t, 10, 7)
	if got, err := d.Put("top.txt", h.ContentID(), b); err != nil || got != "top.txt" {
		t.Errorf("Put at the top: %q, %v", got, err)
	}
}
