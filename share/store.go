package share

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"
)

// stateSaveEvery bounds how often WriteBlock persists a partial's state.
const stateSaveEvery = 500 * time.Millisecond

// syncEvery is how many written bytes a download syncs to disk after, while it
// runs: a disk (or a virtual machine's host) that caches writes otherwise
// takes the whole file's flush at the final sync, after the last byte.
const syncEvery = 64 << 20

// maxNumbered bounds the "name (n).ext" candidates Finish tries.
const maxNumbered = 10000

// Store is the download folder. Every access goes through an os.Root opened
// on it, so no name, however hostile, reaches outside. Safe for concurrent
// use (os.Root is).
type Store struct {
	dir  string
	root *os.Root
}

// OpenStore opens the download folder dir, creating it if missing.
func OpenStore(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("download folder: %w", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("download folder: %w", err)
	}
	return &Store{dir: abs, root: root}, nil
}

// Dir returns the download folder's absolute path.
func (s *Store) Dir() string { return s.dir }

// Close closes the store. Partials already open keep working until closed.
func (s *Store) Close() error { return s.root.Close() }

// MkdirAll creates folder rel (a slash path checked with ValidatePath) and its
// parents inside the store.
func (s *Store) MkdirAll(rel string) error {
	if err := ValidatePath(rel); err != nil {
		return err
	}
	if rel == "" {
		return nil
	}
	return s.root.MkdirAll(filepath.FromSlash(rel), 0o755)
}

// Have reports whether a finished regular file at rel holds exactly the
// content h (the size is compared first, then the bytes are hashed).
func (s *Store) Have(rel string, h Hashes) bool {
	return s.HaveContent(rel, h.Size, h.ContentID())
}

// partialState is the on-disk form of a partial's progress.
type partialState struct {
	ContentID string `json:"cid"`
	Size      int64  `json:"size"`
	Blocks    []byte `json:"blocks"` // bitmap of verified blocks, bit i%8 of byte i/8
}

// Partial is one file being downloaded into the store, kept as
// "<rel>.<cid[3:15]>.partial" with its progress in "....partial.state" beside
// it. Names ending in ".partial" are refused by ValidateName, so no remote
// name can collide with them.
//
// Partial is safe for concurrent use: WriteBlock may be called from many
// goroutines (blocks are written, read back and hashed outside the lock); mu
// guards have, writing, verified, lastSave and closed.
type Partial struct {
	s         *Store
	rel       string
	h         Hashes
	cid       string
	partName  string // os paths inside the store's root
	stateName string
	tmpName   string
	f         *os.File
	wmu       sync.Mutex // held while writing to f

	mu       sync.Mutex
	have     []bool
	writing  []bool // blocks a WriteBlock is writing now
	verified int64
	dirty    bool
	lastSave time.Time
	closed   bool

	// Written blocks go to a goroutine that starts their writeback early
	// (see writeback) and syncs the file every syncEvery bytes; flush is
	// closed, under mu, when the file is. syncErr is the first error of
	// those syncs, read once flushed is closed.
	flush   chan [2]int64
	flushed chan struct{}
	syncErr error
}

// OpenPartial starts or resumes the download of content h to rel. On resume,
// every block the saved state claims is read back and verified again (a crash
// may have lost it); without a state, every block already in the file is
// checked.
func (s *Store) OpenPartial(rel string, h Hashes) (*Partial, error) {
	if rel == "" {
		return nil, fmt.Errorf("%w: empty", ErrBadPath)
	}
	if err := ValidatePath(rel); err != nil {
		return nil, err
	}
	if !h.Valid() {
		return nil, fmt.Errorf("%w: block count does not match size", ErrHashMismatch)
	}
	cid := h.ContentID()
	dir, base := path.Split(rel)
	suffix := "." + cid[3:15] + partialSuffix
	// The longest of the three names is the state's temporary one.
	base = truncateUTF8(base, MaxNameBytes-len(suffix)-len(".statetmp"))
	p := &Partial{
		s: s, rel: rel, h: h, cid: cid,
		partName:  filepath.FromSlash(dir + base + suffix),
		stateName: filepath.FromSlash(dir + base + suffix + ".state"),
		tmpName:   filepath.FromSlash(dir + base + "." + cid[3:15] + ".statetmp" + partialSuffix),
		have:      make([]bool, len(h.Blocks)),
		writing:   make([]bool, len(h.Blocks)),
	}
	if dir != "" {
		if err := s.root.MkdirAll(filepath.FromSlash(dir), 0o755); err != nil {
			return nil, err
		}
	}
	if fi, err := s.root.Lstat(p.partName); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p.partName)
	}
	f, err := s.root.OpenFile(p.partName, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	p.f = f
	if err := p.resume(); err != nil {
		f.Close()
		return nil, err
	}
	flush, flushed := make(chan [2]int64, 64), make(chan struct{})
	p.flush, p.flushed = flush, flushed
	go func() {
		defer close(flushed)
		var unsynced int64
		for r := range flush {
			writeback(f, r[0], r[1])
			if unsynced += r[1]; unsynced >= syncEvery {
				unsynced = 0
				if err := datasync(f); err != nil && p.syncErr == nil {
					p.syncErr = err
				}
			}
		}
	}()
	return p, nil
}

