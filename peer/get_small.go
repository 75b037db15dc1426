package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"porch/peer/wire"
	"porch/share"
)

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
		return fmt.Errorf("%s sent %d bytes for %s, which it lists as %d bytes", j.info.Name, len(data), wire.Quote(en.Path), en.Size)
	}
	_, originErr, err := d.PutFrom(name, en.ContentID, data, share.OriginURL(j.info.ID, en.Path))
	if originErr != nil {
		j.e.log.Debug("download's origin not recorded", "file", en.rel, "err", originErr)
	}
	if err != nil {
		if errors.Is(err, share.ErrHashMismatch) {
			return fmt.Errorf("%s sent bytes for %s that do not match its content id", j.info.Name, wire.Quote(en.Path))
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
