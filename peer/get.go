package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"porch/peer/swarm"
	"porch/peer/wire"
	"porch/share"

	"golang.org/x/text/unicode/norm"
)

// Limits on what one download accepts from a remote listing.
const (
	maxGetEntries   = 1_000_000
	maxGetPathBytes = 96 << 20        // bytes of the paths of one download's listing
	hashWait        = 2 * time.Minute // how long to wait for a source to finish hashing
	batchMaxFiles   = 1000
	batchMaxBytes   = 64 << 20
	batchesInFlight = 2 // batch requests at once
	smallWriters    = 4 // goroutines creating small files
	hasChunk        = 1000
	sourceInfoWait  = 5 * time.Second
)

// GetProgress reports a download's progress across all its files.
type GetProgress struct {
	Done, Total int64   // bytes
	Rate        float64 // bytes per second, smoothed
	Sources     int     // peers the current file is drawn from
	File        string  // path of the file being fetched, relative to the destination
	Folder      bool    // the download is a folder
}

// GetResult summarises a finished download.
type GetResult struct {
	Target       string // the top file or folder as written, relative to the destination
	Folder       bool   // Target is a folder
	Files        int    // files written
	Bytes        int64  // bytes fetched
	SkippedBytes int64  // bytes of files that were already present
	Sources      int    // most peers any one file was drawn from
}

// getJob is one download in progress; mu guards the progress fields and
// the result.
type getJob struct {
	e        *Engine
	origin   *wire.Client
	info     PeerInfo
	store    *share.Store
	onProg   func(GetProgress)
	repMu    sync.Mutex // held while onProg runs
	mu       sync.Mutex
	total    int64
	doneBase int64 // bytes of finished files
	curDone  int64 // bytes of the file in progress
	sources  int
	file     string
	rate     rateMeter
	res      GetResult
}

// Get downloads the file or folder at path on a neighbour into dir: a file
// to dir/name, a folder p/a/b to dir/b/.... It resumes partial files left by
// an earlier Get, verifies every block and every file, draws each file from
// every online neighbour that holds the same content, never overwrites a
// finished file (a clash gets "name (1).ext") and skips files already present
// with the same content. onProgress may be nil.
func (e *Engine) Get(ctx context.Context, peerID, p, dir string, onProgress func(GetProgress)) (GetResult, error) {
	p = strings.Trim(p, "/")
	if err := share.ValidatePath(p); err != nil || p == "" {
		return GetResult{}, fmt.Errorf("%q: %w", p, share.ErrBadPath)
	}
	c, info, err := e.peers.client(peerID)
	if err != nil {
		return GetResult{}, err
	}
	store, err := share.OpenStore(dir)
	if err != nil {
		return GetResult{}, fmt.Errorf("download folder: %w", err)
	}
	defer store.Close()
	j := &getJob{e: e, origin: c, info: info, store: store, onProg: onProgress}
	entries, err := j.listing(ctx, p)
	if err != nil {
		return GetResult{}, err
	}
	j.res.Target, j.res.Folder = entries[0].rel, entries[0].Dir
	var small, large []getEntry
	for _, en := range entries {
		switch {
		case en.Dir:
			if err := store.MkdirAll(en.rel); err != nil {
				return j.res, fmt.Errorf("%s: %w", en.rel, err)
			}
		case en.Size <= share.BlockSize:
			small = append(small, en)
			j.total += en.Size
		default:
			large = append(large, en)
			j.total += en.Size
		}
	}
	if err := j.fetchSmall(ctx, small); err != nil {
		return j.res, err
	}
	for _, en := range large {
		if err := j.fetchLarge(ctx, en); err != nil {
			return j.res, err
		}
	}
	j.report()
	return j.res, nil
}

// getEntry is a remote entry with its destination path.
type getEntry struct {
	share.Entry
	rel string // destination path relative to the download folder
}

