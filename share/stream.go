package share

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
)

// Stream is one file arriving in the download store as a stream of bytes
// whose content id is not known in advance (a file pushed by a LocalSend
// sender, say). It is written to "<rel>.<random>.partial", so no remote name
// collides with it and it is never mistaken for a finished file, and Commit
// moves it to rel, or to "name (1).ext"... when rel is taken: nothing is
// overwritten. Its mode is 0644 whatever the sender claims.
//
// A Stream is used by one goroutine at a time.
type Stream struct {
	s        *Store
	rel      string
	partName string // os path inside the store's root
	f        *os.File
	n        int64
	done     bool
}

// CreateStream starts a new file that will be named rel (a slash path checked
// with ValidatePath), creating its folders inside the store.
func (s *Store) CreateStream(rel string) (*Stream, error) {
	if rel == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadPath)
	}
	if err := ValidatePath(rel); err != nil {
		return nil, err
	}
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, err
	}
	dir, base := path.Split(rel)
	suffix := "." + hex.EncodeToString(r[:]) + partialSuffix
	base = truncateUTF8(base, MaxNameBytes-len(suffix))
	if dir != "" {
		if err := s.root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
			return nil, err
		}
	}
	name := filepath.FromSlash(dir + base + suffix)
	f, err := s.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &Stream{s: s, rel: rel, partName: name, f: f}, nil
}

// Write appends p to the file.
func (w *Stream) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	return n, err
}

// Written returns how many bytes have been written.
func (w *Stream) Written() int64 { return w.n }

// Commit syncs the file, gives it mode 0644 and moves it to its name (or a
// numbered one when that is taken), returning the final slash path. After
// Commit, Abort does nothing.
func (w *Stream) Commit() (string, error) {
	if w.done {
		return "", os.ErrClosed
	}
	w.done = true
	err := w.f.Sync()
	if err == nil {
		err = w.f.Chmod(0o644)
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		w.s.root.Remove(w.partName)
		return "", err
	}
	dir, base := path.Split(w.rel)
	for n := 0; n <= maxNumbered; n++ {
		name := base
		if n > 0 {
			name = numbered(base, n)
		}
		ok, err := placeByLink(w.s.root, w.partName, filepath.FromSlash(dir+name))
		if err != nil {
			w.s.root.Remove(w.partName)
			return "", err
		}
		if ok {
			return dir + name, nil
		}
	}
	w.s.root.Remove(w.partName)
	return "", fmt.Errorf("%s: no free name", w.rel)
}

// Abort closes and removes the unfinished file. It is safe to call after
// Commit or a second time.
func (w *Stream) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	w.s.root.Remove(w.partName)
}
