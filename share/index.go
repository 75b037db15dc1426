package share

import (
	"encoding/hex"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// The index is kept compact so that a share of a million files fits in a
// few hundred bytes per file, Go's collector included. A snapshot (tree) is
// a list of items, each a folder; a folder holds its children's names back
// to back in one byte slice and their fixed-size records (kid) in one slice
// without pointers, sorted folders first and then by name, so a name is
// found by binary search and the collector has nothing to scan but the
// folders themselves. Paths are never stored per file: a folder knows its
// own tree path and the entries built from it get theirs on demand. A
// file's content id is kept as its 32-byte digest beside the record; its
// block hashes are not kept at all but read from the hash cache (or the
// file) when a neighbour asks for them.
//
// A folder is immutable once built, except for the content ids of its
// files, each set once (see cidSlot). A rescan builds each folder again and,
// when it finds it just as it was, with every folder below it reused too,
// keeps the old folder instead: an unchanged tree costs no memory to
// rescan, and content ids set on a folder shared by two snapshots are seen
// in both.

// kid is one child of a folder. For a folder child, size and the number of
// files below are those of the subfolder (folder.subs), and ino is zero.
type kid struct {
	name  uint32 // offset of the name in folder.names
	nlen  uint16
	dir   bool
	size  int64
	mtime int64 // Unix nanoseconds
	ino   uint64
}

// cidSlot holds a file's content id digest. state goes from slotEmpty to
// slotBusy (the one goroutine that won the CompareAndSwap writes d) to
// slotSet, and never back; d is read only after state was seen as slotSet,
// so the atomic store orders the write before every read.
type cidSlot struct {
	state atomic.Uint32
	d     [contentDigestSize]byte
}

const (
	slotEmpty uint32 = iota
	slotBusy
	slotSet
)

const contentDigestSize = 32

// digest returns the slot's content id digest, or false while it has none.
func (s *cidSlot) digest() ([contentDigestSize]byte, bool) {
	if s.state.Load() != slotSet {
		return [contentDigestSize]byte{}, false
	}
	return s.d, true
}

// set gives the slot digest d unless it already has one, and reports whether
// it did.
func (s *cidSlot) set(d [contentDigestSize]byte) bool {
	if !s.state.CompareAndSwap(slotEmpty, slotBusy) {
		return false
	}
	s.d = d
	s.state.Store(slotSet)
	return true
}

// folder is one folder of a snapshot: a shared folder item's top, a folder
// below it, or the holder of a single shared file (single set, path empty,
// its one kid named by the item).
type folder struct {
	root   *itemRoot
	path   string // tree path: item name, then slash path below it; "" for a single file's holder
	rel    string // slash path inside root ("." for an item's top); unused by a holder
	single bool
	mtime  int64  // the folder's own modification time, Unix nanoseconds
	names  []byte // the children's names back to back; never modified
	kids   []kid  // kids[:ndirs] are folders, kids[ndirs:] files; each part sorted (see kidLess)
	ndirs  int
	subs   []*folder // parallel to kids[:ndirs]
	cids   []cidSlot // parallel to kids[ndirs:]
	size   int64     // bytes of every file below
	files  int       // files below
	nodes  int       // entries below: files and folders
	sig    uint64    // of names, kinds, sizes, times and inodes below; equal for equal subtrees

	hashed atomic.Int64 // bytes of the files directly here that have a content id
}

// name returns kid i's name. The string shares f.names, which is never
// modified once f is built.
func (f *folder) name(i int) string {
	k := &f.kids[i]
	if k.nlen == 0 {
		return ""
	}
	return unsafe.String(&f.names[k.name], int(k.nlen))
}

// childPath returns the tree path of kid i.
func (f *folder) childPath(i int) string {
	if f.path == "" {
		return f.name(i)
	}
	return f.path + "/" + f.name(i)
}

// childRel returns the slash path of kid i inside f.root.
func (f *folder) childRel(i int) string {
	if f.single {
		return f.root.single
	}
	return path.Join(f.rel, f.name(i))
}

// childAbs returns the absolute path of kid i.
func (f *folder) childAbs(i int) string {
	return filepath.Join(f.root.dir, filepath.FromSlash(f.childRel(i)))
}

// abs returns the folder's absolute path.
func (f *folder) abs() string {
	return filepath.Join(f.root.dir, filepath.FromSlash(f.rel))
}

// slot returns the content id slot of file kid i.
func (f *folder) slot(i int) *cidSlot { return &f.cids[i-f.ndirs] }

// key returns the hash cache key of file kid i.
func (f *folder) key(i int) fileKey {
	k := &f.kids[i]
	return fileKey{Size: k.size, MTime: k.mtime, Ino: k.ino}
}

// find returns the index of the child called name, or -1. wantDir < 0
// looks among folders and files, 0 among files only, > 0 among folders only.
func (f *folder) find(name string, wantDir int) int {
	fold := FoldKey(name)
	search := func(lo, hi int) int {
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			n := f.name(m)
			c := strings.Compare(FoldKey(n), fold)
			if c == 0 {
				c = strings.Compare(n, name)
			}
			switch {
			case c == 0:
				return m
			case c < 0:
				lo = m + 1
			default:
				hi = m
			}
		}
		return -1
	}
	if wantDir != 0 {
		if i := search(0, f.ndirs); i >= 0 || wantDir > 0 {
			return i
		}
	}
	return search(f.ndirs, len(f.kids))
}

