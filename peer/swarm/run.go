package swarm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"porch/share"
)

// source is the scheduler's view of one Source. The run goroutine owns it.
type source struct {
	src     Source
	window  int       // requests it may have in flight
	running int       // requests started and not yet returned, cancelled ones included
	active  int       // requests whose outcome still matters (not cancelled)
	moved   time.Time // last completion, or when it last went from idle to busy
	fails   int       // consecutive failures
	stalls  int       // stalls so far
	penalty time.Time // last failure or stall: requests started before it are not counted again
	retryAt time.Time // no new request before this (backoff)
	dropped bool
	corrupt bool
	err     error // why it was dropped

	// Window probing: a round is window completed requests; the window
	// grows when a round was faster than the previous one.
	roundStart time.Time
	roundBytes int64
	roundDone  int
	rate       float64 // bytes/s of the last full round, 0 before the first
}

func (s *source) label() string {
	if name := s.src.Name(); name != "" && name != s.src.ID() {
		return fmt.Sprintf("%q (%s)", name, s.src.ID())
	}
	return s.src.ID()
}

// succeeded updates the window after a verified block of n bytes.
func (s *source) succeeded(now time.Time, n, max int) {
	s.fails = 0
	s.roundBytes += int64(n)
	s.roundDone++
	if s.roundDone < s.window {
		return
	}
	if el := now.Sub(s.roundStart).Seconds(); el > 0 {
		rate := float64(s.roundBytes) / el
		if (s.rate == 0 || rate >= growFactor*s.rate) && s.window < max {
			s.window++
		}
		s.rate = rate
	}
	s.resetRound(now)
}

// shrink halves the window after a failure or stall.
func (s *source) shrink(now time.Time) {
	s.window = max(1, s.window/2)
	s.rate = 0
	s.resetRound(now)
}

func (s *source) resetRound(now time.Time) {
	s.roundStart, s.roundBytes, s.roundDone = now, 0, 0
}

// request is one range read in flight. The run goroutine owns it; the worker
// goroutine gets copies of what it needs.
type request struct {
	block     int
	src       *source
	start     time.Time
	cancel    context.CancelCauseFunc
	cancelled bool // by the scheduler: its outcome no longer matters
	buf       *[]byte
}

// result is what a worker reports once its read, and the write of what it
// read, have returned.
type result struct {
	req      *request
	n        int   // bytes read
	err      error // the read failed
	dup      bool  // read, but another copy of the block was stored or being stored
	corrupt  bool  // the sink refused the bytes read: they do not match the hash
	writeErr error // the sink failed for another reason (e.g. disk full)
}

// written reports whether this result stored the block.
func (res result) written() bool {
	return res.err == nil && !res.dup && !res.corrupt && res.writeErr == nil
}

// run is the state of one Fetcher.Run. Only the goroutine in loop touches it.
type run struct {
	f    *Fetcher
	opts Options

	queue     blockQueue         // blocks nobody is fetching, lowest first
	stored    []bool             // block -> written to the sink, by this run or before it
	claims    []atomic.Bool      // block -> a worker is writing it or has written it
	inflight  map[int][]*request // block -> requests fetching it (not cancelled)
	live      int                // requests whose worker has not reported yet
	remaining int                // blocks not yet written
	done      int64              // bytes verified, including those held before the start

	sources map[string]*source
	order   []*source // in the order they were added
	results chan result

	lastTick time.Time // last OnProgress call
	lastDone int64
	rate     float64
}

func (r *run) loop(parent context.Context) error {
	ctx, cancelAll := context.WithCancel(parent)
	defer cancelAll()
	tick := time.NewTicker(min(progressEvery, r.opts.Stall/4))
	defer tick.Stop()
	r.lastTick, r.lastDone = time.Now(), r.done

	var err error
	for err == nil {
		r.addSources(r.f.takePending())
		if r.remaining == 0 {
			break
		}
		if r.liveSources() == 0 {
			err = r.noSources()
			break
		}
		r.schedule(ctx, time.Now())
		select {
		case <-parent.Done():
			err = parent.Err()
		case res := <-r.results:
			err = r.handle(ctx, res)
		case <-r.f.added:
		case now := <-tick.C:
			r.checkStalls(now)
			// The tick is faster than progressEvery when Stall is short;
			// the slack keeps timer jitter from skipping a report.
			if now.Sub(r.lastTick) >= progressEvery*9/10 {
				r.progress(now)
			}
		}
	}

	for _, reqs := range r.inflight {
		for _, q := range reqs {
			r.abandon(q, context.Canceled)
		}
	}
	cancelAll()
	for r.live > 0 {
		r.release(<-r.results)
	}
	r.progress(time.Now())
	return err
}

