package share

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// HaveContent reports whether a finished regular file at rel has size bytes
// whose content id is cid, like Have for a caller that knows only the id.
func (s *Store) HaveContent(rel string, size int64, cid string) bool {
	if rel == "" || ValidatePath(rel) != nil || !ValidContentID(cid) {
		return false
	}
	f, err := s.root.OpenFile(filepath.FromSlash(rel), openReadFlags, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != size {
		return false
	}
	got, err := HashAt(f, size, runtime.GOMAXPROCS(0))
	return err == nil && got.ContentID() == cid
}

// Put writes a whole file that fits in one block and was received in one
// piece: data must match h (checked here) and lands under a partial name
// first, then takes rel or the first free "name (n).ext", never overwriting.
// It returns the final slash path.
func (s *Store) Put(rel string, h Hashes, data []byte) (string, error) {
	if rel == "" {
		return "", fmt.Errorf("%w: empty", ErrBadPath)
	}
	if err := ValidatePath(rel); err != nil {
		return "", err
	}
	if !h.Valid() || len(h.Blocks) > 1 || h.Size != int64(len(data)) {
		return "", fmt.Errorf("%w: Put takes a file of at most one block", ErrHashMismatch)
	}
	if len(data) > 0 && BlockHash(data) != h.Blocks[0] {
		return "", fmt.Errorf("%w: %s", ErrHashMismatch, rel)
	}
	cid := h.ContentID()
	dir, base := path.Split(rel)
	suffix := "." + cid[3:15] + partialSuffix
	part := &Partial{s: s, rel: rel, h: h, cid: cid,
		partName: filepath.FromSlash(dir + truncateUTF8(base, MaxNameBytes-len(suffix)) + suffix)}
	if dir != "" {
		if err := s.root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
			return "", err
		}
	}
	if err := s.root.WriteFile(part.partName, data, 0o644); err != nil {
		return "", err
	}
	for n := 0; n <= maxNumbered; n++ {
		name := base
		if n > 0 {
			name = numbered(base, n)
		}
		ok, err := part.place(filepath.FromSlash(dir + name))
		if err != nil {
			s.root.Remove(part.partName)
			return "", err
		}
		if ok {
			return dir + name, nil
		}
	}
	s.root.Remove(part.partName)
	return "", fmt.Errorf("%s: no free name", rel)
}

// DiscardPartials removes the unfinished downloads of rel: for a file, its
// partial and state files; for a folder, every partial and state file below
// it. Finished files are never touched.
func (s *Store) DiscardPartials(rel string) error {
	if rel == "" || ValidatePath(rel) != nil {
		return fmt.Errorf("%w: %q", ErrBadPath, rel)
	}
	isLeftover := func(name string) bool {
		return strings.HasSuffix(name, partialSuffix) || strings.HasSuffix(name, partialSuffix+".state")
	}
	fi, err := s.root.Lstat(filepath.FromSlash(rel))
	if err == nil && fi.IsDir() {
		var errs []error
		walkErr := fs.WalkDir(s.root.FS(), rel, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.Type().IsRegular() && isLeftover(d.Name()) {
				errs = append(errs, s.root.Remove(filepath.FromSlash(p)))
			}
			return nil
		})
		return errors.Join(append(errs, walkErr)...)
	}
	dir, base := path.Split(rel)
	d := dir
	if d == "" {
		d = "."
	}
	entries, err := fs.ReadDir(s.root.FS(), strings.TrimSuffix(d, "/"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && isLeftover(n) && strings.HasPrefix(n, base+".") {
			if err := s.root.Remove(filepath.FromSlash(dir + n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
