package swarm

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"porch/share"
)

const cid = "p1-test"

// dropLog records OnDrop calls; mu guards it.
type dropLog struct {
	mu    sync.Mutex
	drops map[string][]error
}

func (d *dropLog) onDrop(src Source, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.drops == nil {
		d.drops = map[string][]error{}
	}
	d.drops[src.ID()] = append(d.drops[src.ID()], err)
}

func (d *dropLog) get(id string) []error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drops[id]
}

func (d *dropLog) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, e := range d.drops {
		n += len(e)
	}
	return n
}

// checkComplete fails unless sink holds exactly data.
func checkComplete(t *testing.T, sink *memSink, data []byte) {
	t.Helper()
	if m := sink.Missing(); len(m) != 0 {
		t.Fatalf("blocks still missing: %v", m)
	}
	if !bytes.Equal(sink.data, data) {
		t.Fatal("sink content differs from the source data")
	}
}

// checkNoLeak waits briefly for the goroutine count to fall back to before.
func checkNoLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSingleSource(t *testing.T) {
	for _, size := range []int{1, share.BlockSize - 1, share.BlockSize, 5*share.BlockSize + 123} {
		data, h := testData(size)
		src := newSource("a", data)
		sink := newSink(h)
		if err := Fetch(context.Background(), h, cid, []Source{src}, sink, Options{}); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		checkComplete(t, sink, data)
		if got, want := src.requests.Load(), int64(len(h.Blocks)); got != want {
			t.Errorf("size %d: %d requests for %d blocks", size, got, want)
		}
	}
}

func TestNothingToDo(t *testing.T) {
	_, empty := testData(0)
	if err := Fetch(context.Background(), empty, cid, nil, newSink(empty), Options{}); err != nil {
		t.Errorf("empty file: %v", err)
	}
	data, h := testData(3 * share.BlockSize)
	sink := newSink(h)
	sink.prefill(data, 0, 1, 2)
	src := newSource("a", data)
	if err := Fetch(context.Background(), h, cid, []Source{src}, sink, Options{}); err != nil {
		t.Errorf("complete sink: %v", err)
	}
	if n := src.requests.Load(); n != 0 {
		t.Errorf("%d requests for a complete file", n)
	}
}

func TestNoSourcesAtAll(t *testing.T) {
	_, h := testData(2 * share.BlockSize)
	err := Fetch(context.Background(), h, cid, nil, newSink(h), Options{})
	if !errors.Is(err, ErrNoSources) {
		t.Fatalf("err = %v, want ErrNoSources", err)
	}
}

func TestBadHashes(t *testing.T) {
	_, h := testData(2 * share.BlockSize)
	h.Blocks = h.Blocks[:1]
	if err := Fetch(context.Background(), h, cid, nil, newSink(h), Options{}); err == nil {
		t.Fatal("inconsistent hashes accepted")
	}
}