// nodeRef names one entry of a snapshot: kid i of folder f, or, with i < 0,
// the folder f itself (an item's top).
type nodeRef struct {
	f *folder
	i int
}

func (r nodeRef) isDir() bool { return r.i < 0 || r.i < r.f.ndirs }

// dir returns the folder r names; r must be a folder.
func (r nodeRef) dir() *folder {
	if r.i < 0 {
		return r.f
	}
	return r.f.subs[r.i]
}

// entry returns the entry of r.
func (r nodeRef) entry() Entry {
	if r.i < 0 {
		f := r.f
		return Entry{Name: f.path, Path: f.path, Size: f.size, Dir: true, ModTime: time.Unix(0, f.mtime), Files: f.files}
	}
	return r.f.entry(r.i)
}

// entry returns kid i's entry.
func (f *folder) entry(i int) Entry {
	k := &f.kids[i]
	p := f.childPath(i)
	e := Entry{Name: p[len(p)-int(k.nlen):], Path: p, ModTime: time.Unix(0, k.mtime)}
	if i < f.ndirs {
		sub := f.subs[i]
		e.Dir, e.Size, e.Files = true, sub.size, sub.files
		return e
	}
	e.Size = k.size
	if d, ok := f.slot(i).digest(); ok {
		e.ContentID = contentIDOf(d)
	}
	return e
}

// contentIDOf returns the content id whose digest is d.
func contentIDOf(d [contentDigestSize]byte) string {
	var b [len(contentIDPrefix) + 2*contentDigestSize]byte
	copy(b[:], contentIDPrefix)
	hex.Encode(b[len(contentIDPrefix):], d[:])
	return string(b[:])
}

// digestOf returns the digest of a valid content id.
func digestOf(cid string) (d [contentDigestSize]byte) {
	hex.Decode(d[:], []byte(cid[len(contentIDPrefix):]))
	return d
}

// walk calls fn on r and everything below it, pre-order, in List order,
// until fn returns false; it reports whether it went to the end.
func (r nodeRef) walk(fn func(nodeRef) bool) bool {
	if !fn(r) {
		return false
	}
	if !r.isDir() {
		return true
	}
	return r.dir().walkKids(fn)
}

// walkFrom is walk without visiting the first *skip entries, which it
// passes over a subtree at a time.
func (r nodeRef) walkFrom(skip *int, fn func(nodeRef) bool) bool {
	if *skip > 0 {
		size := 1
		if r.isDir() {
			size += r.dir().nodes
		}
		if *skip >= size {
			*skip -= size
			return true
		}
		*skip--
	} else if !fn(r) {
		return false
	}
	if !r.isDir() {
		return true
	}
	f := r.dir()
	for i := range f.kids {
		if !(nodeRef{f, i}).walkFrom(skip, fn) {
			return false
		}
	}
	return true
}

// walkKids walks f's children and what is below them.
func (f *folder) walkKids(fn func(nodeRef) bool) bool {
	for i := range f.kids {
		if !(nodeRef{f, i}).walk(fn) {
			return false
		}
	}
	return true
}

// eachFolder calls fn on f and every folder below it, pre-order.
func (f *folder) eachFolder(fn func(*folder)) {
	fn(f)
	for _, s := range f.subs {
		s.eachFolder(fn)
	}
}

// topItem is one shared item of a snapshot: a folder item's top, or the
// holder of a single file.
type topItem struct {
	f      *folder
	status int // index in tree.status
	first  int // the item's folders are tree.folders[first:end]
	end    int
}

// ref returns the item's own node.
func (it *topItem) ref() nodeRef {
	if it.f.single {
		return nodeRef{it.f, 0}
	}
	return nodeRef{it.f, -1}
}

