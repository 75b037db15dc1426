package share

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"porch/share/db"
)

// Defaults of LibraryOptions.
const (
	// DefaultRescan is how often Run walks every shared tree in full when
	// LibraryOptions.Rescan is zero: a safety net beside change
	// notifications, as often as Syncthing's.
	DefaultRescan = time.Hour
	// DefaultPoll is how often Run rescans when a shared item is not
	// watched (the watch limit is reached, or its filesystem sends no
	// notifications) and LibraryOptions.Poll is zero.
	DefaultPoll = 30 * time.Second
	// settleDelay is how long Run waits after a change notification for
	// more before it rescans; settleMax bounds the wait while changes keep
	// coming.
	settleDelay = 150 * time.Millisecond
	settleMax   = time.Second
)

const (
	maxSecretsPer = 100                    // excluded paths reported per item
	saveEvery     = time.Second            // hash cache writes while hashing, at most
	notifyEvery   = 500 * time.Millisecond // OnChange calls while hashing, at most
)

// LibraryOptions configures OpenLibrary.
type LibraryOptions struct {
	DataDir        string        // the catalog (shares.json) lives here, and the database when DB is nil
	DB             *db.DB        // where the hash cache lives; nil: OpenLibrary opens DataDir's and Close closes it
	Rescan         time.Duration // how often Run walks every shared tree even without change notifications (default DefaultRescan)
	Poll           time.Duration // how often Run rescans while an item is not watched (default DefaultPoll)
	HashWorkers    int           // files hashed at once (default 1)
	IncludeSecrets bool          // false: likely secrets (IsSecretName) are neither listed nor served
	OnChange       func()        // called after the index or hashing progress changed, from Run's goroutines or from Add, Remove and Rescan (possibly concurrently); must not block; may be nil
	Transient      bool          // a library beside the data folder's own (an offer's, under DB's data folder): it records no watch status there, which belongs to the main library
	Logger         *slog.Logger  // nil: slog.Default()
}

// ItemStatus describes one shared item as the library sees it.
type ItemStatus struct {
	Item
	Files       int      `json:"files"`
	Bytes       int64    `json:"bytes"`
	HashedBytes int64    `json:"hashed_bytes"`
	Secrets     []string `json:"secrets,omitempty"`   // slash paths below the item excluded as likely secrets or as Porch's data folder ("." is the item itself)
	Err         string   `json:"error,omitempty"`     // why the item cannot be served (e.g. it was deleted)
	Unwatched   string   `json:"unwatched,omitempty"` // while Run runs: why changes to the item are found by periodic rescans only
}

// Library is what this machine serves: the catalog, an index of every shared
// tree, and the content ids of the files in it. Lookups (Stat, List, Walk,
// Open, Search...) read an immutable snapshot of the index and never wait for
// a scan or for hashing; a file's content id is set once, atomically, when it
// has been hashed.
//
// Library is safe for concurrent use. scanMu serialises scans and guards
// roots; the current snapshot is an atomic pointer; each snapshot's mu guards
// its content id map for readers, and hashMu serialises the setting of
// content ids with the publication of a snapshot (see tree).
type Library struct {
	opts  LibraryOptions
	log   *slog.Logger
	cat   *Catalog
	cache *hashCache
	ownDB *db.DB // opened by OpenLibrary, closed by Close; nil when given

	scanMu sync.Mutex
	roots  map[string]*itemRoot // by Item.Path
	closed bool
	hashMu sync.Mutex

	tree      atomic.Pointer[tree]
	running   atomic.Bool
	watch     atomic.Pointer[watcher] // set while Run watches for changes
	version   atomic.Uint64           // see Version
	rescanReq chan struct{}           // 1-buffered: RescanNow asks Run for a full rescan

	notifyMu   sync.Mutex
	lastNotify time.Time

	dataID fs.FileInfo // the data folder (keys, peers, paths) is never shared

	hashedFiles atomic.Int64     // files actually read and hashed (not from the cache); for tests
	onHashed    func(abs string) // if set before Run, called after each file hashedFiles counts; for tests
}

