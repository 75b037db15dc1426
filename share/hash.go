package share

import (
	"context"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
)

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
		l.version.Add(1) // the listings now carry content ids
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
		if err := l.cache.put(abs, key, fh); err != nil {
			l.log.Warn("saving hashes", "err", err)
		}
		if l.onHashed != nil {
			l.onHashed(abs)
		}
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
