package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"porch/share"
)

// ErrNoSources is returned, wrapped with each dropped source's reason, when
// blocks are still missing and no source is left to ask.
var ErrNoSources = errors.New("swarm: no sources left")

// errStall is the cancellation cause of the requests of a stalled source.
var errStall = errors.New("swarm: source stalled")

// errDuplicate is the cancellation cause of an endgame request whose block
// arrived first from another source.
var errDuplicate = errors.New("swarm: block already received")

// Tuning that callers have no reason to change.
const (
	defaultMaxInFlight = 16
	defaultPerSource   = 8
	defaultStall       = 20 * time.Second

	startWindow   = 2                      // requests a new source gets before it has proven itself
	maxFailures   = 3                      // consecutive failed requests before a source is dropped
	maxStalls     = 2                      // stalls before a source is dropped
	backoffBase   = 200 * time.Millisecond // first retry delay after a failure, doubled after each
	growFactor    = 1.1                    // a round must beat the previous one by this much to grow the window
	endgameCopies = 2                      // at most this many requests for one block in the endgame
	progressEvery = 100 * time.Millisecond // OnProgress period (and the scheduler's clock tick)
	rateTau       = time.Second            // time constant of the smoothed Progress.Rate
)

// Source is one peer that holds the content.
//
// ReadRange may be called from several goroutines at once (up to
// Options.PerSource). It must fill p exactly or return an error, and must
// return promptly once ctx is done: Fetch waits for every call it started.
type Source interface {
	ID() string   // stable id for reporting
	Name() string // display name
	ReadRange(ctx context.Context, cid string, off int64, p []byte) error
}

// Sink receives blocks (share.Partial satisfies it).
//
// The sink is the one place a block is verified: WriteBlock must check data
// against block i's hash and, when it does not match, not count the block as
// stored and return an error that wraps share.ErrHashMismatch; that is how
// Fetch knows a source is corrupt. Fetch calls WriteBlock from the goroutines
// that fetched the blocks, several at once (so blocks are verified on every
// core), but never twice at once for one block nor again once a block is
// stored, and calls Missing only before any WriteBlock. WriteBlock may
// overwrite data and must not keep it after it returns: the buffer is reused.
type Sink interface {
	Missing() []int                      // indexes of the blocks not yet stored, any order
	WriteBlock(i int, data []byte) error // share.ErrHashMismatch when data does not match
}

// Progress is a snapshot of one download.
type Progress struct {
	Done    int64   // bytes verified, including those the sink held before the start
	Total   int64   // file size
	Sources int     // sources not dropped
	Rate    float64 // bytes per second, smoothed over about a second
}

// Options tune a download. Zero fields take the defaults.
type Options struct {
	// MaxInFlight bounds the requests in flight across all sources, and so
	// the block buffers in use (default 16). In the endgame each idle source
	// may add one duplicate request, never more than MaxInFlight in all.
	MaxInFlight int
	PerSource   int // requests in flight to one source (default 8)
	// Stall is how long a source may have requests in flight without
	// completing any (default 20s). Its requests are then abandoned and go to
	// other sources; a second stall drops it.
	Stall time.Duration

	// OnProgress is called at most about ten times a second and once at the
	// end, from the goroutine running the download; it must not block.
	OnProgress func(Progress)
	// OnDrop is called once for each source that is dropped (dead, stalled or
	// corrupt), with the reason, from the goroutine running the download.
	OnDrop func(src Source, err error)
	Logger *slog.Logger // nil discards
}

func (o Options) withDefaults() Options {
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = defaultMaxInFlight
	}
	if o.PerSource <= 0 {
		o.PerSource = defaultPerSource
	}
	if o.PerSource > o.MaxInFlight {
		o.PerSource = o.MaxInFlight
	}
	if o.Stall <= 0 {
		o.Stall = defaultStall
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// bufPool holds BlockSize buffers. A buffer is taken when a request starts
// and returned when its result has been handled, so the number of live
// buffers is the number of requests in flight.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, share.BlockSize)
	return &b
}}

