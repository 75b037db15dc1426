package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"porch/share"
)

// countConn counts the writes that reach a connection.
type countConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

type countListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countConn{Conn: c, writes: l.writes}, nil
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func TestBatchConn(t *testing.T) {
	a, b := tcpPair(t)
	var writes atomic.Int64
	bc := &batchConn{Conn: countConn{Conn: a, writes: &writes}}
	got := make(chan []byte, 1)
	go func() {
		all, _ := io.ReadAll(b)
		got <- all
	}()

	var want bytes.Buffer
	write := func(n int) {
		t.Helper()
		p := randomBytes(t, n)
		want.Write(p)
		if m, err := bc.Write(p); m != n || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", n, m, err)
		}
	}
	// Not held: every write goes through.
	for range 3 {
		write(100)
	}
	if w := writes.Load(); w != 3 {
		t.Fatalf("%d writes through before hold, want 3", w)
	}
	// Held: 20 records of 16 KiB make two writes (256 KiB, then the rest).
	bc.hold()
	for range 20 {
		write(16 << 10)
	}
	if w := writes.Load(); w != 4 {
		t.Fatalf("%d writes after 20 held records, want 4 (one full batch)", w)
	}
	if err := bc.release(); err != nil {
		t.Fatal(err)
	}
	if w := writes.Load(); w != 5 {
		t.Fatalf("%d writes after release, want 5", w)
	}
	// A write larger than a batch is not copied: what is pending goes first.
	bc.hold()
	write(10)
	write(batchSize + 1)
	if w := writes.Load(); w != 7 {
		t.Fatalf("%d writes after a large held write, want 7", w)
	}
	if err := bc.release(); err != nil {
		t.Fatal(err)
	}
	if w := writes.Load(); w != 7 {
		t.Fatalf("release with nothing pending wrote: %d writes, want 7", w)
	}
	// Releasing twice, or without holding, is harmless.
	if err := bc.release(); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if all := <-got; !bytes.Equal(all, want.Bytes()) {
		t.Fatalf("received %d bytes, want %d in the order written", len(all), want.Len())
	}
}

func TestBatchConnReleaseError(t *testing.T) {
	a, _ := tcpPair(t)
	bc := &batchConn{Conn: a}
	bc.hold()
	if _, err := bc.Write([]byte("pending")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	if err := bc.release(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("release on a closed connection: %v, want net.ErrClosed", err)
	}
}

// TestUploadBatched checks that a served download reaches the socket in
// batches, not one write per 16 KiB TLS record, and arrives whole.
func TestUploadBatched(t *testing.T) {
	size := 4 * share.BlockSize
	data := randomBytes(t, size)
	var writes atomic.Int64
	p := startPeer(t, peerOpts{
		files:  map[string][]byte{"big.bin": data},
		hash:   true, // no byte of a file leaves before it is hashed and checked
		listen: func(ln net.Listener) net.Listener { return countListener{Listener: ln, writes: &writes} },
	})
	hc := p.raw(t)
	code, _, body := p.get(t, hc, "/v1/file?path=files/big.bin", nil)
	if code != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("status %d, %d bytes, want 200 and the file's %d bytes", code, len(body), size)
	}
	// 256 records; batched, about size/batchSize writes plus the handshake's.
	records := size / (16 << 10)
	if w := writes.Load(); w > int64(records/4) {
		t.Fatalf("%d writes for %d records, want at most %d", w, records, records/4)
	}
}

// TestBatchConnNestedHolds checks that only the last of nested holds writes
// what was collected.
func TestBatchConnNestedHolds(t *testing.T) {
	a, b := tcpPair(t)
	var writes atomic.Int64
	bc := &batchConn{Conn: countConn{Conn: a, writes: &writes}}
	bc.hold()
	bc.hold()
	if _, err := bc.Write([]byte("inner ")); err != nil {
		t.Fatal(err)
	}
	if err := bc.release(); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.Write([]byte("outer")); err != nil {
		t.Fatal(err)
	}
	if w := writes.Load(); w != 0 {
		t.Fatalf("%d writes before the outer release, want 0", w)
	}
	if err := bc.release(); err != nil {
		t.Fatal(err)
	}
	if w := writes.Load(); w != 1 {
		t.Fatalf("%d writes after the outer release, want 1", w)
	}
	got := make([]byte, len("inner outer"))
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "inner outer" {
		t.Fatalf("read %q, %v", got, err)
	}
}

// TestBatchResponseBatched checks that a batch of many small files reaches
// the socket in a few large writes, not one or more per file, and that every
// file arrives whole and in order.
func TestBatchResponseBatched(t *testing.T) {
	const n = 200
	files := map[string][]byte{}
	var cids []string
	var want [][]byte
	for i := range n {
		b := randomBytes(t, 4096)
		files[fmt.Sprintf("f%03d", i)] = b
		h, err := share.HashReader(bytes.NewReader(b), nil)
		if err != nil {
			t.Fatal(err)
		}
		cids = append(cids, h.ContentID())
		want = append(want, b)
	}
	var writes atomic.Int64
	p := startPeer(t, peerOpts{
		files:  files,
		hash:   true,
		listen: func(ln net.Listener) net.Listener { return countListener{Listener: ln, writes: &writes} },
	})
	c := p.client(t)
	if _, err := c.Info(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := writes.Load()
	i := 0
	err := c.Batch(context.Background(), cids, func(j int, data []byte) error {
		if j != i || !bytes.Equal(data, want[j]) {
			return fmt.Errorf("item %d: got item %d, %d bytes", i, j, len(data))
		}
		i++
		return nil
	})
	if err != nil || i != n {
		t.Fatalf("batch: %d of %d files, %v", i, n, err)
	}
	// 800 KiB: a few writes of batchSize, not hundreds.
	if w := writes.Load() - before; w > 10 {
		t.Fatalf("%d writes for %d files of 4 KiB, want at most 10", w, n)
	}
}
