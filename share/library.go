package share

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRescan is how often Run rescans when LibraryOptions.Rescan is zero.
const DefaultRescan = 2 * time.Second

const (
	maxSecretsPer = 100                    // excluded paths reported per item
	saveEvery     = 5 * time.Second        // hash cache writes, at most
	notifyEvery   = 500 * time.Millisecond // OnChange calls while hashing, at most
)

// LibraryOptions configures OpenLibrary.
type LibraryOptions struct {
	DataDir        string        // catalog and hash cache live here
	Rescan         time.Duration // how often Run re-walks shared trees and re-reads the catalog (default 2s)
	HashWorkers    int           // files hashed at once (default 1)
	IncludeSecrets bool          // false: likely secrets (IsSecretName) are neither listed nor served
	OnChange       func()        // called after the index or hashing progress changed, from Run's goroutines or from Add, Remove and Rescan (possibly concurrently); must not block; may be nil
	Logger         *slog.Logger  // nil: slog.Default()
}

// ItemStatus describes one shared item as the library sees it.
type ItemStatus struct {
	Item
	Files       int      `json:"files"`
	Bytes       int64    `json:"bytes"`
	HashedBytes int64    `json:"hashed_bytes"`
	Secrets     []string `json:"secrets,omitempty"` // slash paths below the item excluded as likely secrets or as Porch's data folder ("." is the item itself)
	Err         string   `json:"error,omitempty"`   // why the item cannot be served (e.g. it was deleted)
}

// Library is what this machine serves: the catalog, an index of every shared
// tree, and the content ids of the files in it. Lookups (Stat, List, Walk,
// Open, Search...) read an immutable snapshot of the index and never wait for
// a scan or for hashing; a file's content id is set once, atomically, when it
// has been hashed.
//
// Library is safe for concurrent use. scanMu serialises scans and guards
// roots; the current snapshot is an atomic pointer; each snapshot's mu guards
// its content id map.
type Library struct {
	opts  LibraryOptions
	log   *slog.Logger
	cat   *Catalog
	cache *hashCache

	scanMu sync.Mutex
	roots  map[string]*itemRoot // by Item.Path
	closed bool

	tree    atomic.Pointer[tree]
	running atomic.Bool

	notifyMu   sync.Mutex
	lastNotify time.Time

	dataID fs.FileInfo // the data folder (keys, peers, paths) is never shared

	hashedFiles atomic.Int64 // files actually read and hashed (not from the cache); for tests
}

// itemRoot is the os.Root through which one item is read.
type itemRoot struct {
	root   *os.Root
	dir    string      // absolute folder the root is opened on
	single string      // for a file item: its name inside dir; "" for a folder item
	id     fs.FileInfo // dir's identity when opened
	real   string      // dir with symbolic links resolved, to vet link targets
}

// fileHash is a file's hashes and content id.
type fileHash struct {
	cid string
	h   Hashes
}

// node is one file or folder in a snapshot. Everything but hash (and, on an
// item's top node, hashed) is fixed once the snapshot is published.
type node struct {
	name     string
	path     string // tree path: item name, then slash path below it
	dir      bool
	size     int64
	mtime    time.Time
	ino      uint64
	files    int
	children []*node // folders first, then by name
	byName   map[string]*node

	root *itemRoot
	rel  string // slash path inside root
	top  *node  // the item's top node

	hash   atomic.Pointer[fileHash]
	hashed atomic.Int64 // top nodes only: bytes hashed below
}

// tree is one published snapshot of the index.
type tree struct {
	items  []*node // top nodes, List order
	byName map[string]*node
	status []ItemStatus // HashedBytes filled on read
	tops   []*node      // parallel to status; nil for an item that failed
	files  int
	bytes  int64
	hashed atomic.Int64
	sig    uint64

	mu    sync.Mutex
	byCID map[string][]*node
}