// Fetch downloads every block of h that sink reports missing, from all
// sources in parallel, and returns nil once they are all written. A source
// that fails repeatedly, stalls twice or sends a block that does not match
// its hash is dropped (and reported through opts.OnDrop); its blocks go to
// the others. When no source is left it returns an error wrapping
// ErrNoSources and every drop reason; blocks written so far stay in the sink.
// When ctx ends it stops every request, waits for them and returns ctx.Err().
// An empty file, or a sink that misses nothing, returns nil at once.
//
// Fetch is NewFetcher, AddSource for each source, then Run.
func Fetch(ctx context.Context, h share.Hashes, cid string, sources []Source, sink Sink, opts Options) error {
	f := NewFetcher(h, cid, sink, opts)
	for _, s := range sources {
		f.AddSource(s)
	}
	return f.Run(ctx)
}

// Fetcher is one download whose set of sources can grow while it runs, for
// when a new holder of the content appears mid-download.
//
// AddSource is safe from any goroutine; mu guards the sources it queues.
// Run is called once; the goroutine running it owns all scheduling state.
type Fetcher struct {
	h    share.Hashes
	cid  string
	sink Sink
	opts Options

	started atomic.Bool
	added   chan struct{} // capacity 1: "pending is not empty"

	mu      sync.Mutex
	pending []Source
}

// NewFetcher prepares a download of content h (id cid) into sink. It starts
// nothing; call AddSource and Run.
func NewFetcher(h share.Hashes, cid string, sink Sink, opts Options) *Fetcher {
	return &Fetcher{h: h, cid: cid, sink: sink, opts: opts.withDefaults(), added: make(chan struct{}, 1)}
}

// AddSource offers one more holder of the content. It may be called before
// Run or while it runs; after Run returns it has no effect. A source whose ID
// is already in use is ignored, as is one dropped earlier for sending a
// corrupt block; one dropped for other reasons is given a fresh start.
func (f *Fetcher) AddSource(s Source) {
	if s == nil {
		return
	}
	f.mu.Lock()
	f.pending = append(f.pending, s)
	f.mu.Unlock()
	select {
	case f.added <- struct{}{}:
	default:
	}
}

func (f *Fetcher) takePending() []Source {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pending
	f.pending = nil
	return p
}

// Run downloads until every missing block is written, no source is left, or
// ctx ends; see Fetch for what it returns. It may be called only once.
func (f *Fetcher) Run(ctx context.Context) error {
	if !f.started.CompareAndSwap(false, true) {
		return errors.New("swarm: Run called twice")
	}
	if !f.h.Valid() {
		return fmt.Errorf("swarm: %d block hashes for %d bytes", len(f.h.Blocks), f.h.Size)
	}
	if f.h.Size == 0 {
		return nil
	}
	missing := f.sink.Missing()
	if len(missing) == 0 {
		if f.opts.OnProgress != nil {
			f.opts.OnProgress(Progress{Done: f.h.Size, Total: f.h.Size})
		}
		return nil
	}
	n := share.NumBlocks(f.h.Size)
	stored := make([]bool, n) // true until Missing names the block
	for i := range stored {
		stored[i] = true
	}
	var need int64
	remaining := 0
	q := make(blockQueue, 0, len(missing))
	for _, b := range missing {
		if b < 0 || b >= n {
			return fmt.Errorf("swarm: sink reports block %d missing of %d", b, n)
		}
		if !stored[b] {
			continue // listed twice
		}
		stored[b] = false
		remaining++
		need += int64(share.BlockLen(f.h.Size, b))
		q.push(b)
	}
	r := &run{
		f:         f,
		opts:      f.opts,
		queue:     q,
		inflight:  make(map[int][]*request),
		stored:    stored,
		claims:    make([]atomic.Bool, n),
		remaining: remaining,
		done:      f.h.Size - need,
		sources:   make(map[string]*source),
		results:   make(chan result),
	}
	return r.loop(ctx)
}