// itemRoot is the os.Root through which one item is read.
type itemRoot struct {
	root   *os.Root
	dir    string      // absolute folder the root is opened on
	single string      // for a file item: its name inside dir; "" for a folder item
	id     fs.FileInfo // dir's identity when opened
	real   string      // dir with symbolic links resolved, to vet link targets
	// folder is dir itself, open for readBeneath (nil where that failed).
	folder *os.File
}

// close closes the root and the folder.
func (r *itemRoot) close() {
	r.root.Close()
	if r.folder != nil {
		r.folder.Close()
	}
}

// fileHash is a file's hashes and content id, as the hash cache returns them.
type fileHash struct {
	cid string
	h   Hashes
}

// OpenLibrary opens the catalog in opts.DataDir and the hash cache in
// opts.DB (or in the database of opts.DataDir) and indexes every shared item
// once, synchronously. Hashing happens in Run.
func OpenLibrary(opts LibraryOptions) (*Library, error) {
	if opts.DataDir == "" {
		return nil, errNoDataDir
	}
	if opts.Rescan <= 0 {
		opts.Rescan = DefaultRescan
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
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
	dataID, err := os.Stat(opts.DataDir)
	if err != nil {
		return nil, err
	}
	var own *db.DB
	if opts.DB == nil {
		if own, err = openDB(opts.DataDir); err != nil {
			return nil, err
		}
		opts.DB = own
	}
	l := &Library{opts: opts, log: opts.Logger, cat: cat, cache: newHashCache(opts.DB), ownDB: own,
		roots: map[string]*itemRoot{}, dataID: dataID, rescanReq: make(chan struct{}, 1)}
	l.tree.Store(&tree{byName: map[string]int{}, byCID: map[uint64]uint64{}, more: map[uint64][]uint64{}})
	// Versions start from the clock, so a restarted peer never repeats one
	// that neighbours remember; in microseconds they stay below 2^53, exact
	// in any JSON reader.
	l.version.Store(uint64(time.Now().UnixMicro()))
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

// Close writes what the hash cache buffered, closes the shared roots and the
// database OpenLibrary opened (not one given in LibraryOptions.DB). Call it
// after Run has returned. Files already open stay readable.
func (l *Library) Close() error {
	l.scanMu.Lock()
	defer l.scanMu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	for p, r := range l.roots {
		r.close()
		delete(l.roots, p)
	}
	err := l.cache.save()
	if l.ownDB != nil {
		err = errors.Join(err, l.ownDB.Close())
	}
	return err
}

// Run keeps the index current until ctx ends. It watches every shared tree
// and the catalog for changes and rescans shortly after one (see
// settleDelay); it also walks everything every Rescan interval (longer when
// a scan is slow) as a safety net, and every Poll interval while an item
// cannot be watched. It hashes files without a content id using HashWorkers
// goroutines, writing their hashes to the database at least every
// saveEvery. It waits for those goroutines, writes what the hash cache
// buffered and returns nil when ctx ends.
func (l *Library) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("library: already running")
	}
	defer l.running.Store(false)
	var wake <-chan struct{}
	w, err := newWatcher(l.opts.DataDir, l.log)
	defer l.saveWatchStatus(nil) // nobody watches once Run is over
	if err != nil {
		l.log.Warn("shares are not watched for changes; rescanning them every while instead", "err", err)
		all := map[string]string{}
		for _, it := range l.cat.Items() {
			all[it.Path] = "the system gives no change notifications (" + err.Error() + ")"
		}
		l.saveWatchStatus(all)
	} else {
		defer w.close()
		l.watch.Store(w)
		defer l.watch.Store(nil)
		wake = w.wake
		if l.syncWatches(w) {
			l.rescanLogged()
		}
	}
	var wg sync.WaitGroup
	done := make(chan struct{}, 1)
	hashing := false
	again := false // a scan published files the running pass may not see
	startPass := func() {
		if hashing {
			again = true
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
	full := time.NewTimer(l.opts.Rescan)
	defer full.Stop()
	poll := time.NewTicker(l.opts.Poll)
	defer poll.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	var settleBy time.Time // when a pending change is rescanned at the latest; zero: none pending
	// The hash cache is written while hashing goes on (and every
	// flushEvery files), and when a pass ends, so that a kill loses at most
	// saveEvery of hashing.
	save := time.NewTicker(saveEvery)
	defer save.Stop()
	saveCache := func() {
		if l.cache.isDirty() {
			if err := l.cache.save(); err != nil {
				l.log.Warn("saving hash cache", "err", err)
			}
		}
	}
	lastTouch := time.Now()
	scan := func(reload bool) {
		if reload {
			if _, err := l.cat.Reload(); err != nil {
				l.log.Warn("reading shares", "err", err)
			}
		}
		start := time.Now()
		l.rescanLogged()
		if w != nil && l.syncWatches(w) {
			l.rescanLogged() // files made in new folders before their watch began
		}
		// Huge trees are walked in full less often: scanning takes at most
		// about a fifth of the time.
		full.Reset(max(l.opts.Rescan, 5*time.Since(start)))
		startPass()
		if time.Since(lastTouch) >= 24*time.Hour {
			// A long-running peer reuses content ids without asking the
			// cache; keep their entries from ageing out.
			lastTouch = time.Now()
			l.touchCache()
		}
	}
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
			saveCache()
			if again {
				again = false
				startPass()
			}
		case <-save.C:
			if hashing {
				saveCache()
			}
		case <-wake:
			now := time.Now()
			if settleBy.IsZero() {
				settleBy = now.Add(settleMax)
			}
			settle.Reset(min(settleDelay, max(0, settleBy.Sub(now))))
		case <-settle.C:
			settleBy = time.Time{}
			_, catalog, _ := w.take()
			scan(catalog)
		case <-poll.C:
			if w == nil || len(w.unwatched()) > 0 {
				scan(true)
			}
		case <-full.C:
			scan(true)
		case <-l.rescanReq:
			scan(true)
		}
	}
}

