package share

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// checkSame returns ErrChanged unless the open file still has size bytes
// and modification time mtime (Unix nanoseconds).
func checkSame(f *os.File, size, mtime int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() != size || fi.ModTime().UnixNano() != mtime {
		return ErrChanged
	}
	return nil
}

// File is an open shared file, the same version the index lists. ReadAt
// returns ErrChanged once the file's size or modification time differs from
// that version, so bytes of two versions are never mixed. Safe for concurrent
// ReadAt calls.
type File struct {
	f     *os.File
	size  int64
	mtime int64
	e     Entry
}

var _ io.ReaderAt = (*File)(nil)

// Open opens the shared file at tree path p through its item's os.Root. It
// fails with ErrBadPath for a malformed path, ErrNotFound for anything not
// listed (including folders) and ErrChanged if the file changed since the
// last scan.
func (v *View) Open(p string) (*File, error) {
	_, n, ok, err := v.find(p)
	if err != nil {
		return nil, err
	}
	if !ok || n.isDir() {
		return nil, fmt.Errorf("%w: %s is a folder", ErrNotFound, p)
	}
	return openNode(n)
}

// openNode opens file n through its item's root.
func openNode(n nodeRef) (*File, error) {
	f, err := n.f.root.root.OpenFile(filepath.FromSlash(n.f.childRel(n.i)), openReadFlags, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotFound, n.f.childPath(n.i), err)
	}
	k := n.f.kids[n.i]
	if err := checkSame(f, k.size, k.mtime); err != nil {
		f.Close()
		return nil, err
	}
	return &File{f: f, size: k.size, mtime: k.mtime, e: n.entry()}, nil
}

// OpenContent opens any shared file the view sees whose content id is cid:
// ErrBadContentID if cid is malformed, ErrNotFound if none is shared (files
// with those bytes in items the view does not see are not candidates),
// ErrChanged if every candidate changed since it was hashed.
func (v *View) OpenContent(cid string) (*File, error) {
	if !ValidContentID(cid) {
		return nil, ErrBadContentID
	}
	cands := v.l.tree.Load().withCID(digestOf(cid), v.sees)
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

// errNoFastRead: readBeneath cannot read this file; go through the os.Root.
var errNoFastRead = errors.New("no direct read")

// ReadSmall reads the whole of a shared file the view sees whose content id
// is cid and whose size is at most limit (and at most len(buf)) into buf,
// the same version the index lists, and returns those bytes. A file larger
// than that is not read: it returns nil and the size the index lists, so
// that the caller can tell "too large" from "not shared". Errors are those
// of OpenContent. It is what a batch of small files is read with: for each
// file a handful of system calls, where OpenContent's File costs several
// more.
func (v *View) ReadSmall(cid string, limit int64, buf []byte) ([]byte, int64, error) {
	if !ValidContentID(cid) {
		return nil, 0, ErrBadContentID
	}
	limit = min(limit, int64(len(buf)))
	cands := v.l.tree.Load().withCID(digestOf(cid), v.sees)
	err := fmt.Errorf("%w: %s", ErrNotFound, cid)
	for _, n := range cands {
		k := n.f.kids[n.i]
		if k.size > limit {
			return nil, k.size, nil
		}
		data := buf[:k.size]
		rerr := readBeneath(n.f.root, n.f.childRel(n.i), k.size, k.mtime, data)
		if errors.Is(rerr, errNoFastRead) {
			rerr = readNode(n, data)
		}
		if rerr == nil {
			return data, k.size, nil
		}
		err = rerr
	}
	return nil, 0, err
}

// readNode reads the whole of node n into data through its os.Root.
func readNode(n nodeRef, data []byte) error {
	f, err := openNode(n)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := f.ReadAt(data, 0)
	if m == len(data) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = ErrChanged
	}
	return err
}

// Entry returns the file's entry as listed when it was opened.
func (f *File) Entry() Entry { return f.e }

// ReadAt reads like io.ReaderAt, then returns 0 and ErrChanged if the file
// changed meanwhile.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	if cerr := checkSame(f.f, f.size, f.mtime); cerr != nil {
		return 0, ErrChanged
	}
	return n, err
}

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }
