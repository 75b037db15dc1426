package wire

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
)

// TLS cuts what it sends into records of at most 16 KiB and writes each one
// to the connection by itself: a 1 GiB upload is 65,536 write system calls,
// each waking the receiver. While the server streams file bytes it batches
// those records instead (batchConn), so that each system call moves up to
// batchSize.

// batchSize is the most a batching connection holds before it writes.
const batchSize = 256 << 10

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, batchSize); return &b }}

// batchConn is a server connection under TLS that, between hold and release,
// collects what is written to it and writes it in pieces of up to batchSize.
// Outside that it writes through. It is safe for concurrent use.
type batchConn struct {
	net.Conn
	mu    sync.Mutex
	buf   *[]byte // non-nil between hold and release
	holds int     // holds not yet released: only the last release writes
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf == nil {
		return c.Conn.Write(p)
	}
	if len(*c.buf)+len(p) > cap(*c.buf) {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= cap(*c.buf) {
			return c.Conn.Write(p)
		}
	}
	*c.buf = append(*c.buf, p...)
	return len(p), nil
}

func (c *batchConn) flushLocked() error {
	b := *c.buf
	*c.buf = b[:0]
	if len(b) == 0 {
		return nil
	}
	_, err := c.Conn.Write(b)
	return err
}

// hold starts collecting writes. Holds nest: what is collected is written
// when the last of them is released.
func (c *batchConn) hold() {
	c.mu.Lock()
	c.holds++
	if c.buf == nil {
		c.buf = batchPool.Get().(*[]byte)
	}
	c.mu.Unlock()
}

// release writes what was collected, returns to writing through and reports
// the first error of those writes. A write error breaks the TLS connection
// above, so nothing is lost silently: the stream fails.
func (c *batchConn) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.holds > 0 {
		c.holds--
	}
	if c.buf == nil || c.holds > 0 {
		return nil
	}
	err := c.flushLocked()
	batchPool.Put(c.buf)
	c.buf = nil
	return err
}

// batchListener wraps each accepted connection in a batchConn.
type batchListener struct{ net.Listener }

func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &batchConn{Conn: c}, nil
}

type batchKey struct{}

// withBatchConn is the http.Server's ConnContext: it makes the batchConn
// under a TLS connection available to handlers (see batchConnOf).
func withBatchConn(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		if bc, ok := tc.NetConn().(*batchConn); ok {
			return context.WithValue(ctx, batchKey{}, bc)
		}
	}
	return ctx
}

// batchConnOf returns the batchConn of a request's connection, or nil.
func batchConnOf(ctx context.Context) *batchConn {
	bc, _ := ctx.Value(batchKey{}).(*batchConn)
	return bc
}