func TestTwoSourcesBothUsed(t *testing.T) {
	data, h := testData(16 * share.BlockSize)
	a, b := newSource("a", data), newSource("b", data)
	const rate = 16 << 20
	a.rate, b.rate = rate, rate
	sink := newSink(h)
	start := time.Now()
	if err := Fetch(context.Background(), h, cid, []Source{a, b}, sink, Options{}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	// Informative only: timing is not asserted.
	t.Logf("%.1f MiB/s from two sources of %d MiB/s each", float64(h.Size)/time.Since(start).Seconds()/(1<<20), rate>>20)
	if a.served.Load() == 0 || b.served.Load() == 0 {
		t.Fatalf("served a=%d b=%d, want both used", a.served.Load(), b.served.Load())
	}
}

func TestFasterSourceCarriesMore(t *testing.T) {
	data, h := testData(24 * share.BlockSize)
	fast, slow := newSource("fast", data), newSource("slow", data)
	fast.rate, slow.rate = 48<<20, 16<<20
	sink := newSink(h)
	if err := Fetch(context.Background(), h, cid, []Source{slow, fast}, sink, Options{}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	f, s := fast.served.Load(), slow.served.Load()
	t.Logf("fast served %d, slow served %d of %d blocks", f, s, len(h.Blocks))
	if f <= int64(len(h.Blocks))/2 || s == 0 {
		t.Errorf("fast served %d, slow %d of %d: want fast > half and slow > 0", f, s, len(h.Blocks))
	}
}

func TestFailoverWhenSourceDies(t *testing.T) {
	data, h := testData(12 * share.BlockSize)
	a, b := newSource("a", data), newSource("b", data)
	// b needs over a second for its share, so a's three spaced-out failures
	// (backoff 200ms, 400ms) happen before the end.
	a.rate, b.rate = 64<<20, 6<<20
	a.dieAfter = 2
	var drops dropLog
	sink := newSink(h)
	err := Fetch(context.Background(), h, cid, []Source{a, b}, sink, Options{OnDrop: drops.onDrop})
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	if got := drops.get("a"); len(got) != 1 || !errors.Is(got[0], errDead) {
		t.Fatalf("drops of a = %v, want one wrapping %v", got, errDead)
	}
	if drops.count() != 1 {
		t.Errorf("%d drops, want 1", drops.count())
	}
}

func TestTransientFailureRetried(t *testing.T) {
	data, h := testData(4 * share.BlockSize)
	a := newSource("a", data)
	a.failBlocks = map[int]int{1: 2} // fails twice, then works: below the drop threshold
	var drops dropLog
	sink := newSink(h)
	if err := Fetch(context.Background(), h, cid, []Source{a}, sink, Options{OnDrop: drops.onDrop}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	if drops.count() != 0 {
		t.Errorf("source dropped after transient failures: %v", drops.get("a"))
	}
}

func TestCorruptSourceDropped(t *testing.T) {
	data, h := testData(8 * share.BlockSize)
	bad, good := newSource("bad", data), newSource("good", data)
	bad.corrupt = 0 // the very first block it is asked for, whoever gets it
	bad.rate, good.rate = 64<<20, 16<<20
	var drops dropLog
	sink := newSink(h)
	if err := Fetch(context.Background(), h, cid, []Source{bad, good}, sink, Options{OnDrop: drops.onDrop}); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	if bad.offsets[0] {
		got := drops.get("bad")
		if len(got) != 1 || !errors.Is(got[0], share.ErrHashMismatch) || !strings.Contains(got[0].Error(), "bad") {
			t.Fatalf("drops of bad source = %v, want one hash mismatch naming it", got)
		}
	}
	if drops.count() > 1 {
		t.Errorf("%d drops, want at most 1", drops.count())
	}
}

func TestCorruptOnlySource(t *testing.T) {
	data, h := testData(4 * share.BlockSize)
	bad := newSource("bad", data)
	bad.corrupt = 2
	var drops dropLog
	sink := newSink(h)
	err := Fetch(context.Background(), h, cid, []Source{bad}, sink, Options{OnDrop: drops.onDrop, PerSource: 1})
	if !errors.Is(err, ErrNoSources) || !errors.Is(err, share.ErrHashMismatch) {
		t.Fatalf("err = %v, want ErrNoSources wrapping a hash mismatch", err)
	}
	if got := sink.Missing(); len(got) != 2 || got[0] != 2 || got[1] != 3 {
		t.Errorf("missing = %v, want [2 3] (blocks before the corrupt one kept)", got)
	}
	if sink.writes != 2 {
		t.Errorf("%d writes reached the sink, want 2", sink.writes)
	}
}

func TestAllSourcesDead(t *testing.T) {
	before := runtime.NumGoroutine()
	data, h := testData(10 * share.BlockSize)
	a, b := newSource("a", data), newSource("b", data)
	a.dieAfter, b.dieAfter = 2, 3
	var drops dropLog
	sink := newSink(h)
	err := Fetch(context.Background(), h, cid, []Source{a, b}, sink, Options{OnDrop: drops.onDrop})
	if !errors.Is(err, ErrNoSources) || !errors.Is(err, errDead) {
		t.Fatalf("err = %v, want ErrNoSources wrapping the sources' errors", err)
	}
	for _, id := range []string{"a", "b"} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not name source %s", err, id)
		}
	}
	if drops.count() != 2 {
		t.Errorf("%d drops, want 2", drops.count())
	}
	missing := sink.Missing()
	if len(missing) >= len(h.Blocks) || len(missing) == 0 {
		t.Errorf("missing %d of %d blocks: want the verified ones kept", len(missing), len(h.Blocks))
	}
	if served := int(a.served.Load() + b.served.Load()); len(h.Blocks)-len(missing) != served {
		t.Errorf("sink holds %d blocks, sources served %d", len(h.Blocks)-len(missing), served)
	}
	checkNoLeak(t, before)
}

func TestStallDetected(t *testing.T) {
	data, h := testData(16 * share.BlockSize)
	stuck, good := newSource("stuck", data), newSource("good", data)
	stuck.stall = true
	// good completes a block every 100ms, well inside Stall, and needs over
	// a second and a half in all: time for stuck to stall twice (about 600ms).
	good.rate = 10 << 20
	var drops dropLog
	sink := newSink(h)
	opts := Options{Stall: 300 * time.Millisecond, OnDrop: drops.onDrop}
	if err := Fetch(context.Background(), h, cid, []Source{stuck, good}, sink, opts); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	if got := drops.get("stuck"); len(got) != 1 || !strings.Contains(got[0].Error(), "stalled") {
		t.Errorf("drops of stuck = %v, want one stall", got)
	}
	if got := drops.get("good"); len(got) != 0 {
		t.Errorf("good source dropped: %v", got)
	}
}

func TestStallOnlySource(t *testing.T) {
	data, h := testData(2 * share.BlockSize)
	stuck := newSource("stuck", data)
	stuck.stall = true
	start := time.Now()
	err := Fetch(context.Background(), h, cid, []Source{stuck}, newSink(h), Options{Stall: 100 * time.Millisecond})
	if !errors.Is(err, ErrNoSources) {
		t.Fatalf("err = %v, want ErrNoSources", err)
	}
	t.Logf("gave up after %v", time.Since(start))
}

func TestCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	data, h := testData(8 * share.BlockSize)
	a, b := newSource("a", data), newSource("b", data)
	a.stall = true
	b.rate = 1 << 20
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Fetch(ctx, h, cid, []Source{a, b}, newSink(h), Options{}) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Fetch did not return after cancel")
	}
	checkNoLeak(t, before)
}