// OpenLibrary opens the catalog and hash cache in opts.DataDir and indexes
// every shared item once, synchronously. Hashing happens in Run.
func OpenLibrary(opts LibraryOptions) (*Library, error) {
	if opts.DataDir == "" {
		return nil, errors.New("library: no data folder")
	}
	if opts.Rescan <= 0 {
		opts.Rescan = DefaultRescan
	}
	if opts.HashWorkers <= 0 {
		opts.HashWorkers = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cat, err := OpenCatalog(opts.DataDir)
	if err != nil {
		return nil, err
	}
	cache, err := loadHashCache(opts.DataDir)
	if err != nil {
		return nil, err
	}
	dataID, err := os.Stat(opts.DataDir)
	if err != nil {
		return nil, err
	}
	l := &Library{opts: opts, log: opts.Logger, cat: cat, cache: cache, roots: map[string]*itemRoot{}, dataID: dataID}
	l.tree.Store(&tree{byName: map[string]*node{}, byCID: map[string][]*node{}})
	if err := l.Rescan(); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Catalog returns the library's catalog.
func (l *Library) Catalog() *Catalog { return l.cat }

// Add shares paths (see Catalog.Add) and rescans at once.
func (l *Library) Add(paths ...string) ([]Item, error) {
	items, err := l.cat.Add(paths...)
	if err != nil {
		return nil, err
	}
	return items, l.Rescan()
}

// Remove stops sharing (see Catalog.Remove) and rescans at once.
func (l *Library) Remove(pathsOrNames ...string) error {
	if err := l.cat.Remove(pathsOrNames...); err != nil {
		return err
	}
	return l.Rescan()
}

// Close saves the hash cache and closes the shared roots. Call it after Run
// has returned. Files already open stay readable.
func (l *Library) Close() error {
	l.scanMu.Lock()
	defer l.scanMu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for p, r := range l.roots {
		r.root.Close()
		delete(l.roots, p)
	}
	return l.cache.save()
}

// Run keeps the index current until ctx ends: every Rescan interval (longer
// when a scan is slow) it re-reads the catalog and rescans, and it hashes files without a content id using
// HashWorkers goroutines. It waits for those goroutines, saves the hash cache
// and returns nil when ctx ends.
func (l *Library) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("library: already running")
	}
	defer l.running.Store(false)
	var wg sync.WaitGroup
	done := make(chan struct{}, 1)
	hashing := false
	startPass := func() {
		if hashing {
			return
		}
		hashing = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.hashPending(ctx)
			done <- struct{}{}
		}()
	}
	startPass()
	tick := time.NewTicker(l.opts.Rescan)
	defer tick.Stop()
	lastSave, lastTouch := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			if err := l.cache.save(); err != nil {
				l.log.Warn("saving hash cache", "err", err)
			}
			return nil
		case <-done:
			hashing = false
		case <-tick.C:
			if _, err := l.cat.Reload(); err != nil {
				l.log.Warn("reading shares", "err", err)
			}
			start := time.Now()
			if err := l.Rescan(); err != nil {
				l.log.Warn("rescanning shares", "err", err)
			}
			// Huge trees are walked less often: scanning takes at most
			// about a fifth of the time.
			tick.Reset(max(l.opts.Rescan, 5*time.Since(start)))
			startPass()
			if time.Since(lastTouch) >= 24*time.Hour {
				// A long-running peer reuses content ids without asking the
				// cache; keep their entries from ageing out.
				lastTouch = time.Now()
				l.touchCache()
			}
			if time.Since(lastSave) >= saveEvery && l.cache.isDirty() {
				lastSave = time.Now()
				if err := l.cache.save(); err != nil {
					l.log.Warn("saving hash cache", "err", err)
				}
			}
		}
	}
}

// touchCache marks the cache entries of every hashed file as in use.
func (l *Library) touchCache() {
	var paths []string
	for _, top := range l.tree.Load().items {
		walkNodes(top, func(n *node) {
			if !n.dir && n.hash.Load() != nil {
				paths = append(paths, n.absPath())
			}
		})
	}
	l.cache.touch(paths)
}

// notify calls OnChange, at most every notifyEvery unless force.
func (l *Library) notify(force bool) {
	if l.opts.OnChange == nil {
		return
	}
	l.notifyMu.Lock()
	if !force && time.Since(l.lastNotify) < notifyEvery {
		l.notifyMu.Unlock()
		return
	}
	l.lastNotify = time.Now()
	l.notifyMu.Unlock()
	l.opts.OnChange()
}