func (r *run) addSources(srcs []Source) {
	for _, s := range srcs {
		id := s.ID()
		if old, ok := r.sources[id]; ok && (!old.dropped || old.corrupt) {
			continue
		}
		st := &source{src: s, window: min(startWindow, r.opts.PerSource)}
		st.resetRound(time.Now())
		if old, ok := r.sources[id]; ok {
			// Replace, not reset: requests of the old one may still be returning.
			i := slices.Index(r.order, old)
			r.order = slices.Delete(r.order, i, i+1)
		}
		r.sources[id] = st
		r.order = append(r.order, st)
	}
}

func (r *run) liveSources() int {
	n := 0
	for _, s := range r.order {
		if !s.dropped {
			n++
		}
	}
	return n
}

func (r *run) noSources() error {
	var errs []error
	for _, s := range r.order {
		if s.err != nil {
			errs = append(errs, s.err)
		}
	}
	if len(errs) == 0 {
		return ErrNoSources
	}
	return fmt.Errorf("%w: %w", ErrNoSources, errors.Join(errs...))
}

// schedule starts requests while some source has room: queued blocks first,
// then, once the queue is empty, duplicates of blocks in flight elsewhere for
// sources that have gone idle (the endgame).
func (r *run) schedule(ctx context.Context, now time.Time) {
	for r.live < r.opts.MaxInFlight && len(r.queue) > 0 {
		s := r.pickSource(now, false)
		if s == nil {
			return
		}
		if b := r.queue.pop(); !r.stored[b] && len(r.inflight[b]) == 0 {
			r.start(ctx, s, b, now)
		}
	}
	for len(r.queue) == 0 && r.live < 2*r.opts.MaxInFlight {
		s := r.pickSource(now, true)
		if s == nil {
			return
		}
		b, ok := r.pickDuplicate(s)
		if !ok {
			return
		}
		r.start(ctx, s, b, now)
	}
}

// pickSource returns the usable source with the most free room relative to
// its window (the faster one on a tie), or nil. With idle, only sources with
// nothing running qualify and each is returned at most once per schedule
// pass because starting a request makes it busy.
func (r *run) pickSource(now time.Time, idle bool) *source {
	var best *source
	var bestLoad float64
	for _, s := range r.order {
		if s.dropped || now.Before(s.retryAt) || s.running >= s.window || (idle && s.running > 0) {
			continue
		}
		load := float64(s.running) / float64(s.window)
		if best == nil || load < bestLoad || (load == bestLoad && s.rate > best.rate) {
			best, bestLoad = s, load
		}
	}
	return best
}

// pickDuplicate returns the block in flight longest that s is not already
// fetching and that has fewer than endgameCopies requests.
func (r *run) pickDuplicate(s *source) (int, bool) {
	best, found := 0, false
	var bestStart time.Time
	for b, reqs := range r.inflight {
		if len(reqs) >= endgameCopies {
			continue
		}
		mine := false
		first := reqs[0].start
		for _, q := range reqs {
			mine = mine || q.src == s
			if q.start.Before(first) {
				first = q.start
			}
		}
		if mine {
			continue
		}
		if !found || first.Before(bestStart) || (first.Equal(bestStart) && b < best) {
			best, bestStart, found = b, first, true
		}
	}
	return best, found
}

// start starts a worker fetching block b from s.
func (r *run) start(ctx context.Context, s *source, b int, now time.Time) {
	rctx, cancel := context.WithCancelCause(ctx)
	q := r.assign(s, b, now, cancel)
	buf := (*q.buf)[:share.BlockLen(r.f.h.Size, b)]
	cid := r.f.cid
	src, sink, claim := s.src, r.f.sink, &r.claims[b]
	go func() {
		err := src.ReadRange(rctx, cid, int64(b)*share.BlockSize, buf)
		res := result{req: q, n: len(buf), err: err}
		switch {
		case err != nil:
		case !claim.CompareAndSwap(false, true):
			res.dup = true
		default:
			werr := sink.WriteBlock(b, buf)
			if werr != nil {
				claim.Store(false) // not stored: another copy may try
			}
			if errors.Is(werr, share.ErrHashMismatch) {
				res.corrupt = true
			} else {
				res.writeErr = werr
			}
		}
		cancel(nil)
		r.results <- res
	}()
}

// assign records a new request for block b to s, with a buffer from the pool.
func (r *run) assign(s *source, b int, now time.Time, cancel context.CancelCauseFunc) *request {
	q := &request{block: b, src: s, start: now, cancel: cancel, buf: bufPool.Get().(*[]byte)}
	r.inflight[b] = append(r.inflight[b], q)
	r.live++
	s.running++
	if s.active == 0 {
		s.moved = now
	}
	s.active++
	return q
}

// release accounts for a finished worker and recycles its buffer.
func (r *run) release(res result) {
	r.live--
	res.req.src.running--
	res.req.cancel(nil)
	bufPool.Put(res.req.buf)
}