func TestResumeFetchesOnlyMissing(t *testing.T) {
	data, h := testData(10 * share.BlockSize)
	sink := newSink(h)
	sink.prefill(data, 0, 1, 2, 3, 4)
	src := newSource("a", data)
	var last Progress
	var calls int
	opts := Options{OnProgress: func(p Progress) { last = p; calls++ }}
	if err := Fetch(context.Background(), h, cid, []Source{src}, sink, opts); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	if n := src.requests.Load(); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
	for off := range src.offsets {
		if off < 5*share.BlockSize {
			t.Errorf("block at %d requested though the sink had it", off)
		}
	}
	if calls == 0 || last.Done != h.Size || last.Total != h.Size {
		t.Errorf("last progress %+v after %d calls, want Done = Total = %d", last, calls, h.Size)
	}
}

func TestProgress(t *testing.T) {
	data, h := testData(8 * share.BlockSize)
	sink := newSink(h)
	sink.prefill(data, 0, 1)
	src := newSource("a", data)
	src.rate = 16 << 20 // about half a second
	var ps []Progress
	opts := Options{OnProgress: func(p Progress) { ps = append(ps, p) }, Stall: 250 * time.Millisecond}
	start := time.Now()
	if err := Fetch(context.Background(), h, cid, []Source{src}, sink, opts); err != nil {
		t.Fatal(err)
	}
	if limit := int(time.Since(start)/(100*time.Millisecond)) + 2; len(ps) > limit {
		t.Errorf("%d progress calls in %v, want at most %d", len(ps), time.Since(start), limit)
	}
	if len(ps) < 2 {
		t.Fatalf("%d progress calls", len(ps))
	}
	if ps[0].Done < 2*share.BlockSize {
		t.Errorf("first Done = %d, want at least the 2 blocks held before", ps[0].Done)
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].Done < ps[i-1].Done {
			t.Errorf("Done went back: %d then %d", ps[i-1].Done, ps[i].Done)
		}
	}
	last := ps[len(ps)-1]
	if last.Done != h.Size || last.Sources != 1 || last.Rate <= 0 {
		t.Errorf("last progress %+v", last)
	}
}