// Rescan walks every shared item now and publishes the new index. Files whose
// size, time and inode did not change keep their content id; others get one
// from the hash cache or wait for hashing.
func (l *Library) Rescan() error {
	changed, err := l.rescan()
	if changed {
		l.notify(true)
	}
	return err
}

// rescan builds and publishes a new snapshot and reports whether it differs
// from the previous one.
func (l *Library) rescan() (bool, error) {
	l.scanMu.Lock()
	defer l.scanMu.Unlock()
	if l.closed {
		return false, errors.New("library: closed")
	}
	old := l.tree.Load()
	items := l.cat.Items()
	t := &tree{byName: map[string]*node{}, byCID: map[string][]*node{}}
	sig := fnv.New64a()
	used := map[string]bool{}
	for _, it := range items {
		st := ItemStatus{Item: it}
		top, err := l.scanItem(it, old, &st)
		if err != nil {
			st.Err = err.Error()
			top = nil
		}
		fmt.Fprintf(sig, "%s\x00%s\x00%s\x00%d\n", it.Name, it.Path, st.Err, len(st.Secrets))
		if top != nil {
			used[it.Path] = true
			t.items = append(t.items, top)
			t.byName[top.name] = top
			st.Files, st.Bytes = top.files, top.size
			if !top.dir {
				st.Files = 1
			}
			t.files += st.Files
			t.bytes += top.size
			walkNodes(top, func(n *node) {
				fmt.Fprintf(sig, "%s\x00%t\x00%d\x00%d\x00%d\n", n.path, n.dir, n.size, n.mtime.UnixNano(), n.ino)
				if fh := n.hash.Load(); fh != nil && !n.dir {
					t.byCID[fh.cid] = append(t.byCID[fh.cid], n)
					top.hashed.Add(n.size)
					t.hashed.Add(n.size)
				}
			})
		}
		t.status = append(t.status, st)
		t.tops = append(t.tops, top)
	}
	sortNodes(t.items)
	t.sig = sig.Sum64()
	l.tree.Store(t)
	for p, r := range l.roots {
		if !used[p] {
			r.root.Close()
			delete(l.roots, p)
		}
	}
	return t.sig != old.sig, nil
}

// rootFor returns the os.Root for item, reopening it if the path now names a
// different folder or file.
func (l *Library) rootFor(it Item) (*itemRoot, error) {
	fi, err := os.Stat(it.Path)
	if err != nil {
		return nil, err
	}
	dir, single := it.Path, ""
	if !fi.IsDir() {
		real, err := filepath.EvalSymlinks(it.Path)
		if err != nil {
			return nil, err
		}
		dir, single = filepath.Dir(real), filepath.Base(real)
	}
	if r := l.roots[it.Path]; r != nil {
		if r.single == single && r.dir == dir {
			if cur, err := os.Stat(dir); err == nil && os.SameFile(cur, r.id) {
				return r, nil
			}
		}
		r.root.Close()
		delete(l.roots, it.Path)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	id, err := root.Stat(".")
	if err != nil {
		root.Close()
		return nil, err
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		root.Close()
		return nil, err
	}
	r := &itemRoot{root: root, dir: dir, single: single, id: id, real: real}
	l.roots[it.Path] = r
	return r, nil
}

// inSecret reports whether any component of the absolute path p is a likely
// secret (sharing "~/.ssh/keys" is as bad as sharing "~/.ssh").
func inSecret(p string) bool {
	for _, part := range strings.Split(filepath.ToSlash(p), "/") {
		if part != "" && IsSecretName(part) {
			return true
		}
	}
	return false
}

// linksToSecret reports whether the symbolic link at rel resolves to a likely
// secret inside the root ("photo.jpg" -> ".ssh/id_rsa"), or cannot be
// resolved. The link is served through os.Root either way; this only keeps a
// harmless-looking name from exposing a file the leak guard hides.
func (r *itemRoot) linksToSecret(rel string) bool {
	real, err := filepath.EvalSymlinks(filepath.Join(r.dir, filepath.FromSlash(rel)))
	if err != nil {
		return true
	}
	inside, err := filepath.Rel(r.real, real)
	if err != nil || !filepath.IsLocal(inside) {
		return true
	}
	return inSecret(inside)
}

// scanItem indexes one item, reusing content ids from old.
func (l *Library) scanItem(it Item, old *tree, st *ItemStatus) (*node, error) {
	if !l.opts.IncludeSecrets && inSecret(it.Path) {
		st.Secrets = []string{"."}
		return nil, nil
	}
	r, err := l.rootFor(it)
	if err != nil {
		return nil, err
	}
	if r.single != "" {
		fi, err := r.root.Stat(r.single)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", it.Path)
		}
		n := &node{name: it.Name, path: it.Name, root: r, rel: r.single}
		n.top = n
		l.fillFile(n, fi, old)
		return n, nil
	}
	fi, err := r.root.Stat(".")
	if err != nil {
		return nil, err
	}
	if os.SameFile(fi, l.dataID) {
		st.Secrets = []string{"."}
		return nil, nil
	}
	top := &node{name: it.Name, path: it.Name, dir: true, mtime: fi.ModTime(), root: r, rel: "."}
	top.top = top
	l.scanDir(top, top, 1, old, st)
	return top, nil
}

