package share

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// hashPending hashes every file of the current index without a content id,
// with HashWorkers goroutines, until done or ctx ends.
func (l *Library) hashPending(ctx context.Context) {
	t := l.tree.Load()
	jobs := make(chan nodeRef)
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
					l.log.Debug("hashing", "path", n.f.childPath(n.i), "err", err)
					continue
				}
				any.Store(true)
				l.notify(false)
			}
		}()
	}
feed:
	for _, f := range t.folders {
		for i := f.ndirs; i < len(f.kids); i++ {
			if ctx.Err() != nil {
				break feed
			}
			if f.slot(i).state.Load() == slotEmpty {
				jobs <- nodeRef{f, i}
			}
		}
	}
	close(jobs)
	wg.Wait()
	if l.held.found.Swap(false) {
		l.rescanLogged() // leaves out the files held back
	}
	if any.Load() {
		l.version.Add(1) // the listings now carry content ids
		l.notify(true)
	}
}

// hashFile computes the content id of file n (or takes it from the cache)
// and sets it on the matching file of the current index.
func (l *Library) hashFile(n nodeRef, buf []byte) error {
	abs, key := n.f.childAbs(n.i), n.f.key(n.i)
	fh := l.cache.get(abs, key)
	if fh == nil {
		var sc secretScanner
		h, err := l.readHashes(n, buf, &sc)
		if err != nil {
			return err
		}
		l.hashedFiles.Add(1)
		fh = &fileHash{cid: h.ContentID(), h: h, secret: sc.Rule()}
		if err := l.cache.put(abs, key, fh); err != nil {
			l.log.Warn("saving hashes", "err", err)
		}
		l.noteVerdict(abs, key, fh)
		if fh.secret != "" && !l.opts.IncludeSecrets {
			// Written at once, so that `porch share secrets` lists it.
			if err := l.cache.save(); err != nil {
				l.log.Warn("saving hashes", "err", err)
			}
			l.log.Info("holding back a likely secret until it is reviewed (porch share secrets)",
				"path", n.f.childPath(n.i), "rule", fh.secret)
		}
		if l.onHashed != nil {
			l.onHashed(abs)
		}
	}
	if l.holdBack(abs, key, fh) {
		// The next scan leaves it out. Until then it is listed by name
		// and size, never served (it has no content id); under Run that
		// scan comes at once rather than when the whole pass ends.
		if l.running.Load() {
			select {
			case l.rescanReq <- struct{}{}:
			default: // one is already asked for
			}
		}
		return nil
	}
	l.setHash(n, digestOf(fh.cid))
	return nil
}

// readHashes reads file n through its item's root and hashes it, passing
// its bytes to sc, failing with ErrChanged unless it is still the version n
// lists.
func (l *Library) readHashes(n nodeRef, buf []byte, sc *secretScanner) (Hashes, error) {
	k := n.f.kids[n.i]
	f, err := n.f.root.root.OpenFile(filepath.FromSlash(n.f.childRel(n.i)), openReadFlags, 0)
	if err != nil {
		return Hashes{}, err
	}
	defer f.Close()
	if err := checkSame(f, k.size, k.mtime); err != nil {
		return Hashes{}, err
	}
	h, err := hashScan(io.LimitReader(f, k.size+1), buf, sc)
	if err != nil {
		return Hashes{}, err
	}
	if err := checkSame(f, k.size, k.mtime); err != nil || h.Size != k.size {
		return Hashes{}, ErrChanged
	}
	return h, nil
}

// hashesOf returns the block hashes of file n, which the index lists with
// content id cid: from the hash cache, or else by reading the file.
func (l *Library) hashesOf(n nodeRef, cid string) (Hashes, error) {
	abs, key := n.f.childAbs(n.i), n.f.key(n.i)
	if fh := l.cache.get(abs, key); fh != nil && fh.cid == cid {
		return fh.h, nil
	}
	var sc secretScanner
	h, err := l.readHashes(n, nil, &sc)
	if err != nil {
		return Hashes{}, err
	}
	if h.ContentID() != cid {
		return Hashes{}, fmt.Errorf("%w: %s", ErrChanged, n.f.childPath(n.i))
	}
	if err := l.cache.put(abs, key, &fileHash{cid: cid, h: h, secret: sc.Rule()}); err != nil {
		l.log.Warn("saving hashes", "err", err)
	}
	return h, nil
}

// setHash records content id digest d on the current index's file at n's
// path, if it is still the same version.
func (l *Library) setHash(n nodeRef, d [contentDigestSize]byte) {
	p, rel, key := n.f.childPath(n.i), n.f.childRel(n.i), n.f.key(n.i)
	l.hashMu.Lock()
	defer l.hashMu.Unlock()
	t := l.tree.Load()
	cur, ok := t.lookup(p, nil)
	if !ok || cur.isDir() || cur.f.root != n.f.root || cur.f.childRel(cur.i) != rel || cur.f.key(cur.i) != key {
		return
	}
	if !cur.f.slot(cur.i).set(d) {
		return
	}
	cur.f.hashed.Add(key.Size)
	fi := t.folderIndex(cur.f)
	if fi < 0 {
		return
	}
	t.mu.Lock()
	t.addCIDLocked(d, fileRef(fi, cur.i))
	t.mu.Unlock()
}