// name returns the item's name.
func (it *topItem) name() string {
	if it.f.single {
		return it.f.name(0)
	}
	return it.f.path
}

// tree is one published snapshot of the index. Everything but the content
// ids of files and byCID is fixed once it is published. byCID and more are
// guarded by mu for reads; Library.hashMu serialises their writers with the
// publication of a new snapshot, so a content id set while a rescan runs is
// found in the snapshot that rescan publishes.
type tree struct {
	items     []topItem // List order
	byName    map[string]int
	status    []ItemStatus      // HashedBytes filled on read
	tops      []int             // parallel to status: index in items, or -1 for an item that failed
	folders   []*folder         // every folder of every item, item by item, pre-order
	folderIdx map[*folder]int32 // index in folders
	files     int
	bytes     int64
	sig       uint64

	mu    sync.Mutex
	byCID map[uint64]uint64   // first 8 bytes of a content digest -> fileRef of one file with it
	more  map[uint64][]uint64 // further files whose digest starts with the same 8 bytes
}

// fileRef packs kid i of t.folders[fi] into one word.
func fileRef(fi, i int) uint64 { return uint64(fi)<<32 | uint64(uint32(i)) }

func (t *tree) unref(r uint64) nodeRef { return nodeRef{t.folders[r>>32], int(uint32(r))} }

func digestKey(d [contentDigestSize]byte) uint64 {
	var k uint64
	for _, b := range d[:8] {
		k = k<<8 | uint64(b)
	}
	return k
}

// addCIDLocked records that the file at ref has digest d; t.mu must be held.
func (t *tree) addCIDLocked(d [contentDigestSize]byte, ref uint64) {
	k := digestKey(d)
	if _, ok := t.byCID[k]; !ok {
		t.byCID[k] = ref
		return
	}
	t.more[k] = append(t.more[k], ref)
}

// seesFunc reports whether item i of t may be seen by whoever asks; nil
// sees every item.
type seesFunc func(t *tree, i int) bool

// itemOf returns the index in t.items of the item holding folder fi.
func (t *tree) itemOf(fi int) int {
	i, _ := slices.BinarySearchFunc(t.items, fi, func(it topItem, fi int) int {
		switch {
		case fi < it.first:
			return 1
		case fi >= it.end:
			return -1
		}
		return 0
	})
	return i
}

// withCID returns the files of t whose content id digest is d, in items
// that sees allows.
func (t *tree) withCID(d [contentDigestSize]byte, sees seesFunc) []nodeRef {
	k := digestKey(d)
	t.mu.Lock()
	first, ok := t.byCID[k]
	refs := t.more[k]
	t.mu.Unlock()
	if !ok {
		return nil
	}
	var out []nodeRef
	for _, r := range append([]uint64{first}, refs...) {
		n := t.unref(r)
		if got, ok := n.f.slot(n.i).digest(); ok && got == d && (sees == nil || sees(t, t.itemOf(int(r>>32)))) {
			out = append(out, n)
		}
	}
	return out
}

// hasCID reports whether a file of t in an item that sees allows has digest
// d.
func (t *tree) hasCID(d [contentDigestSize]byte, sees seesFunc) bool {
	return len(t.withCID(d, sees)) > 0
}

// folderIndex returns the index of f in t.folders, or -1.
func (t *tree) folderIndex(f *folder) int {
	if i, ok := t.folderIdx[f]; ok {
		return int(i)
	}
	return -1
}

// lookup returns the node at tree path p, inside an item that sees allows.
func (t *tree) lookup(p string, sees seesFunc) (nodeRef, bool) {
	parts := splitPath(p)
	if len(parts) == 0 {
		return nodeRef{}, false
	}
	ii, ok := t.byName[parts[0]]
	if !ok || (sees != nil && !sees(t, ii)) {
		return nodeRef{}, false
	}
	it := &t.items[ii]
	r := it.ref()
	for j, part := range parts[1:] {
		if !r.isDir() {
			return nodeRef{}, false
		}
		f := r.dir()
		want := 1
		if j == len(parts)-2 {
			want = -1
		}
		i := f.find(part, want)
		if i < 0 {
			return nodeRef{}, false
		}
		r = nodeRef{f, i}
	}
	return r, true
}

// hashedBytesOf returns the bytes with a content id in folders.
func hashedBytesOf(folders []*folder) int64 {
	var n int64
	for _, f := range folders {
		n += f.hashed.Load()
	}
	return n
}