// scanDir fills dir's children from disk. depth is dir's number of tree path
// components.
func (l *Library) scanDir(dir, top *node, depth int, old *tree, st *ItemStatus) {
	f, err := dir.root.root.Open(filepath.FromSlash(dir.rel))
	if err != nil {
		l.log.Debug("cannot read folder", "path", dir.path, "err", err)
		return
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		l.log.Debug("cannot read folder", "path", dir.path, "err", err)
	}
	for _, e := range ents {
		name := e.Name()
		if ValidateName(name) != nil {
			continue // a name other machines would refuse anyway
		}
		rel := path.Join(dir.rel, name)
		if !l.opts.IncludeSecrets && IsSecretName(name) {
			if len(st.Secrets) < maxSecretsPer {
				st.Secrets = append(st.Secrets, strings.TrimPrefix(rel, "./"))
			}
			continue
		}
		p := dir.path + "/" + name
		if len(p) > MaxPathBytes || depth+1 > MaxDepth {
			continue
		}
		var fi fs.FileInfo
		switch t := e.Type(); {
		case t&fs.ModeSymlink != 0:
			// Followed only inside the root; folders are never followed.
			fi, err = dir.root.root.Stat(filepath.FromSlash(rel))
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if !l.opts.IncludeSecrets && dir.root.linksToSecret(rel) {
				if len(st.Secrets) < maxSecretsPer {
					st.Secrets = append(st.Secrets, rel)
				}
				continue
			}
		case t.IsDir():
			fi, err = e.Info()
			if err != nil {
				continue
			}
			if os.SameFile(fi, l.dataID) {
				if len(st.Secrets) < maxSecretsPer {
					st.Secrets = append(st.Secrets, rel)
				}
				continue
			}
			c := &node{name: name, path: p, dir: true, mtime: fi.ModTime(), root: dir.root, rel: rel, top: top}
			l.scanDir(c, top, depth+1, old, st)
			dir.add(c)
			continue
		case t.IsRegular():
			fi, err = e.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
		default:
			continue // devices, pipes, sockets
		}
		c := &node{name: name, path: p, root: dir.root, rel: rel, top: top}
		l.fillFile(c, fi, old)
		dir.add(c)
	}
	sortNodes(dir.children)
}

// add appends child c to folder n and adds up its totals.
func (n *node) add(c *node) {
	if n.byName == nil {
		n.byName = map[string]*node{}
	}
	n.children = append(n.children, c)
	n.byName[c.name] = c
	n.size += c.size
	if c.dir {
		n.files += c.files
	} else {
		n.files++
	}
}

// fillFile sets a file node's stat fields and, when this version was hashed
// before, its content id.
func (l *Library) fillFile(n *node, fi fs.FileInfo, old *tree) {
	n.size, n.mtime, n.ino = fi.Size(), fi.ModTime(), inodeOf(fi)
	if o := old.lookup(n.path); o != nil && !o.dir && o.root == n.root && o.rel == n.rel && o.sameVersion(n) {
		if fh := o.hash.Load(); fh != nil {
			n.hash.Store(fh)
			return
		}
	}
	if fh := l.cache.get(n.absPath(), n.key()); fh != nil {
		n.hash.Store(fh)
	}
}