// handle acts on one worker's result. A non-nil error is fatal to the run.
func (r *run) handle(ctx context.Context, res result) error {
	defer r.release(res)
	q, s := res.req, res.req.src
	b := q.block
	live := !q.cancelled && ctx.Err() == nil
	if !q.cancelled {
		r.detach(q)
	}
	if res.written() && !r.stored[b] {
		// Stored bytes count even when the request was given up on (a
		// stall, the endgame): they are verified.
		r.stored[b] = true
		r.remaining--
		r.done += int64(res.n)
		for len(r.inflight[b]) > 0 {
			r.abandon(r.inflight[b][0], errDuplicate)
		}
	}
	if !live {
		return nil
	}
	now := time.Now()
	switch {
	case res.writeErr != nil:
		return fmt.Errorf("swarm: write block %d: %w", b, res.writeErr)
	case res.written() || (res.dup && res.err == nil):
		s.moved = now
		s.succeeded(now, res.n, r.opts.PerSource)
		if res.dup {
			// The copy being stored elsewhere may yet prove corrupt.
			r.requeue(b)
		}
		return nil
	case res.corrupt:
		s.corrupt = true
		r.drop(s, fmt.Errorf("source %s sent a corrupt block %d: %w", s.label(), b, share.ErrHashMismatch))
	default:
		if q.start.After(s.penalty) {
			s.fails++
			s.penalty = now
			s.shrink(now)
			s.retryAt = now.Add(backoffBase << (s.fails - 1))
			r.opts.Logger.Debug("swarm: request failed", "source", s.src.ID(), "block", b, "fails", s.fails, "err", res.err)
		}
		if s.fails >= maxFailures {
			r.drop(s, fmt.Errorf("source %s failed %d times in a row: %w", s.label(), s.fails, res.err))
		}
	}
	r.requeue(b)
	return nil
}

// abandon cancels q with cause and forgets it: its result, when the worker
// reports, only releases its buffer. Its block is requeued if nobody else
// fetches it and it was not written.
func (r *run) abandon(q *request, cause error) {
	q.cancelled = true
	q.cancel(cause)
	r.detach(q)
	if cause != errDuplicate {
		r.requeue(q.block)
	}
}

// checkStalls cancels the requests of every source that has had requests in
// flight and completed none for Stall, and drops a source on its second stall.
func (r *run) checkStalls(now time.Time) {
	for _, s := range r.order {
		if s.dropped || s.active == 0 || now.Sub(s.moved) < r.opts.Stall {
			continue
		}
		s.stalls++
		s.shrink(now)
		s.moved = now
		r.opts.Logger.Debug("swarm: source stalled", "source", s.src.ID(), "stalls", s.stalls)
		if s.stalls >= maxStalls {
			r.drop(s, fmt.Errorf("source %s stalled %d times (nothing received for %v)", s.label(), s.stalls, r.opts.Stall))
			continue
		}
		r.cancelSource(s, errStall)
	}
}

// cancelSource abandons every request of s.
func (r *run) cancelSource(s *source, cause error) {
	for _, reqs := range r.inflight {
		for _, q := range reqs {
			if q.src == s {
				r.abandon(q, cause)
				break
			}
		}
	}
}

// detach removes q from the requests fetching its block.
func (r *run) detach(q *request) {
	q.src.active--
	reqs := r.inflight[q.block]
	for i, o := range reqs {
		if o == q {
			reqs = append(reqs[:i], reqs[i+1:]...)
			break
		}
	}
	if len(reqs) == 0 {
		delete(r.inflight, q.block)
	} else {
		r.inflight[q.block] = reqs
	}
}

// requeue puts block b back in the queue unless it is stored or another
// request still fetches it.
func (r *run) requeue(b int) {
	if !r.stored[b] && len(r.inflight[b]) == 0 {
		r.queue.push(b)
	}
}

// drop stops using s, cancels its requests and reports it.
func (r *run) drop(s *source, err error) {
	if s.dropped {
		return
	}
	s.dropped = true
	s.err = err
	r.cancelSource(s, err)
	r.opts.Logger.Info("swarm: source dropped", "source", s.src.ID(), "name", s.src.Name(), "err", err)
	if r.opts.OnDrop != nil {
		r.opts.OnDrop(s.src, err)
	}
}

// progress reports to OnProgress and updates the smoothed rate.
func (r *run) progress(now time.Time) {
	if r.opts.OnProgress == nil {
		return
	}
	if dt := now.Sub(r.lastTick); dt > 0 {
		inst := float64(r.done-r.lastDone) / dt.Seconds()
		alpha := 1 - math.Exp(-dt.Seconds()/rateTau.Seconds())
		r.rate += alpha * (inst - r.rate)
		r.lastTick, r.lastDone = now, r.done
	}
	r.opts.OnProgress(Progress{Done: r.done, Total: r.f.h.Size, Sources: r.liveSources(), Rate: r.rate})
}
