package swarm_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"porch/peer/swarm"
	"porch/share"
)

// mirror serves one in-memory copy of the content.
type mirror struct {
	name string
	data []byte
}

func (m mirror) ID() string   { return m.name }
func (m mirror) Name() string { return m.name }
func (m mirror) ReadRange(_ context.Context, _ string, off int64, p []byte) error {
	copy(p, m.data[off:])
	return nil
}

// file is a Sink that keeps blocks in memory. It verifies each block, and
// takes writes from several goroutines at once; mu guards have.
type file struct {
	h    share.Hashes
	data []byte
	mu   sync.Mutex
	have map[int]bool
}

func (f *file) Missing() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m []int
	for i := range f.h.Blocks {
		if !f.have[i] {
			m = append(m, i)
		}
	}
	return m
}

func (f *file) WriteBlock(i int, data []byte) error {
	if share.BlockHash(data) != f.h.Blocks[i] {
		return share.ErrHashMismatch
	}
	copy(f.data[i*share.BlockSize:], data) // blocks do not overlap
	f.mu.Lock()
	f.have[i] = true
	f.mu.Unlock()
	return nil
}

func ExampleFetch() {
	content := bytes.Repeat([]byte("porch "), 500_000) // about 3 MiB
	h, _ := share.HashReader(bytes.NewReader(content), nil)
	sink := &file{h: h, data: make([]byte, h.Size), have: map[int]bool{}}
	sources := []swarm.Source{mirror{"alice", content}, mirror{"bob", content}}

	var last swarm.Progress
	err := swarm.Fetch(context.Background(), h, h.ContentID(), sources, sink, swarm.Options{
		OnProgress: func(p swarm.Progress) { last = p },
	})
	fmt.Println(err, bytes.Equal(sink.data, content), last.Done == last.Total)
	// Output: <nil> true true
}