// stopFlushLocked stops the writeback goroutine and waits for it. p.mu is held.
func (p *Partial) stopFlushLocked() {
	if p.flush != nil {
		close(p.flush)
		p.flush = nil
		<-p.flushed
	}
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// resume verifies the blocks already on disk and sizes the file.
func (p *Partial) resume() error {
	fi, err := p.f.Stat()
	if err != nil {
		return err
	}
	claimed := make([]bool, len(p.have))
	var st partialState
	if raw, err := p.s.root.ReadFile(p.stateName); err == nil && json.Unmarshal(raw, &st) == nil &&
		st.ContentID == p.cid && st.Size == p.h.Size && len(st.Blocks) == (len(p.have)+7)/8 {
		for i := range claimed {
			claimed[i] = st.Blocks[i/8]&(1<<(i%8)) != 0
		}
	} else {
		for i := range claimed {
			claimed[i] = int64(i)*BlockSize+int64(BlockLen(p.h.Size, i)) <= fi.Size()
		}
	}
	buf := make([]byte, BlockSize)
	for i, c := range claimed {
		if !c {
			continue
		}
		b := buf[:BlockLen(p.h.Size, i)]
		if _, err := p.f.ReadAt(b, int64(i)*BlockSize); err != nil {
			continue
		}
		if BlockHash(b) == p.h.Blocks[i] {
			p.have[i] = true
			p.verified += int64(len(b))
		}
	}
	if fi.Size() != p.h.Size {
		if err := p.f.Truncate(p.h.Size); err != nil {
			return err
		}
	}
	p.dirty = true
	return p.saveLocked()
}

// Missing returns the indices of the blocks still needed, ascending.
func (p *Partial) Missing() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for i, ok := range p.have {
		if !ok {
			out = append(out, i)
		}
	}
	return out
}

// Verified returns how many bytes have been written and verified.
func (p *Partial) Verified() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.verified
}

// writeChunk is how much of a block WriteBlock writes, reads back and hashes
// at a time: small enough that the bytes are still in the CPU's cache when
// they are read back and hashed.
const writeChunk = 256 << 10

// errBlockBusy is returned when another WriteBlock is writing the same block.
var errBlockBusy = errors.New("block is being written by another call")

// WriteBlock writes data in place as block i, reads it back from the file and
// checks the hash of what the file now holds against block i's. Only then is
// the block counted as verified; when the hash differs the error wraps
// ErrHashMismatch and the block stays missing (its bytes in the .partial are
// overwritten by the next copy). So every byte of a finished file has been
// read back from the file itself and verified. The read-back overwrites data.
//
// Safe for concurrent use. A block that is already verified is left alone
// (nil), and a block another call is writing is refused.
func (p *Partial) WriteBlock(i int, data []byte) error {
	if i < 0 || i >= len(p.h.Blocks) {
		return fmt.Errorf("block %d out of range (%d blocks)", i, len(p.h.Blocks))
	}
	n := len(data)
	if want := BlockLen(p.h.Size, i); n != want {
		return fmt.Errorf("%w: block %d has %d bytes, want %d", ErrHashMismatch, i, n, want)
	}
	p.mu.Lock()
	switch {
	case p.closed:
		p.mu.Unlock()
		return os.ErrClosed
	case p.have[i]:
		p.mu.Unlock()
		return nil
	case p.writing[i]:
		p.mu.Unlock()
		return fmt.Errorf("block %d: %w", i, errBlockBusy)
	}
	p.writing[i] = true
	p.mu.Unlock()

	sum, err := p.writeAndHash(int64(i)*BlockSize, data)

	p.mu.Lock()
	defer p.mu.Unlock()
	p.writing[i] = false
	if err != nil {
		return err
	}
	if sum != p.h.Blocks[i] {
		return fmt.Errorf("%w: block %d", ErrHashMismatch, i)
	}
	if p.closed {
		return os.ErrClosed
	}
	p.have[i] = true
	p.verified += int64(n)
	p.dirty = true
	select {
	case p.flush <- [2]int64{int64(i) * BlockSize, int64(n)}:
	default: // behind: the final sync catches up
	}
	if time.Since(p.lastSave) >= stateSaveEvery {
		// The block is safely written; a state that fails to save now is
		// retried later and reported by Close.
		p.saveLocked()
	}
	return nil
}

