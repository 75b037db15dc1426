package share

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestOriginURL(t *testing.T) {
	for _, tc := range []struct{ id, p, want string }{
		{"0b5e3c1e-8a2d-4f69-9d4b-2f1b8e7a6c10", "album/cd1/01.flac", "porch://0b5e3c1e-8a2d-4f69-9d4b-2f1b8e7a6c10/album/cd1/01.flac"},
		{"id", "Été 2024/a b#?.txt", "porch://id/%C3%89t%C3%A9%202024/a%20b%23%3F.txt"},
		{"id", "100%/x", "porch://id/100%25/x"},
	} {
		if got := OriginURL(tc.id, tc.p); got != tc.want {
			t.Errorf("OriginURL(%q, %q) = %q, want %q", tc.id, tc.p, got, tc.want)
		}
	}
}

// xattrsHere skips the test unless the filesystem of dir keeps user
// extended attributes.
func xattrsHere(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "probe"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := setOrigin(f, "porch://probe/"); err != nil {
		t.Skipf("the filesystem of %s keeps no user extended attributes (%v); nothing to check", dir, err)
	}
}

// A finished download carries its origin and is never executable, whether
// it came in blocks (Partial) or whole (Dir.PutFrom).
func TestDownloadsCarryOrigin(t *testing.T) {
	dir := t.TempDir()
	xattrsHere(t, dir)
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	data, h := content(t, 2*BlockSize+5, 9)
	p, err := s.OpenPartial("big.bin", h)
	if err != nil {
		t.Fatal(err)
	}
	big := OriginURL("peer-a", "videos/big.bin")
	if err := p.MarkOrigin(big); err != nil {
		t.Fatal(err)
	}
	for i := range h.Blocks {
		if err := p.WriteBlock(i, data[i*BlockSize:min(len(data), (i+1)*BlockSize)]); err != nil {
			t.Fatal(err)
		}
	}
	final, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	small, sh := content(t, 100, 3)
	d, err := s.OpenDir("")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	smallURL := OriginURL("peer-b", "docs/a.txt")
	sfinal, originErr, err := d.PutFrom("a.txt", sh.ContentID(), small, smallURL)
	if err != nil || originErr != nil {
		t.Fatalf("PutFrom: %v, origin %v", err, originErr)
	}
	for name, want := range map[string]string{final: big, sfinal: smallURL} {
		abs := filepath.Join(dir, filepath.FromSlash(name))
		if got := Origin(abs); got != want {
			t.Errorf("%s: origin %q, want %q", name, got, want)
		}
		fi, err := os.Stat(abs)
		// 0644 less the umask: readable, never executable.
		if err != nil || fi.Mode().Perm()&0o111 != 0 || fi.Mode().Perm()&0o600 != 0o600 || fi.Mode().Perm()&^0o644 != 0 {
			t.Errorf("%s: mode %v (%v), want 0644 at most and never executable", name, fi.Mode(), err)
		}
	}
}

// A file whose filesystem refuses the attribute gives ErrNoOrigin, which
// the writers report beside the file instead of failing it.
func TestOriginRefused(t *testing.T) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if err := setOrigin(f, "porch://x/y"); !errors.Is(err, ErrNoOrigin) {
		t.Fatalf("setOrigin on procfs = %v, want ErrNoOrigin", err)
	}
	if err := setOrigin(f, ""); err != nil {
		t.Fatalf("no origin: %v", err)
	}
}