func (n *node) key() fileKey {
	return fileKey{Size: n.size, MTime: n.mtime.UnixNano(), Ino: n.ino}
}

func (n *node) absPath() string {
	return filepath.Join(n.root.dir, filepath.FromSlash(n.rel))
}

func (n *node) sameVersion(o *node) bool {
	return n.size == o.size && n.mtime.Equal(o.mtime) && n.ino == o.ino
}

func (n *node) entry() Entry {
	e := Entry{Name: n.name, Path: n.path, Size: n.size, Dir: n.dir, ModTime: n.mtime, Files: n.files}
	if fh := n.hash.Load(); fh != nil {
		e.ContentID = fh.cid
	}
	return e
}

// sortNodes orders folders first, then names case-insensitively.
func sortNodes(ns []*node) {
	slices.SortFunc(ns, func(a, b *node) int {
		if a.dir != b.dir {
			if a.dir {
				return -1
			}
			return 1
		}
		if c := strings.Compare(FoldKey(a.name), FoldKey(b.name)); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
}

// walkNodes calls fn on n and everything below it, pre-order.
func walkNodes(n *node, fn func(*node)) {
	fn(n)
	for _, c := range n.children {
		walkNodes(c, fn)
	}
}

// lookup returns the node at tree path p, or nil.
func (t *tree) lookup(p string) *node {
	parts := splitPath(p)
	if len(parts) == 0 {
		return nil
	}
	n := t.byName[parts[0]]
	for _, part := range parts[1:] {
		if n == nil {
			return nil
		}
		n = n.byName[part]
	}
	return n
}

// find validates p and returns its node; p "" gives nil and no error.
func (l *Library) find(p string) (*tree, *node, error) {
	if err := ValidatePath(p); err != nil {
		return nil, nil, err
	}
	t := l.tree.Load()
	if p == "" {
		return t, nil, nil
	}
	n := t.lookup(p)
	if n == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	return t, n, nil
}

// Stat returns the entry at p; p "" is the top of the tree (a folder holding
// every item, with empty Name and Path).
func (l *Library) Stat(p string) (Entry, error) {
	t, n, err := l.find(p)
	if err != nil {
		return Entry{}, err
	}
	if n == nil {
		return Entry{Dir: true, Size: t.bytes, Files: t.files}, nil
	}
	return n.entry(), nil
}

// List returns the children of the folder at p, folders first, then by name;
// p "" lists the shared items. For a file it returns the file's own entry.
func (l *Library) List(p string) ([]Entry, error) {
	t, n, err := l.find(p)
	if err != nil {
		return nil, err
	}
	kids := t.items
	if n != nil {
		if !n.dir {
			return []Entry{n.entry()}, nil
		}
		kids = n.children
	}
	out := make([]Entry, len(kids))
	for i, c := range kids {
		out[i] = c.entry()
	}
	return out, nil
}

// Walk calls fn for p and everything below it, pre-order, in List order. For p
// "" it visits every shared item and what is below (not the top itself). An
// error from fn stops the walk and is returned.
func (l *Library) Walk(p string, fn func(Entry) error) error {
	t, n, err := l.find(p)
	if err != nil {
		return err
	}
	var walk func(*node) error
	walk = func(n *node) error {
		if err := fn(n.entry()); err != nil {
			return err
		}
		for _, c := range n.children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if n != nil {
		return walk(n)
	}
	for _, top := range t.items {
		if err := walk(top); err != nil {
			return err
		}
	}
	return nil
}

// Search returns up to max entries (files and folders, pre-order) whose name
// contains every word of query, ignoring case. max <= 0 means 500.
func (l *Library) Search(query string, max int) []Entry {
	words := strings.Fields(strings.ToLower(query))
	if len(words) == 0 {
		return nil
	}
	if max <= 0 {
		max = 500
	}
	var out []Entry
	errFull := errors.New("full")
	t := l.tree.Load()
	var walk func(*node) error
	walk = func(n *node) error {
		name := strings.ToLower(n.name)
		match := true
		for _, w := range words {
			if !strings.Contains(name, w) {
				match = false
				break
			}
		}
		if match {
			out = append(out, n.entry())
			if len(out) >= max {
				return errFull
			}
		}
		for _, c := range n.children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, top := range t.items {
		if walk(top) != nil {
			break
		}
	}
	return out
}

// Totals returns the number of shared files and their bytes.
func (l *Library) Totals() (files int, bytes int64) {
	t := l.tree.Load()
	return t.files, t.bytes
}

// HashProgress returns how many of the shared bytes have a content id.
func (l *Library) HashProgress() (hashedBytes, totalBytes int64) {
	t := l.tree.Load()
	return t.hashed.Load(), t.bytes
}

// Items returns the status of every shared item, sorted by name.
func (l *Library) Items() []ItemStatus {
	t := l.tree.Load()
	out := make([]ItemStatus, len(t.status))
	for i, st := range t.status {
		st.Secrets = slices.Clone(st.Secrets)
		if top := t.tops[i]; top != nil {
			st.HashedBytes = top.hashed.Load()
		}
		out[i] = st
	}
	return out
}

// Hashes returns the block hashes of content cid: ErrBadContentID if cid is
// malformed, ErrNotFound if no shared file has that content (or has not been
// hashed yet).
func (l *Library) Hashes(cid string) (Hashes, error) {
	if !ValidContentID(cid) {
		return Hashes{}, ErrBadContentID
	}
	t := l.tree.Load()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.byCID[cid] {
		if fh := n.hash.Load(); fh != nil {
			return fh.h, nil
		}
	}
	return Hashes{}, fmt.Errorf("%w: %s", ErrNotFound, cid)
}

// Has reports whether a shared file has content cid.
func (l *Library) Has(cid string) bool {
	t := l.tree.Load()
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byCID[cid]) > 0
}

// hashPending hashes every file of the current index without a content id,
// with HashWorkers goroutines, until done or ctx ends.
func (l *Library) hashPending(ctx context.Context) {
	t := l.tree.Load()
	var pending []*node
	for _, top := range t.items {
		walkNodes(top, func(n *node) {
			if !n.dir && n.hash.Load() == nil {
				pending = append(pending, n)
			}
		})
	}
	if len(pending) == 0 {
		return
	}
	jobs := make(chan *node)
	var wg sync.WaitGroup
	var any atomic.Bool
	for range l.opts.HashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, BlockSize)
			for n := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := l.hashFile(n, buf); err != nil {
					l.log.Debug("hashing", "path", n.path, "err", err)
					continue
				}
				any.Store(true)
				l.notify(false)
			}
		}()
	}
	for _, n := range pending {
		if ctx.Err() != nil {
			break
		}
		jobs <- n
	}
	close(jobs)
	wg.Wait()
	if any.Load() {
		l.notify(true)
	}
}