// writeAndHash writes data at off chunk by chunk, reading each chunk back
// into data and hashing what was read, and returns the hash.
func (p *Partial) writeAndHash(off int64, data []byte) ([HashSize]byte, error) {
	d := sha256.New()
	for len(data) > 0 {
		c := data[:min(writeChunk, len(data))]
		// One write at a time: the kernel serialises writes to a file
		// anyway, and makes waiting writers spin.
		p.wmu.Lock()
		_, err := p.f.WriteAt(c, off)
		p.wmu.Unlock()
		if err != nil {
			return [HashSize]byte{}, err
		}
		if _, err := p.f.ReadAt(c, off); err != nil {
			return [HashSize]byte{}, fmt.Errorf("reading back: %w", err)
		}
		d.Write(c)
		off += int64(len(c))
		data = data[len(c):]
	}
	return [HashSize]byte(d.Sum(nil)), nil
}

// saveLocked writes the state file atomically (temporary name, then rename).
// The data is not synced: resume re-verifies what the state claims.
func (p *Partial) saveLocked() error {
	if !p.dirty {
		return nil
	}
	st := partialState{ContentID: p.cid, Size: p.h.Size, Blocks: make([]byte, (len(p.have)+7)/8)}
	for i, ok := range p.have {
		if ok {
			st.Blocks[i/8] |= 1 << (i % 8)
		}
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := p.s.root.WriteFile(p.tmpName, raw, 0o644); err != nil {
		return err
	}
	if err := p.s.root.Rename(p.tmpName, p.stateName); err != nil {
		p.s.root.Remove(p.tmpName)
		return err
	}
	p.dirty = false
	p.lastSave = time.Now()
	return nil
}

// Finish checks that every block has been verified, by WriteBlock or, for
// blocks from an earlier run, by reading them back on resume, so the file as a
// whole matches the content id; syncs it to disk; and moves it to rel, or to
// "name (1).ext", "name (2).ext"... if that is taken: an existing file is
// never overwritten, even by a racing writer. The file gets mode 0644 and the
// state is removed. It returns the final slash path.
func (p *Partial) Finish() (finalRel string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", os.ErrClosed
	}
	for i, ok := range p.have {
		if !ok {
			return "", fmt.Errorf("block %d not downloaded yet", i)
		}
	}
	p.stopFlushLocked()
	// An error a sync during the download reported (a failed writeback) is
	// not reported again by the next one.
	if p.syncErr != nil {
		return "", p.syncErr
	}
	if err := p.f.Sync(); err != nil {
		return "", err
	}
	if err := p.f.Chmod(0o644); err != nil {
		return "", err
	}
	if err := p.f.Close(); err != nil {
		return "", err
	}
	p.closed = true
	dir, base := path.Split(p.rel)
	for n := 0; n <= maxNumbered; n++ {
		name := base
		if n > 0 {
			name = numbered(base, n)
		}
		final := dir + name
		ok, err := p.place(filepath.FromSlash(final))
		if err != nil {
			return "", err
		}
		if ok {
			p.s.root.Remove(p.stateName)
			return final, nil
		}
	}
	return "", fmt.Errorf("%s: no free name", p.rel)
}

// place moves the partial to final unless final exists; false means taken.
func (p *Partial) place(final string) (bool, error) {
	return placeByLink(p.s.root, p.partName, final)
}

// MarkOrigin records origin (see OriginURL) on the partial file, so that the
// finished file carries it. An error wraps ErrNoOrigin: the filesystem keeps
// no extended attributes, and the download can go on without.
func (p *Partial) MarkOrigin(origin string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return os.ErrClosed
	}
	return setOrigin(p.f, origin)
}

// Close saves the state and closes the file, keeping both for a later resume.
// Closing a finished or closed Partial is a no-op.
func (p *Partial) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.stopFlushLocked()
	err := p.saveLocked()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}
