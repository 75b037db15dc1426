//go:build unix

package share

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestLibraryFIFO checks that a pipe is never listed and that a listed file
// swapped for a pipe fails at once instead of blocking the server.
func TestLibraryFIFO(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f.txt"), "f")
	if err := syscall.Mkfifo(filepath.Join(src, "pipe"), 0o644); err != nil {
		t.Skip("no FIFOs:", err)
	}
	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	item := filepath.Base(src)
	if _, err := l.Stat(item + "/pipe"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("FIFO listed: %v", err)
	}
	os.Remove(filepath.Join(src, "f.txt"))
	if err := syscall.Mkfifo(filepath.Join(src, "f.txt"), 0o644); err != nil {
		t.Fatal(err)
	}
	if f, err := l.Open(item + "/f.txt"); err == nil {
		f.Close()
		t.Fatal("opened a FIFO")
	}
}
