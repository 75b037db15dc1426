package swarm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"porch/share"
)

// testData returns size pseudo-random bytes and their hashes. Results are
// cached and shared: callers must not modify them.
func testData(size int) ([]byte, share.Hashes) {
	if v, ok := testDataCache.Load(size); ok {
		d := v.(cachedData)
		return d.data, d.h
	}
	data := make([]byte, size)
	var seed [32]byte
	seed[0] = byte(size)
	rand.NewChaCha8(seed).Read(data)
	h, err := share.HashReader(bytes.NewReader(data), nil)
	if err != nil {
		panic(err)
	}
	testDataCache.Store(size, cachedData{data, h})
	return data, h
}

type cachedData struct {
	data []byte
	h    share.Hashes
}

var testDataCache sync.Map // int -> cachedData

var errDead = errors.New("connection refused")

// memSource serves a []byte, with knobs for the faults Fetch must survive.
// Knobs are set before Fetch starts; counters are atomic.
type memSource struct {
	id   string
	data []byte

	rate       float64 // bytes per second, 0 for unlimited
	dieAfter   int     // after this many successful reads every read fails; 0 never
	stall      bool    // every read blocks until its context ends
	corrupt    int     // block index served with a flipped byte; -1 none
	failBlocks map[int]int

	mu       sync.Mutex
	nextFree time.Time      // token bucket of depth zero: when the link is next idle
	fails    map[int]int    // failures served so far per block
	offsets  map[int64]bool // every offset requested

	requests atomic.Int64 // ReadRange calls
	served   atomic.Int64 // reads that returned data
}

func newSource(id string, data []byte) *memSource {
	return &memSource{id: id, data: data, corrupt: -1, offsets: map[int64]bool{}, fails: map[int]int{}}
}

func (s *memSource) ID() string   { return s.id }
func (s *memSource) Name() string { return "peer " + s.id }

func (s *memSource) ReadRange(ctx context.Context, cid string, off int64, p []byte) error {
	s.requests.Add(1)
	block := int(off / share.BlockSize)
	s.mu.Lock()
	s.offsets[off] = true
	failNow := s.failBlocks[block] > s.fails[block]
	if failNow {
		s.fails[block]++
	}
	var wait time.Duration
	if s.rate > 0 {
		now := time.Now()
		start := now
		if s.nextFree.After(now) {
			start = s.nextFree
		}
		s.nextFree = start.Add(time.Duration(float64(len(p)) / s.rate * float64(time.Second)))
		wait = s.nextFree.Sub(now)
	}
	s.mu.Unlock()
	if failNow {
		return fmt.Errorf("block %d: %w", block, errDead)
	}
	if s.dieAfter > 0 && s.served.Load() >= int64(s.dieAfter) {
		return errDead
	}
	if s.stall {
		<-ctx.Done()
		return ctx.Err()
	}
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if off < 0 || off+int64(len(p)) > int64(len(s.data)) {
		return fmt.Errorf("range %d+%d out of bounds", off, len(p))
	}
	copy(p, s.data[off:])
	if block == s.corrupt {
		p[len(p)/2] ^= 0xff
	}
	s.served.Add(1)
	return nil
}

// memSink stores blocks in memory and checks each against its hash, as
// share.Partial does. mu guards everything.
type memSink struct {
	mu     sync.Mutex
	h      share.Hashes
	data   []byte
	have   []bool
	writes int
}

func newSink(h share.Hashes) *memSink {
	return &memSink{h: h, data: make([]byte, h.Size), have: make([]bool, len(h.Blocks))}
}

func (k *memSink) Missing() []int {
	k.mu.Lock()
	defer k.mu.Unlock()
	var m []int
	for i, ok := range k.have {
		if !ok {
			m = append(m, i)
		}
	}
	return m
}

func (k *memSink) WriteBlock(i int, data []byte) error {
	if i < 0 || i >= len(k.h.Blocks) || len(data) != share.BlockLen(k.h.Size, i) {
		return fmt.Errorf("block %d: bad index or length %d", i, len(data))
	}
	if share.BlockHash(data) != k.h.Blocks[i] {
		return share.ErrHashMismatch
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	copy(k.data[int64(i)*share.BlockSize:], data)
	k.have[i] = true
	k.writes++
	return nil
}

// prefill marks blocks as already stored, as a resumed download would find them.
func (k *memSink) prefill(src []byte, blocks ...int) {
	for _, i := range blocks {
		off := int64(i) * share.BlockSize
		if err := k.WriteBlock(i, src[off:off+int64(share.BlockLen(k.h.Size, i))]); err != nil {
			panic(err)
		}
	}
}
