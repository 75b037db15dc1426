package swarm

import (
	"context"
	"fmt"
	"testing"
	"time"

	"porch/share"
)

// checkSink verifies every block, as a real sink must, but stores nothing,
// so that a benchmark measures the downloader and the hashing, not memory.
type checkSink struct{ h share.Hashes }

func (k *checkSink) Missing() []int {
	m := make([]int, len(k.h.Blocks))
	for i := range m {
		m[i] = i
	}
	return m
}

func (k *checkSink) WriteBlock(i int, data []byte) error {
	if share.BlockHash(data) != k.h.Blocks[i] {
		return share.ErrHashMismatch
	}
	return nil
}

// BenchmarkFetch downloads 64 MiB from unthrottled in-memory sources. The
// figure includes copying and hashing every block once (in the sink, on the
// fetching goroutines), which is what a real download pays too.
func BenchmarkFetch(b *testing.B) {
	data, h := testData(64 * share.BlockSize)
	// The floor: what one goroutine spends copying and hashing the blocks.
	b.Run("baseline", func(b *testing.B) {
		buf := make([]byte, share.BlockSize)
		b.SetBytes(h.Size)
		for b.Loop() {
			for i := range h.Blocks {
				n := copy(buf, data[i*share.BlockSize:])
				if share.BlockHash(buf[:n]) != h.Blocks[i] {
					b.Fatal("hash mismatch")
				}
			}
		}
	})
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("sources=%d", n), func(b *testing.B) {
			srcs := make([]Source, n)
			for i := range srcs {
				srcs[i] = newSource(fmt.Sprint(i), data)
			}
			b.SetBytes(h.Size)
			b.ReportAllocs()
			for b.Loop() {
				if err := Fetch(context.Background(), h, cid, srcs, &checkSink{h}, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSchedule measures the scheduler's bookkeeping for one block,
// without goroutines or I/O: pick a source, pop a block, record the request;
// when every window is full, complete them all (about one batch in sixteen
// fails and goes back to the queue).
func BenchmarkSchedule(b *testing.B) {
	const blocks = 1 << 16
	_, h := testData(0)
	f := NewFetcher(h, cid, &checkSink{h}, Options{})
	r := &run{f: f, opts: f.opts, inflight: map[int][]*request{}, sources: map[string]*source{}, stored: make([]bool, blocks)}
	for i := range 8 {
		r.addSources([]Source{newSource(fmt.Sprint(i), nil)})
	}
	for i := range blocks {
		r.queue.push(i)
	}
	now := time.Now()
	nop := func(error) {}
	var pending []*request
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		s := r.pickSource(now, false)
		if s == nil || len(r.queue) == 0 {
			for _, q := range pending {
				r.detach(q)
				q.src.running--
				r.live--
				if i%16 == 0 {
					r.requeue(q.block)
				} else {
					q.src.succeeded(now, share.BlockSize, r.opts.PerSource)
				}
				bufPool.Put(q.buf)
			}
			pending = pending[:0]
			if len(r.queue) == 0 {
				for j := range blocks {
					r.queue.push(j)
				}
			}
			continue
		}
		pending = append(pending, r.assign(s, r.queue.pop(), now, nop))
	}
}