func TestEndgameDuplicatesSlowBlock(t *testing.T) {
	before := runtime.NumGoroutine()
	data, h := testData(4 * share.BlockSize)
	slow, fast := newSource("slow", data), newSource("fast", data)
	slow.rate = 256 << 10 // 4 s per block: only an endgame duplicate finishes quickly
	sink := newSink(h)
	// slow is listed first so it gets blocks before fast is idle.
	done := make(chan error, 1)
	go func() { done <- Fetch(context.Background(), h, cid, []Source{slow, fast}, sink, Options{}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("download waited for the slow source: no endgame")
	}
	checkComplete(t, sink, data)
	checkNoLeak(t, before)
}

func TestAddSourceWhileRunning(t *testing.T) {
	data, h := testData(6 * share.BlockSize)
	a := newSource("a", data)
	a.rate = 4 << 20
	sink := newSink(h)
	f := NewFetcher(h, cid, sink, Options{})
	f.AddSource(a)
	done := make(chan error, 1)
	go func() { done <- f.Run(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	b := newSource("b", data)
	f.AddSource(b)
	f.AddSource(newSource("b", data)) // same id: ignored
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	if b.served.Load() == 0 {
		t.Error("source added while running was never used")
	}
	if err := f.Run(context.Background()); err == nil {
		t.Error("second Run accepted")
	}
}

// gauge counts reads in progress; mu guards it.
type gauge struct {
	mu       sync.Mutex
	cur, max int
}

func (g *gauge) add(d int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cur += d
	g.max = max(g.max, g.cur)
}

func (g *gauge) peak() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.max
}

// countingSource measures how many reads run at once, on it and in total:
// each holds one block buffer.
type countingSource struct {
	*memSource
	own, all *gauge
}

func (c *countingSource) ReadRange(ctx context.Context, cid string, off int64, p []byte) error {
	c.own.add(1)
	c.all.add(1)
	defer c.own.add(-1)
	defer c.all.add(-1)
	return c.memSource.ReadRange(ctx, cid, off, p)
}

func TestInFlightBounded(t *testing.T) {
	data, h := testData(24 * share.BlockSize)
	var srcs []Source
	var counters []*countingSource
	all := &gauge{}
	for i, id := range []string{"a", "b", "c", "d"} {
		s := newSource(id, data)
		s.rate = float64(16<<20) * float64(i+1)
		c := &countingSource{memSource: s, own: &gauge{}, all: all}
		srcs = append(srcs, c)
		counters = append(counters, c)
	}
	sink := newSink(h)
	opts := Options{MaxInFlight: 6, PerSource: 4}
	if err := Fetch(context.Background(), h, cid, srcs, sink, opts); err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	for _, c := range counters {
		if c.own.peak() > opts.PerSource {
			t.Errorf("source %s had %d reads at once, PerSource %d", c.id, c.own.peak(), opts.PerSource)
		}
	}
	// At most one endgame duplicate per source beyond MaxInFlight.
	if got, limit := all.peak(), opts.MaxInFlight+len(srcs); got > limit {
		t.Errorf("%d reads at once, want at most %d", got, limit)
	}
	t.Logf("peak reads at once: %d", all.peak())
}

func TestWindowAdapts(t *testing.T) {
	start := time.Now()
	s := &source{window: startWindow}
	s.resetRound(start)
	now := start
	// round completes s.window blocks in the given time
	round := func(d time.Duration) {
		for range s.window {
			now = now.Add(d / time.Duration(s.window))
			s.succeeded(now, share.BlockSize, 8)
		}
	}
	round(100 * time.Millisecond) // first round: probe upward
	if s.window != 3 {
		t.Fatalf("window %d after the first round, want 3", s.window)
	}
	round(100 * time.Millisecond) // 3 blocks in the time 2 took: faster, grow
	if s.window != 4 {
		t.Fatalf("window %d after a faster round, want 4", s.window)
	}
	round(4 * 100 * time.Millisecond / 3) // same rate: the link is full, hold
	if s.window != 4 {
		t.Fatalf("window %d after a round at the same rate, want 4", s.window)
	}
	s.shrink(now)
	if s.window != 2 {
		t.Fatalf("window %d after a failure, want 2", s.window)
	}
	for d := 100 * time.Millisecond; d > time.Millisecond; d /= 2 {
		round(d) // ever faster
	}
	if s.window != 8 {
		t.Fatalf("window %d, want capped at 8", s.window)
	}
	s.shrink(now)
	s.shrink(now)
	s.shrink(now)
	s.shrink(now)
	if s.window != 1 {
		t.Fatalf("window %d after repeated failures, want 1", s.window)
	}
}

// failingSink refuses writes after the first n, like a full disk.
type failingSink struct {
	*memSink
	mu sync.Mutex
	n  int
}

var errDiskFull = errors.New("no space left on device")

func (k *failingSink) WriteBlock(i int, data []byte) error {
	k.mu.Lock()
	full := k.n == 0
	if !full {
		k.n--
	}
	k.mu.Unlock()
	if full {
		return errDiskFull
	}
	return k.memSink.WriteBlock(i, data)
}

func TestSinkErrorStops(t *testing.T) {
	before := runtime.NumGoroutine()
	data, h := testData(8 * share.BlockSize)
	sink := &failingSink{memSink: newSink(h), n: 3}
	var drops dropLog
	err := Fetch(context.Background(), h, cid, []Source{newSource("a", data), newSource("b", data)}, sink, Options{OnDrop: drops.onDrop})
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("err = %v, want the sink's error", err)
	}
	if drops.count() != 0 {
		t.Error("a source was blamed for the sink's error")
	}
	if got := len(sink.Missing()); got != 5 {
		t.Errorf("%d blocks missing, want 5", got)
	}
	checkNoLeak(t, before)
}

func TestCorruptSourceNotReadmitted(t *testing.T) {
	data, h := testData(6 * share.BlockSize)
	bad, good := newSource("bad", data), newSource("good", data)
	bad.corrupt = 0
	good.rate = 8 << 20
	var drops dropLog
	sink := newSink(h)
	f := NewFetcher(h, cid, sink, Options{OnDrop: drops.onDrop})
	f.AddSource(bad)
	f.AddSource(good)
	done := make(chan error, 1)
	go func() { done <- f.Run(context.Background()) }()
	for deadline := time.Now().Add(2 * time.Second); len(drops.get("bad")) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("corrupt source not dropped")
		}
	}
	again := newSource("bad", data)
	f.AddSource(again)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	if n := again.requests.Load(); n != 0 {
		t.Errorf("re-added corrupt source got %d requests", n)
	}
}

func TestDroppedSourceReadmitted(t *testing.T) {
	data, h := testData(6 * share.BlockSize)
	flaky := newSource("flaky", data)
	flaky.dieAfter = 1
	var drops dropLog
	sink := newSink(h)
	f := NewFetcher(h, cid, sink, Options{OnDrop: drops.onDrop})
	f.AddSource(flaky)
	slow := newSource("slow", data)
	slow.rate = 1 << 20 // keeps the download alive while flaky fails
	f.AddSource(slow)
	done := make(chan error, 1)
	go func() { done <- f.Run(context.Background()) }()
	for deadline := time.Now().Add(5 * time.Second); len(drops.get("flaky")) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("failing source not dropped")
		}
	}
	healthy := newSource("flaky", data) // back after a restart
	f.AddSource(healthy)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	checkComplete(t, sink, data)
	if healthy.served.Load() == 0 {
		t.Error("re-added source never used")
	}
}
