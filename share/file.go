package share

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// checkSame returns ErrChanged unless the open file still has n's size and
// modification time.
func checkSame(f *os.File, n *node) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() != n.size || !fi.ModTime().Equal(n.mtime) {
		return ErrChanged
	}
	return nil
}

// File is an open shared file, the same version the index lists. ReadAt
// returns ErrChanged once the file's size or modification time differs from
// that version, so bytes of two versions are never mixed. Safe for concurrent
// ReadAt calls.
type File struct {
	f *os.File
	n *node
	e Entry
}

var _ io.ReaderAt = (*File)(nil)

// Open opens the shared file at tree path p through its item's os.Root. It
// fails with ErrBadPath for a malformed path, ErrNotFound for anything not
// listed (including folders) and ErrChanged if the file changed since the
// last scan.
func (l *Library) Open(p string) (*File, error) {
	_, n, err := l.find(p)
	if err != nil {
		return nil, err
	}
	if n == nil || n.dir {
		return nil, fmt.Errorf("%w: %s is a folder", ErrNotFound, p)
	}
	return openNode(n)
}

func openNode(n *node) (*File, error) {
	f, err := n.root.root.OpenFile(filepath.FromSlash(n.rel), openReadFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotFound, n.path, err)
	}
	if err := checkSame(f, n); err != nil {
		f.Close()
		return nil, err
	}
	return &File{f: f, n: n, e: n.entry()}, nil
}

// OpenContent opens any shared file whose content id is cid: ErrBadContentID
// if cid is malformed, ErrNotFound if none is shared, ErrChanged if every
// candidate changed since it was hashed.
func (l *Library) OpenContent(cid string) (*File, error) {
	if !ValidContentID(cid) {
		return nil, ErrBadContentID
	}
	t := l.tree.Load()
	t.mu.Lock()
	cands := slices.Clone(t.byCID[cid])
	t.mu.Unlock()
	err := fmt.Errorf("%w: %s", ErrNotFound, cid)
	for _, n := range cands {
		f, oerr := openNode(n)
		if oerr == nil {
			return f, nil
		}
		err = oerr
	}
	return nil, err
}

// Entry returns the file's entry as listed when it was opened.
func (f *File) Entry() Entry { return f.e }

// ReadAt reads like io.ReaderAt, then returns 0 and ErrChanged if the file
// changed meanwhile.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	if cerr := checkSame(f.f, f.n); cerr != nil {
		return 0, ErrChanged
	}
	return n, err
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }
