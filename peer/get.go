package peer

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"time"

	"porch/peer/swarm"
	"porch/peer/wire"
	"porch/share"
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
	// bound, when set, is what an offer said of the item: its listing
	// may hold no more files and bytes, and must be a folder or not as said.
	bound *OfferItem
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
	return e.getFrom(ctx, &getJob{e: e, origin: c, info: info, onProg: onProgress}, p, dir)
}

// getFrom runs the download j of p into dir; j names its origin, and may
// bound what its listing may hold.
func (e *Engine) getFrom(ctx context.Context, j *getJob, p, dir string) (GetResult, error) {
	store, err := share.OpenStore(dir)
	if err != nil {
		return GetResult{}, fmt.Errorf("download folder: %w", err)
	}
	defer store.Close()
	j.store = store
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
		unhashed, files, bytes := 0, 0, int64(0)
		names := newSiblings()
		err := j.origin.Tree(ctx, p, func(en share.Entry) error {
			if len(out) >= maxGetEntries {
				return fmt.Errorf("%s has more than %d entries under %s", j.info.Name, maxGetEntries, wire.Quote(p))
			}
			if pathBytes += len(en.Path); pathBytes > maxGetPathBytes {
				return fmt.Errorf("%s lists more than %d MiB of names under %s; Porch stops there", j.info.Name, maxGetPathBytes>>20, wire.Quote(p))
			}
			if en.Path != p && !strings.HasPrefix(en.Path, p+"/") {
				return fmt.Errorf("%s sent %s, which is outside %s", j.info.Name, wire.Quote(en.Path), wire.Quote(p))
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
					j.info.Name, wire.Quote(other), wire.Quote(en.Name))
			}
			if !en.Dir && en.ContentID == "" {
				unhashed++
			}
			if b := j.bound; b != nil {
				if !en.Dir {
					files++
					bytes += en.Size
				}
				if files > b.Files || bytes > b.Size || (en.Path == p && en.Dir != b.Dir) {
					return fmt.Errorf("%s offered %s as %d files, %d bytes, but lists more (or another kind of item); Porch stops there",
						j.info.Name, wire.Quote(p), b.Files, b.Size)
				}
			}
			out = append(out, getEntry{en, rel})
			return nil
		})
		if err != nil {
			return nil, friendly(j.info, err)
		}
		if len(out) == 0 || out[0].Path != p {
			return nil, fmt.Errorf("%s does not share %s", j.info.Name, wire.Quote(p))
		}
		if unhashed == 0 {
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s is still preparing %d files of %s; try again in a while", j.info.Name, unhashed, wire.Quote(p))
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

// fetchLarge fetches one multi-block file from every online holder.
func (j *getJob) fetchLarge(ctx context.Context, en getEntry) error {
	h, err := j.origin.Hashes(ctx, en.ContentID)
	if err != nil {
		return friendly(j.info, err)
	}
	if h.Size != en.Size {
		return fmt.Errorf("%s lists %s as %d bytes, but its hashes are those of %d bytes", j.info.Name, wire.Quote(en.Path), en.Size, h.Size)
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