// RescanNow walks every shared item again, re-reading the catalog: at once
// through Run's loop when Run is running (so new folders are watched too),
// else here before it returns.
func (l *Library) RescanNow() error {
	if l.running.Load() {
		select {
		case l.rescanReq <- struct{}{}:
		default: // one is already asked for
		}
		return nil
	}
	if _, err := l.cat.Reload(); err != nil {
		return err
	}
	return l.Rescan()
}

// rescanLogged rescans, logging a failure.
func (l *Library) rescanLogged() {
	if err := l.Rescan(); err != nil {
		l.log.Warn("rescanning shares", "err", err)
	}
}

// syncWatches points w at the folders of the current index and reports
// whether it began watching a folder it did not watch before.
func (l *Library) syncWatches(w *watcher) bool {
	dirs, files := map[string][]string{}, map[string][]string{}
	t := l.tree.Load()
	for _, it := range t.items {
		item := t.status[it.status].Path
		if it.f.single {
			abs := it.f.childAbs(0)
			files[abs] = append(files[abs], item)
			continue
		}
		for _, f := range t.folders[it.first:it.end] {
			abs := f.abs()
			dirs[abs] = append(dirs[abs], item)
		}
	}
	added, brokenChanged := w.sync(dirs, files)
	if brokenChanged {
		l.saveWatchStatus(w.unwatched())
		l.notify(true)
	}
	return added
}

// touchCache marks the cache entries of every hashed file as in use, a
// batch of paths at a time.
func (l *Library) touchCache() {
	const batch = 10000
	var paths []string
	flush := func() {
		if err := l.cache.touch(paths); err != nil {
			l.log.Warn("recording the use of hashes", "err", err)
		}
		paths = paths[:0]
	}
	for _, f := range l.tree.Load().folders {
		for i := f.ndirs; i < len(f.kids); i++ {
			if _, ok := f.slot(i).digest(); ok {
				paths = append(paths, f.childAbs(i))
				if len(paths) == batch {
					flush()
				}
			}
		}
	}
	flush()
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