// hashFile computes n's content id (or takes it from the cache) and sets it on
// the matching node of the current index.
func (l *Library) hashFile(n *node, buf []byte) error {
	abs, key := n.absPath(), n.key()
	fh := l.cache.get(abs, key)
	if fh == nil {
		f, err := n.root.root.OpenFile(filepath.FromSlash(n.rel), openReadFlags, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := checkSame(f, n); err != nil {
			return err
		}
		h, err := HashReader(io.LimitReader(f, n.size+1), buf)
		if err != nil {
			return err
		}
		if err := checkSame(f, n); err != nil || h.Size != n.size {
			return ErrChanged
		}
		l.hashedFiles.Add(1)
		fh = &fileHash{cid: h.ContentID(), h: h}
		l.cache.put(abs, key, fh)
	}
	l.setHash(n, fh)
	return nil
}

// setHash records fh on the current index's node for n's path, if it is still
// the same version.
func (l *Library) setHash(n *node, fh *fileHash) {
	t := l.tree.Load()
	cur := t.lookup(n.path)
	if cur == nil || cur.dir || cur.root != n.root || cur.rel != n.rel || !cur.sameVersion(n) {
		return
	}
	if !cur.hash.CompareAndSwap(nil, fh) {
		return
	}
	cur.top.hashed.Add(cur.size)
	t.hashed.Add(cur.size)
	t.mu.Lock()
	t.byCID[fh.cid] = append(t.byCID[fh.cid], cur)
	t.mu.Unlock()
}
