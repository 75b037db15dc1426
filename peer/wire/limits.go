package wire

import (
	"context"
	"net"
	"sync"
	"time"
)

// limitListener bounds the connections accepted in total and per remote IP.
// A connection over either bound is closed as soon as it is accepted, before
// any TLS work, so a flood costs the server one accept and one close. It is
// safe for concurrent use.
type limitListener struct {
	net.Listener
	total, perIP int

	mu    sync.Mutex
	open  int
	byIP  map[string]int
	onDup func(ip string) // called when a connection is refused; may be nil
}

func newLimitListener(ln net.Listener, total, perIP int, refused func(ip string)) *limitListener {
	return &limitListener{Listener: ln, total: total, perIP: perIP, byIP: map[string]int{}, onDup: refused}
}

// Accept returns the next connection within the bounds, closing the ones
// over them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c.RemoteAddr())
		l.mu.Lock()
		ok := l.open < l.total && l.byIP[ip] < l.perIP
		if ok {
			l.open++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if !ok {
			c.Close()
			if l.onDup != nil {
				l.onDup(ip)
			}
			continue
		}
		return &limitConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	l.open--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.mu.Unlock()
}

// counts returns the connections open in total and from ip.
func (l *limitListener) counts(ip string) (total, fromIP int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.byIP[ip]
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

type limitConn struct {
	net.Conn
	l    *limitListener
	ip   string
	once sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.ip) })
	return err
}

// fairSem is a counting semaphore shared by several keys (client
// fingerprints). When a slot frees up it goes to a waiting key holding the
// fewest slots, ties broken round-robin, so one key queueing many requests
// cannot starve another. It is safe for concurrent use.
type fairSem struct {
	mu     sync.Mutex
	free   int
	held   map[string]int
	queues map[string][]*semWaiter
	ring   []string // keys with waiters, in arrival order
	next   int      // ring position where the next tie-break starts
}

type semWaiter struct {
	ch      chan struct{}
	granted bool
}

func newFairSem(n int) *fairSem {
	return &fairSem{free: n, held: map[string]int{}, queues: map[string][]*semWaiter{}}
}

// Acquire takes a slot for key, waiting until one is granted or ctx ends.
func (s *fairSem) Acquire(ctx context.Context, key string) error {
	s.mu.Lock()
	if s.free > 0 && len(s.ring) == 0 {
		s.free--
		s.held[key]++
		s.mu.Unlock()
		return nil
	}
	w := &semWaiter{ch: make(chan struct{})}
	if len(s.queues[key]) == 0 {
		s.ring = append(s.ring, key)
	}
	s.queues[key] = append(s.queues[key], w)
	s.mu.Unlock()
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if w.granted {
		s.mu.Unlock()
		s.Release(key)
		return ctx.Err()
	}
	q := s.queues[key]
	for i := range q {
		if q[i] == w {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		s.dropKeyLocked(key)
	} else {
		s.queues[key] = q
	}
	s.mu.Unlock()
	return ctx.Err()
}

// Release returns a slot taken by key, handing it to the next waiter if any.
func (s *fairSem) Release(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[key]--; s.held[key] <= 0 {
		delete(s.held, key)
	}
	if len(s.ring) == 0 {
		s.free++
		return
	}
	best := -1
	for j := range s.ring {
		i := (s.next + j) % len(s.ring)
		if best < 0 || s.held[s.ring[i]] < s.held[s.ring[best]] {
			best = i
		}
	}
	k := s.ring[best]
	q := s.queues[k]
	w := q[0]
	w.granted = true
	s.held[k]++
	close(w.ch)
	if len(q) == 1 {
		s.dropKeyLocked(k)
		s.next = best
	} else {
		s.queues[k] = q[1:]
		s.next = best + 1
	}
	if len(s.ring) > 0 {
		s.next %= len(s.ring)
	} else {
		s.next = 0
	}
}

func (s *fairSem) dropKeyLocked(key string) {
	delete(s.queues, key)
	for i, k := range s.ring {
		if k == key {
			s.ring = append(s.ring[:i], s.ring[i+1:]...)
			if s.next > i {
				s.next--
			}
			break
		}
	}
	if len(s.ring) > 0 {
		s.next %= len(s.ring)
	} else {
		s.next = 0
	}
}

// tokenBucket is the upload rate limit shared by every upload: rate bytes per
// second with a burst of a quarter second (at least minBurst). A rate <= 0
// means unlimited. The rate may change at any time; waiters pick the change up
// at once. It is safe for concurrent use.
type tokenBucket struct {
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration, wake <-chan struct{}) error

	mu      sync.Mutex
	rate    int64
	burst   float64
	tokens  float64
	last    time.Time
	changed chan struct{} // closed and replaced when the rate changes
	granted int64         // total tokens handed out while limited
}

const minBurst = 64 << 10

func newTokenBucket(rate int64) *tokenBucket {
	b := &tokenBucket{now: time.Now, sleep: sleepCtx, changed: make(chan struct{})}
	b.SetRate(rate)
	return b
}

func sleepCtx(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetRate sets the limit in bytes per second (<= 0: unlimited).
func (b *tokenBucket) SetRate(rate int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if rate < 0 {
		rate = 0
	}
	b.rate = rate
	b.burst = max(float64(rate)/4, minBurst)
	b.tokens = min(b.tokens, b.burst)
	b.last = b.now()
	close(b.changed)
	b.changed = make(chan struct{})
}

// Rate returns the current limit (0: unlimited).
func (b *tokenBucket) Rate() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rate
}

// Wait takes n tokens, waiting as long as the rate requires. A request larger
// than the burst is granted once a full burst is available and leaves the
// bucket in debt, so the long-run rate holds for any n.
func (b *tokenBucket) Wait(ctx context.Context, n int) error {
	for {
		b.mu.Lock()
		if b.rate <= 0 {
			b.mu.Unlock()
			return ctx.Err()
		}
		now := b.now()
		if el := now.Sub(b.last); el > 0 {
			b.tokens = min(b.burst, b.tokens+el.Seconds()*float64(b.rate))
		}
		b.last = now
		need := min(float64(n), b.burst)
		if b.tokens >= need {
			b.tokens -= float64(n)
			b.granted += int64(n)
			b.mu.Unlock()
			return nil
		}
		d := time.Duration((need - b.tokens) / float64(b.rate) * float64(time.Second))
		if d < time.Millisecond {
			d = time.Millisecond
		}
		wake := b.changed
		b.mu.Unlock()
		if err := b.sleep(ctx, d, wake); err != nil {
			return err
		}
	}
}

// Granted returns the tokens handed out while a limit was set.
func (b *tokenBucket) Granted() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.granted
}