// listing fetches the tree below p, waiting for the source to finish hashing
// files that have no content id yet, and maps each entry to its destination.
func (j *getJob) listing(ctx context.Context, p string) ([]getEntry, error) {
	deadline := time.Now().Add(hashWait)
	cut := len(p) - len(path.Base(p)) // rel is the entry's path from p's last component on
	for {
		var out []getEntry
		var pathBytes int
		unhashed := 0
		names := newSiblings()
		err := j.origin.Tree(ctx, p, func(en share.Entry) error {
			if len(out) >= maxGetEntries {
				return fmt.Errorf("%s has more than %d entries under %s", j.info.Name, maxGetEntries, shortQuote(p))
			}
			if pathBytes += len(en.Path); pathBytes > maxGetPathBytes {
				return fmt.Errorf("%s lists more than %d MiB of names under %s; Porch stops there", j.info.Name, maxGetPathBytes>>20, shortQuote(p))
			}
			if en.Path != p && !strings.HasPrefix(en.Path, p+"/") {
				return fmt.Errorf("%s sent %s, which is outside %s", j.info.Name, shortQuote(en.Path), shortQuote(p))
			}
			// Name and rel share Path's memory: a listing of a million
			// entries is held once.
			en.Name = en.Path[len(en.Path)-len(en.Name):]
			rel := en.Path[cut:]
			if err := share.ValidatePath(rel); err != nil {
				return fmt.Errorf("%s sent a bad name: %w", j.info.Name, err)
			}
			if other, clash := names.add(en.Path, en.Dir); clash {
				return fmt.Errorf("%s lists both %s and %s, names that some filesystems take for one; Porch does not guess which to keep",
					j.info.Name, shortQuote(other), shortQuote(en.Name))
			}
			if !en.Dir && en.ContentID == "" {
				unhashed++
			}
			out = append(out, getEntry{en, rel})
			return nil
		})
		if err != nil {
			return nil, friendly(j.info, err)
		}
		if len(out) == 0 || out[0].Path != p {
			return nil, fmt.Errorf("%s does not share %s", j.info.Name, shortQuote(p))
		}
		if unhashed == 0 {
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s is still preparing %d files of %s; try again in a while", j.info.Name, unhashed, shortQuote(p))
		}
		j.e.log.Info("waiting for the source to finish hashing", "peer", j.info.Name, "files", unhashed)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// droppedSource is a source the swarm gave up on, and why.
type droppedSource struct {
	name string
	err  error
}

// siblings finds names in one folder of a listing that would be one file on
// a filesystem that ignores case or Unicode normalisation (NTFS, APFS,
// exFAT). The listing comes in pre-order, so it keeps the names of the
// folders on the current path only.
type siblings struct {
	stack []siblingDir
}

type siblingDir struct {
	path  string
	names map[string]string // folded name -> name as listed
}

func newSiblings() *siblings { return &siblings{} }

// add records the entry at slash path p and reports an earlier sibling it
// clashes with.
func (s *siblings) add(p string, dir bool) (other string, clash bool) {
	parent, name := path.Split(p)
	parent = strings.TrimSuffix(parent, "/")
	for len(s.stack) > 0 && s.stack[len(s.stack)-1].path != parent {
		s.stack = s.stack[:len(s.stack)-1]
	}
	if len(s.stack) > 0 {
		top := s.stack[len(s.stack)-1]
		key := strings.ToLower(norm.NFC.String(name))
		if other, ok := top.names[key]; ok {
			return other, true
		}
		top.names[key] = name
	}
	if dir {
		s.stack = append(s.stack, siblingDir{path: p, names: map[string]string{}})
	}
	return "", false
}

// shortQuote quotes a name from the network for a message, cut to 80 bytes.
func shortQuote(s string) string {
	if len(s) <= 80 {
		return fmt.Sprintf("%q", s)
	}
	cut := 80
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}

// fetchSmall fetches single-block files in batches from the origin: one
// request per thousand files rather than one per file, a few requests in
// flight at once. Each file is handed to a few writers, which verify it
// against its content id and create it (several system calls each) on every
// core while the batches stream in. The writers name each file by a single
// component inside an os.Root opened on its folder (share.Dir), not by its
// path from the download folder.
func (j *getJob) fetchSmall(ctx context.Context, files []getEntry) error {
	dirs := &dirCache{store: j.store, open: map[string]*cachedDir{}}
	defer dirs.closeAll()
	var todo []getEntry
	for _, en := range files {
		d, name, release, err := dirs.acquire(en.rel)
		if err != nil {
			return fmt.Errorf("%s: %w", en.rel, err)
		}
		have := d.HaveContent(name, en.Size, en.ContentID)
		release()
		if have {
			j.skipped(en.Size)
			continue
		}
		todo = append(todo, en)
	}
	if len(todo) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type put struct {
		en   getEntry
		data []byte
	}
	puts := make(chan put, smallWriters*4)
	var wg sync.WaitGroup
	for range smallWriters {
		wg.Go(func() {
			for p := range puts {
				if ctx.Err() != nil {
					continue
				}
				if err := j.putSmall(dirs, p.en, p.data); err != nil {
					cancel(err)
					continue
				}
				j.finished(p.en.Size, 1)
			}
		})
	}
	err := j.fetchBatches(ctx, todo, func(en getEntry, data []byte) error {
		select {
		case puts <- put{en, bytes.Clone(data)}:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	})
	close(puts)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && err == nil {
		err = cause
	}
	return err
}

// putSmall verifies and writes one small file into its folder.
func (j *getJob) putSmall(dirs *dirCache, en getEntry, data []byte) error {
	d, name, release, err := dirs.acquire(en.rel)
	if err != nil {
		return fmt.Errorf("%s: %w", en.rel, err)
	}
	defer release()
	if int64(len(data)) != en.Size {
		return fmt.Errorf("%s sent %d bytes for %s, which it lists as %d bytes", j.info.Name, len(data), shortQuote(en.Path), en.Size)
	}
	if _, err := d.Put(name, en.ContentID, data); err != nil {
		if errors.Is(err, share.ErrHashMismatch) {
			return fmt.Errorf("%s sent bytes for %s that do not match its content id", j.info.Name, shortQuote(en.Path))
		}
		return fmt.Errorf("%s: %w", en.rel, err)
	}
	return nil
}

// maxOpenDirs bounds the folders a dirCache keeps open (two descriptors
// each) when nothing is using them.
const maxOpenDirs = 64

// dirCache opens the download store's folders for small files as they are
// needed and keeps the most recently used of them open: a listing names the
// files of one folder together, so each folder is opened about once. Safe
// for concurrent use.
type dirCache struct {
	store *share.Store
	mu    sync.Mutex
	open  map[string]*cachedDir
	tick  uint64
}

type cachedDir struct {
	d    *share.Dir
	refs int
	used uint64
}

// acquire returns the folder of rel (a slash path in the store) and rel's
// last component; release must be called once the folder is no longer used.
func (c *dirCache) acquire(rel string) (d *share.Dir, name string, release func(), err error) {
	dir, name := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tick++
	cd := c.open[dir]
	if cd == nil {
		if len(c.open) >= maxOpenDirs {
			c.evictLocked()
		}
		d, err := c.store.OpenDir(dir)
		if err != nil {
			return nil, "", nil, err
		}
		cd = &cachedDir{d: d}
		c.open[dir] = cd
	}
	cd.refs++
	cd.used = c.tick
	return cd.d, name, func() {
		c.mu.Lock()
		cd.refs--
		c.mu.Unlock()
	}, nil
}

// evictLocked closes the least recently used folder nobody is using, if any.
func (c *dirCache) evictLocked() {
	var oldest string
	var best *cachedDir
	for k, cd := range c.open {
		if cd.refs == 0 && (best == nil || cd.used < best.used) {
			oldest, best = k, cd
		}
	}
	if best != nil {
		best.d.Close()
		delete(c.open, oldest)
	}
}

// closeAll closes every folder; nothing may be using them.
func (c *dirCache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cd := range c.open {
		cd.d.Close()
		delete(c.open, k)
	}
}

// fetchBatches asks the origin for todo in batches, batchesInFlight at a
// time, and calls got with each file's bytes (valid only during the call;
// in order within a batch, from several goroutines at once).
func (j *getJob) fetchBatches(ctx context.Context, todo []getEntry, got func(getEntry, []byte) error) error {
	var batches [][]getEntry
	for len(todo) > 0 {
		n, size := 0, int64(0)
		for n < len(todo) && n < batchMaxFiles && size+todo[n].Size <= batchMaxBytes {
			size += todo[n].Size
			n++
		}
		batches = append(batches, todo[:n])
		todo = todo[n:]
	}
	bctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan []getEntry)
	var wg sync.WaitGroup
	for range min(batchesInFlight, len(batches)) {
		wg.Go(func() {
			for batch := range next {
				if err := j.fetchBatch(bctx, batch, got); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, b := range batches {
		select {
		case next <- b:
		case <-bctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(bctx); err != nil {
		return err
	}
	j.mu.Lock()
	j.res.Sources = max(j.res.Sources, 1)
	j.mu.Unlock()
	return nil
}

// fetchBatch fetches one batch: every file in it must come.
func (j *getJob) fetchBatch(ctx context.Context, batch []getEntry, got func(getEntry, []byte) error) error {
	cids := make([]string, len(batch))
	for i, en := range batch {
		cids[i] = en.ContentID
	}
	seen := make([]bool, len(batch))
	err := j.origin.Batch(ctx, cids, func(i int, data []byte) error {
		seen[i] = true
		return got(batch[i], data)
	})
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			return cause
		}
		return friendly(j.info, err)
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("%s no longer has %s (it changed or was removed)", j.info.Name, batch[i].Path)
		}
	}
	return nil
}

// fetchLarge fetches one multi-block file from every online holder.
func (j *getJob) fetchLarge(ctx context.Context, en getEntry) error {
	h, err := j.origin.Hashes(ctx, en.ContentID)
	if err != nil {
		return friendly(j.info, err)
	}
	if h.Size != en.Size {
		return fmt.Errorf("%s lists %s as %d bytes, but its hashes are those of %d bytes", j.info.Name, shortQuote(en.Path), en.Size, h.Size)
	}
	if j.store.Have(en.rel, h) {
		j.skipped(en.Size)
		return nil
	}
	part, err := j.store.OpenPartial(en.rel, h)
	if err != nil {
		return fmt.Errorf("%s: %w", en.rel, err)
	}
	defer part.Close()
	var dropped []droppedSource // OnDrop runs on the fetcher's goroutine, before Run returns
	j.mu.Lock()
	j.file, j.curDone = en.rel, part.Verified()
	j.mu.Unlock()
	f := swarm.NewFetcher(h, en.ContentID, part, swarm.Options{
		OnProgress: func(p swarm.Progress) {
			j.mu.Lock()
			j.curDone, j.sources = p.Done, p.Sources
			j.res.Sources = max(j.res.Sources, p.Sources)
			j.mu.Unlock()
			j.report()
		},
		OnDrop: func(s swarm.Source, err error) {
			dropped = append(dropped, droppedSource{s.Name(), err})
		},
		Logger: j.e.log,
	})
	f.AddSource(clientSource{j.origin, j.info})
	stop := j.e.addHolders(ctx, en.ContentID, j.info.ID, f.AddSource)
	err = f.Run(ctx)
	stop()
	if err == nil {
		// The file arrived from the others; say who was dropped on the way.
		for _, d := range dropped {
			j.e.log.Warn("source dropped", "peer", d.name, "file", en.rel, "err", d.err)
		}
	}
	if err != nil {
		if errors.Is(err, swarm.ErrNoSources) {
			return fmt.Errorf("%s: no neighbour could deliver it (%w); the verified part is kept for the next try", en.rel, err)
		}
		return err
	}
	final, err := part.Finish()
	if err != nil {
		return fmt.Errorf("%s: %w", en.rel, err)
	}
	j.e.log.Debug("file done", "file", final)
	j.mu.Lock()
	j.curDone = 0
	j.mu.Unlock()
	j.finished(en.Size, 1)
	return nil
}

func (j *getJob) skipped(n int64) {
	j.mu.Lock()
	j.total -= n
	j.res.SkippedBytes += n
	j.mu.Unlock()
}

func (j *getJob) finished(n int64, files int) {
	j.mu.Lock()
	j.doneBase += n
	j.res.Bytes += n
	j.res.Files += files
	j.mu.Unlock()
	j.report()
}

func (j *getJob) report() {
	if j.onProg == nil {
		return
	}
	// Writers report from several goroutines; onProg sees one call at a time.
	j.repMu.Lock()
	defer j.repMu.Unlock()
	j.mu.Lock()
	done := j.doneBase + j.curDone
	p := GetProgress{Done: done, Total: j.total, Rate: j.rate.add(done), Sources: j.sources, File: j.file, Folder: j.res.Folder}
	j.mu.Unlock()
	j.onProg(p)
}

// rateMeter smooths a byte counter into bytes per second.
type rateMeter struct {
	lastT    time.Time
	lastDone int64
	rate     float64
}

func (m *rateMeter) add(done int64) float64 {
	now := time.Now()
	if m.lastT.IsZero() {
		m.lastT, m.lastDone = now, done
		return 0
	}
	dt := now.Sub(m.lastT).Seconds()
	if dt < 0.2 {
		return m.rate
	}
	inst := float64(done-m.lastDone) / dt
	if m.rate == 0 {
		m.rate = inst
	} else {
		m.rate = 0.7*m.rate + 0.3*inst
	}
	m.lastT, m.lastDone = now, done
	return m.rate
}

// addHolders calls add with a source for every other online peer that holds
// cid, now and whenever one comes online, until the returned stop is called
// (stop waits for the questions in flight). The question is asked of each
// peer once per time it is seen online.
func (e *Engine) addHolders(ctx context.Context, cid, origin string, add func(swarm.Source)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu    sync.Mutex
		asked = map[string]bool{origin: true}
		wg    sync.WaitGroup
	)
	ask := func(id string) {
		mu.Lock()
		defer mu.Unlock()
		if asked[id] || ctx.Err() != nil {
			return
		}
		asked[id] = true
		wg.Go(func() {
			c, info, err := e.peers.client(id)
			if err != nil {
				return
			}
			qctx, qcancel := context.WithTimeout(ctx, sourceInfoWait)
			defer qcancel()
			if has, err := c.Has(qctx, []string{cid}); err == nil && len(has) == 1 && has[0] == cid {
				add(clientSource{c, info})
			}
		})
	}
	unsubscribe := e.Subscribe(func(ev Event) {
		switch {
		case ev.Kind != PeerAdded && ev.Kind != PeerUpdated && ev.Kind != PeerRemoved:
		case ev.Peer.Online && ev.Kind != PeerRemoved:
			ask(ev.Peer.ID)
		default: // gone: ask again if it comes back
			mu.Lock()
			delete(asked, ev.Peer.ID)
			mu.Unlock()
		}
	})
	_, infos := e.peers.online()
	for _, info := range infos {
		ask(info.ID)
	}
	return func() {
		unsubscribe()
		mu.Lock()
		cancel()
		mu.Unlock()
		wg.Wait()
	}
}

// clientSource adapts a *wire.Client to swarm.Source.
type clientSource struct {
	c    *wire.Client
	info PeerInfo
}

func (s clientSource) ID() string   { return s.info.ID }
func (s clientSource) Name() string { return s.info.Name }
func (s clientSource) ReadRange(ctx context.Context, cid string, off int64, p []byte) error {
	return s.c.ReadRange(ctx, cid, off, p)
}
