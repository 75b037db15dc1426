package share

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
)

// HaveContent reports whether a finished regular file at rel has size bytes
// whose content id is cid, like Have for a caller that knows only the id.
func (s *Store) HaveContent(rel string, size int64, cid string) bool {
	if rel == "" || ValidatePath(rel) != nil || !ValidContentID(cid) {
		return false
	}
	return haveContent(s.root, filepath.FromSlash(rel), size, cid)
}

// haveContent reports whether name in root is a regular file of size bytes
// whose content id is cid.
func haveContent(root *os.Root, name string, size int64, cid string) bool {
	f, err := root.OpenFile(name, openReadFlags, 0)
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
// It creates rel's folder if missing. It returns the final slash path. To
// write many files into one folder, OpenDir and Dir.Put cost less.
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
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if err := s.MkdirAll(dir); err != nil {
		return "", err
	}
	d, err := s.OpenDir(dir)
	if err != nil {
		return "", err
	}
	defer d.Close()
	return d.Put(base, h.ContentID(), data)
}

// errNoReplaceUnsupported: the file system cannot rename without replacing
// in one step (see renameNoReplace).
var errNoReplaceUnsupported = errors.New("rename without replacing is not supported here")

// Dir is one folder of the store, opened to write many small files into it:
// an os.Root of its own on the folder, so that each file's system calls name
// it by a single component instead of walking down from the download folder
// one component at a time. Every name is checked with ValidateName. The
// names the folder held when it was opened are remembered, so that asking
// about a file that is not there (HaveContent) costs nothing. Safe for
// concurrent use.
type Dir struct {
	rel   string   // slash path in the store, "" the top
	root  *os.Root // on the folder
	f     *os.File // the folder itself, for renameNoReplace
	names map[string]struct{}
	// noReplace is cleared once renameNoReplace reports it is not supported.
	noReplace atomic.Bool
}

// OpenDir opens folder rel (a slash path checked with ValidatePath; "" is
// the download folder itself), which must exist, for Dir.Put.
func (s *Store) OpenDir(rel string) (*Dir, error) {
	if err := ValidatePath(rel); err != nil {
		return nil, err
	}
	name := "."
	if rel != "" {
		name = filepath.FromSlash(rel)
	}
	root, err := s.root.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	f, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, err
	}
	ents, err := f.ReadDir(-1)
	if err != nil {
		f.Close()
		root.Close()
		return nil, err
	}
	d := &Dir{rel: rel, root: root, f: f, names: make(map[string]struct{}, len(ents))}
	for _, e := range ents {
		d.names[e.Name()] = struct{}{}
	}
	d.noReplace.Store(true)
	return d, nil
}

// Close closes the folder.
func (d *Dir) Close() error {
	return errors.Join(d.f.Close(), d.root.Close())
}

// join returns the slash path of name in the store.
func (d *Dir) join(name string) string {
	if d.rel == "" {
		return name
	}
	return d.rel + "/" + name
}

// HaveContent reports whether the folder held a regular file called name
// when it was opened that still has size bytes whose content id is cid.
func (d *Dir) HaveContent(name string, size int64, cid string) bool {
	if _, ok := d.names[name]; !ok || ValidateName(name) != nil || !ValidContentID(cid) {
		return false
	}
	return haveContent(d.root, name, size, cid)
}

// Put writes a whole file of at most one block, received in one piece, as
// name in the folder: data must have content id cid (checked here, before
// the file has a name of its own). It is written under a partial name
// created for this call alone, then renamed to name or the first free
// "name (n).ext" without ever replacing anything: a file that exists is
// never overwritten, even by a racing writer, and a crash leaves at most a
// partial file, never a half-written one under a final name. The file has
// mode 0644 (less the umask), never execute bits. It returns the final slash
// path in the store.
func (d *Dir) Put(name, cid string, data []byte) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	if !ValidContentID(cid) {
		return "", fmt.Errorf("%w: %q", ErrBadContentID, cid)
	}
	if len(data) > BlockSize {
		return "", fmt.Errorf("%w: Put takes a file of at most one block", ErrHashMismatch)
	}
	h := Hashes{Size: int64(len(data))}
	if len(data) > 0 {
		h.Blocks = [][HashSize]byte{BlockHash(data)}
	}
	if h.ContentID() != cid {
		return "", fmt.Errorf("%w: %s", ErrHashMismatch, d.join(name))
	}
	part, err := d.writePartial(name, cid, data)
	if err != nil {
		return "", err
	}
	for n := 0; n <= maxNumbered; n++ {
		final := name
		if n > 0 {
			final = numbered(name, n)
		}
		ok, err := d.place(part, final)
		if err != nil {
			d.root.Remove(part)
			return "", err
		}
		if ok {
			return d.join(final), nil
		}
	}
	d.root.Remove(part)
	return "", fmt.Errorf("%s: no free name", d.join(name))
}

// maxPartialTries bounds the partial names writePartial tries.
const maxPartialTries = 100

// writePartial writes data to a partial file of name that it creates (so no
// other writer, in this process or another, shares it): "name.<id>.partial",
// or "name.<id>-n.partial" when that exists (a leftover of a crash, or
// another download of the same file at this moment). It returns its name.
func (d *Dir) writePartial(name, cid string, data []byte) (string, error) {
	for i := range maxPartialTries {
		suffix := "." + cid[3:15] + partialSuffix
		if i > 0 {
			suffix = "." + cid[3:15] + "-" + strconv.Itoa(i) + partialSuffix
		}
		part := truncateUTF8(name, MaxNameBytes-len(suffix)) + suffix
		err := createExclusive(d, part, data)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		return part, nil
	}
	return "", fmt.Errorf("%s: no free partial name", d.join(name))
}

// place moves part to final unless final exists; false means taken.
func (d *Dir) place(part, final string) (bool, error) {
	if d.noReplace.Load() {
		err := renameNoReplace(d.f, part, final)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, fs.ErrExist):
			return false, nil
		case !errors.Is(err, errNoReplaceUnsupported):
			return false, err
		}
		d.noReplace.Store(false)
	}
	return placeByLink(d.root, part, final)
}

// placeByLink moves part to final inside root unless final exists, with a
// hard link and an unlink, or where there are no hard links (e.g. FAT) by
// claiming final exclusively and renaming over that placeholder; false means
// taken.
func placeByLink(root *os.Root, part, final string) (bool, error) {
	err := root.Link(part, final)
	if err == nil {
		// A leftover link is harmless: a later OpenPartial finds it complete.
		root.Remove(part)
		return true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	f, err := root.OpenFile(final, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	f.Close()
	if err := root.Rename(part, final); err != nil {
		root.Remove(final)
		return false, err
	}
	return true, nil
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
