package wire

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"porch/peer/identity"
	"porch/share"
	"porch/test/wait"
)

// fakeClock drives a tokenBucket without real time: sleeping advances it.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration, _ <-chan struct{}) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func TestTokenBucketRate(t *testing.T) {
	for _, c := range []struct {
		rate  int64
		chunk int
		total int64
	}{
		{1 << 20, 64 << 10, 64 << 20},
		{1 << 20, 1 << 20, 64 << 20},    // chunks bigger than the burst
		{10 << 10, 4 << 10, 1 << 20},    // a slow link: burst is minBurst
		{100 << 20, 512 << 10, 1 << 30}, // fast
	} {
		clk := &fakeClock{now: time.Unix(1000, 0)}
		b := newTokenBucket(0)
		b.now, b.sleep = clk.Now, clk.Sleep
		b.SetRate(c.rate)
		start := clk.Now()
		var sent int64
		for sent < c.total {
			if err := b.Wait(context.Background(), c.chunk); err != nil {
				t.Fatal(err)
			}
			sent += int64(c.chunk)
		}
		// The bucket starts empty, so every byte but the last chunk's
		// debt is paid for in time.
		elapsed := clk.Now().Sub(start).Seconds()
		want := float64(sent-int64(c.chunk)) / float64(c.rate)
		if elapsed < want*0.99 || elapsed > want*1.01+0.01 {
			t.Errorf("rate %d chunk %d: %d bytes took %.3fs, want %.3fs", c.rate, c.chunk, sent, elapsed, want)
		}
		if b.Granted() != sent {
			t.Errorf("granted %d, sent %d", b.Granted(), sent)
		}
	}
}

func TestTokenBucketUnlimitedAndChange(t *testing.T) {
	b := newTokenBucket(0)
	for range 100 {
		if err := b.Wait(context.Background(), 1<<30); err != nil {
			t.Fatal(err)
		}
	}
	if b.Granted() != 0 {
		t.Fatal("unlimited bucket counted tokens")
	}
	// A waiter on a very slow rate is released when the limit is lifted.
	b.SetRate(1)
	done := make(chan error, 1)
	go func() { done <- b.Wait(context.Background(), 1<<20) }()
	time.Sleep(10 * time.Millisecond)
	b.SetRate(0)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// And a canceled context ends the wait.
	b.SetRate(1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- b.Wait(ctx, 1<<20) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled wait: %v", err)
	}
}

func (s *fairSem) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queues {
		n += len(q)
	}
	return n
}

func (s *fairSem) holding(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held[key]
}

// waitFor waits for what, bounded against a hang (see package wait).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.Until(t, 20*time.Second, what, cond)
}

func TestFairSem(t *testing.T) {
	s := newFairSem(2)
	ctx := context.Background()
	s.Acquire(ctx, "a")
	s.Acquire(ctx, "a")
	granted := make(chan string, 10)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, key := range []string{"a", "a", "a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Acquire(ctx, key); err != nil {
				t.Error(err)
				return
			}
			granted <- key
		}()
		waitFor(t, "queued", func() bool { return s.waiting() == i+1 })
	}
	// A canceled waiter leaves the queue without taking a slot.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- s.Acquire(cctx, "d") }()
	waitFor(t, "d queued", func() bool { return s.waiting() == 6 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled acquire: %v", err)
	}
	// "a" holds both slots and queued first, yet each slot it frees goes
	// to a key holding none.
	var order []string
	for _, k := range []string{"a", "a", "b", "c", "a"} {
		s.Release(k)
		order = append(order, <-granted)
	}
	if got := strings.Join(order, ","); got != "b,c,a,a,a" {
		t.Fatalf("grant order %s, want b,c,a,a,a", got)
	}
	for range 2 {
		s.Release("a")
	}
	if s.holding("a") != 0 || s.free != 2 {
		t.Fatalf("slots not returned: held %d, free %d", s.holding("a"), s.free)
	}
}

func TestLimitListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ll := newLimitListener(inner, 3, 2, nil)
	defer ll.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ll.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func(from string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Skipf("cannot dial from %s: %v", from, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	refused := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF || errors.Is(err, net.ErrClosed) || strings.Contains(fmtErr(err), "reset")
	}
	dial("127.0.0.1")
	dial("127.0.0.1")
	first := <-accepted
	<-accepted
	if !refused(dial("127.0.0.1")) {
		t.Fatal("third connection from one address accepted")
	}
	dial("127.0.0.2")
	<-accepted
	if !refused(dial("127.0.0.2")) {
		t.Fatal("fourth connection in total accepted")
	}
	if total, from := ll.counts("127.0.0.1"); total != 3 || from != 2 {
		t.Fatalf("counts %d %d", total, from)
	}
	first.Close()
	first.Close() // counted once
	dial("127.0.0.2")
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(20 * time.Second):
		t.Fatal("connection not accepted after another closed")
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// gatedLibrary wraps a real library so that reading the content gated
// blocks until a token arrives on gate (once per open file).
type gatedLibrary struct {
	Library
	cid  string
	gate chan struct{}
}

func (g gatedLibrary) OpenContent(cid string) (File, error) {
	f, err := g.Library.OpenContent(cid)
	if err != nil || cid != g.cid {
		return f, err
	}
	return &gatedFile{File: f, gate: g.gate}, nil
}

type gatedFile struct {
	File
	gate   chan struct{}
	passed bool
}

func (f *gatedFile) ReadAt(p []byte, off int64) (int, error) {
	if !f.passed {
		<-f.gate
		f.passed = true
	}
	return f.File.ReadAt(p, off)
}

func TestUploadSlotsFair(t *testing.T) {
	slow := randomBytes(t, 1000)
	fast := []byte("quick answer")
	gate := make(chan struct{})
	var slowCID string
	p := startPeer(t, peerOpts{
		files: map[string][]byte{"slow": slow, "fast": fast},
		hash:  true,
		opts:  ServerOptions{UploadSlots: 2},
		wrap: func(l Library) Library {
			e, err := l.Stat("files/slow")
			if err != nil {
				t.Fatal(err)
			}
			slowCID = e.ContentID
			return gatedLibrary{Library: l, cid: e.ContentID, gate: gate}
		},
	})
	fastE, _ := p.lib.Stat("files/fast")
	ctx := ctxT(t)
	hog, other := newIdentity(t), newIdentity(t)
	hc := NewClient(hog, nil, Remote{ID: p.id.ID, Fingerprint: p.id.Fingerprint, Addrs: []string{p.addr}})
	oc := NewClient(other, nil, Remote{ID: p.id.ID, Fingerprint: p.id.Fingerprint, Addrs: []string{p.addr}})
	defer hc.Close()
	defer oc.Close()

	const hogs = 6
	hogDone := make(chan error, hogs)
	for range hogs {
		go func() {
			buf := make([]byte, len(slow))
			err := hc.ReadRange(ctx, slowCID, 0, buf)
			if err == nil && string(buf) != string(slow) {
				err = errors.New("wrong bytes")
			}
			hogDone <- err
		}()
	}
	sem := p.srv.slots
	waitFor(t, "hog to fill the slots", func() bool { return sem.holding(hog.Fingerprint) == 2 && sem.waiting() == hogs-2 })

	otherDone := make(chan error, 1)
	go func() {
		buf := make([]byte, len(fast))
		err := oc.ReadRange(ctx, fastE.ContentID, 0, buf)
		if err == nil && string(buf) != string(fast) {
			err = errors.New("wrong bytes")
		}
		otherDone <- err
	}()
	// Info needs no slot: it is answered while every slot is busy.
	if _, err := oc.Info(ctx); err != nil {
		t.Fatalf("info while slots are busy: %v", err)
	}
	waitFor(t, "other to queue", func() bool { return sem.waiting() == hogs-1 })

	// One hog request finishes; its slot must go to the other peer, not
	// to the hog's next request (which would block on the gate forever).
	gate <- struct{}{}
	select {
	case err := <-otherDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("the other peer was starved by the hog's queue")
	}
	if n := sem.waiting(); n != hogs-3 {
		t.Fatalf("%d requests waiting, want %d", n, hogs-3)
	}
	close(gate)
	for range hogs {
		if err := <-hogDone; err != nil {
			t.Fatal(err)
		}
	}
}

func TestConnectionFlood(t *testing.T) {
	data := randomBytes(t, 2*share.BlockSize)
	p := startPeer(t, peerOpts{files: map[string][]byte{"f": data}, hash: true})
	e, _ := p.lib.Stat("files/f")
	flooder := newIdentity(t)

	// One peer (another loopback address) opens more connections than it
	// may: some idle, some stuck in a request's headers.
	const conns = MaxConnsPerIP + 8
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := range conns {
		c, err := d.Dial("tcp", p.addr)
		if err != nil {
			t.Skipf("cannot dial from 127.0.0.2: %v", err)
		}
		open = append(open, c)
		if i%2 == 0 && i < MaxConnsPerIP {
			tc := tlsClient(c, flooder, p.id.Fingerprint)
			if err := tc.Handshake(); err != nil {
				t.Fatalf("flood handshake %d: %v", i, err)
			}
			io.WriteString(tc, "GET /v1/info HTTP/1.1\r\nHost: x\r\n")
		}
	}
	waitFor(t, "flood accepted", func() bool {
		p.srv.lnMu.Lock()
		ll := p.srv.ln
		p.srv.lnMu.Unlock()
		_, n := ll.counts("127.0.0.2")
		return n == MaxConnsPerIP
	})
	refused := 0
	for _, c := range open[MaxConnsPerIP:] {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			refused++
		}
	}
	if refused != conns-MaxConnsPerIP {
		t.Fatalf("%d connections over the limit refused, want %d", refused, conns-MaxConnsPerIP)
	}

	// Everyone else is still served: info and file bytes.
	ctx := ctxT(t)
	c := p.client(t)
	if _, err := c.Info(ctx); err != nil {
		t.Fatalf("info during flood: %v", err)
	}
	buf := make([]byte, share.BlockSize)
	if err := c.ReadRange(ctx, e.ContentID, share.BlockSize, buf); err != nil {
		t.Fatalf("bytes during flood: %v", err)
	}
	if string(buf) != string(data[share.BlockSize:]) {
		t.Fatal("wrong bytes")
	}
}

func tlsClient(c net.Conn, id *identity.Identity, fp string) *tls.Conn {
	return tls.Client(c, id.ClientTLS(identity.Pin(fp)))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestRateLimitedUpload(t *testing.T) {
	data := randomBytes(t, share.BlockSize+5000)
	p := startPeer(t, peerOpts{files: map[string][]byte{"f": data}, hash: true, opts: ServerOptions{MaxUpload: 8 << 20}})
	e, _ := p.lib.Stat("files/f")
	ctx := ctxT(t)
	c := p.client(t)
	buf := make([]byte, len(data))
	if err := c.ReadRange(ctx, e.ContentID, 0, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != string(data) {
		t.Fatal("wrong bytes")
	}
	// Every byte sent was paid for with a token.
	if g := p.srv.bucket.Granted(); g != int64(len(data)) {
		t.Fatalf("tokens granted %d, bytes sent %d", g, len(data))
	}
	p.srv.SetMaxUpload(0)
	if p.srv.MaxUpload() != 0 {
		t.Fatal("limit not lifted")
	}
	if err := c.ReadRange(ctx, e.ContentID, 0, buf); err != nil {
		t.Fatal(err)
	}
	if g := p.srv.bucket.Granted(); g != int64(len(data)) {
		t.Fatalf("unlimited upload took tokens: %d", g)
	}
}

func TestGracefulShutdown(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	var cid string
	src := map[string][]byte{"f": []byte("data")}
	p := startPeer(t, peerOpts{files: src, hash: true, wrap: func(l Library) Library {
		e, _ := l.Stat("files/f")
		cid = e.ContentID
		return gatedLibrary{Library: l, cid: cid, gate: gate}
	}})
	// A second server on the same library, whose lifetime the test owns.
	srv, err := NewServer(ServerOptions{Identity: p.id, Library: gatedLibrary{Library: LibraryOf(p.lib), cid: cid, gate: gate}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	c := NewClient(newIdentity(t), nil, Remote{ID: p.id.ID, Fingerprint: p.id.Fingerprint, Addrs: []string{ln.Addr().String()}})
	defer c.Close()
	if _, err := c.Info(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	stuck := make(chan error, 1)
	go func() { stuck <- c.ReadRange(ctxT(t), cid, 0, make([]byte, 4)) }()
	waitFor(t, "request in a slot", func() bool { return srv.slots.holding(c.self.Fingerprint) == 1 })
	cancel()
	// The stuck handler cannot finish until the gate opens; Serve must
	// wait for it, so release it once Serve had time to try.
	go func() {
		time.Sleep(100 * time.Millisecond)
		gate <- struct{}{}
	}()
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if srv.slots.holding(c.self.Fingerprint) != 0 {
		t.Fatal("Serve returned with a handler still running")
	}
	<-stuck
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still open after Serve returned")
	}
}

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		v       string
		size    int64
		off, n  int64
		partial bool
		ok      bool
	}{
		{"", 10, 0, 10, false, true},
		{"", 0, 0, 0, false, true},
		{"bytes=0-0", 10, 0, 1, true, true},
		{"bytes=0-9", 10, 0, 10, true, true},
		{"bytes=0-99", 10, 0, 10, true, true},
		{"bytes=9-", 10, 9, 1, true, true},
		{"bytes=-3", 10, 7, 3, true, true},
		{"bytes=-30", 10, 0, 10, true, true},
		{"bytes=10-", 10, 0, 0, false, false},
		{"bytes=3-2", 10, 0, 0, false, false},
		{"bytes=-0", 10, 0, 0, false, false},
		{"bytes=-", 10, 0, 0, false, false},
		{"bytes=1-2,4-5", 10, 0, 0, false, false},
		{"bytes=0x1-2", 10, 0, 0, false, false},
		{"bytes=99999999999999999999-", 10, 0, 0, false, false},
		{"bytes=0-0", 0, 0, 0, false, false},
		{"chunks=0-0", 10, 0, 0, false, false},
	} {
		off, n, partial, err := parseRange(c.v, c.size)
		if (err == nil) != c.ok || (c.ok && (off != c.off || n != c.n || partial != c.partial)) {
			t.Errorf("parseRange(%q, %d) = %d, %d, %v, %v", c.v, c.size, off, n, partial, err)
		}
		if err != nil && !errors.Is(err, ErrRange) {
			t.Errorf("parseRange(%q): error %v is not ErrRange", c.v, err)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"", "bytes=0-0", "bytes=-5", "bytes=5-", "bytes=1-2,3-4", "bytes=9-1"} {
		f.Add(s, int64(10))
	}
	f.Fuzz(func(t *testing.T, v string, size int64) {
		if size < 0 {
			size = -size
			if size < 0 {
				return
			}
		}
		off, n, partial, err := parseRange(v, size)
		if err != nil {
			return
		}
		if off < 0 || n < 0 || off+n > size || (partial && n == 0) || (!partial && (off != 0 || n != size)) {
			t.Fatalf("parseRange(%q, %d) = %d, %d, %v", v, size, off, n, partial)
		}
	})
}

// hostile serves protocol responses chosen by the test over real TLS.
func hostile(t *testing.T, h func(id *identity.Identity, w http.ResponseWriter, r *http.Request)) (*identity.Identity, string) {
	t.Helper()
	id := newIdentity(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/info" {
			json.NewEncoder(w).Encode(Info{V: 1, ID: id.ID, Fingerprint: id.Fingerprint})
			return
		}
		h(id, w, r)
	}), TLSConfig: id.ServerTLS()}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	return id, ln.Addr().String()
}

func TestClientRejectsBadResponses(t *testing.T) {
	goodCID := share.Hashes{Size: 1, Blocks: [][share.HashSize]byte{share.BlockHash([]byte("x"))}}.ContentID()
	entry := func(p string) share.Entry {
		return share.Entry{Name: p[strings.LastIndexByte(p, '/')+1:], Path: p, Size: 1}
	}
	page := func(es ...share.Entry) func(*identity.Identity, http.ResponseWriter, *http.Request) {
		return func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(ListPage{Entries: es})
		}
	}
	for _, c := range []struct {
		name string
		h    func(*identity.Identity, http.ResponseWriter, *http.Request)
		call func(context.Context, *Client) error
		want error
	}{
		{"traversal entry", page(entry("../etc")), func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err }, ErrBadResponse},
		{"absolute entry", page(share.Entry{Name: "passwd", Path: "/etc/passwd"}), func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err }, ErrBadResponse},
		{"backslash entry", page(entry(`a\..\b`)), func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err }, ErrBadResponse},
		{"entry outside the folder", page(entry("other/x")), func(ctx context.Context, c *Client) error { _, err := c.List(ctx, "music"); return err }, ErrBadResponse},
		{"tree entry outside", page(entry("musicx")), func(ctx context.Context, c *Client) error {
			return c.Tree(ctx, "music", func(share.Entry) error { return nil })
		}, ErrBadResponse},
		{"name differs from path", page(share.Entry{Name: "b", Path: "a"}), func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err }, ErrBadResponse},
		{"negative size", page(share.Entry{Name: "a", Path: "a", Size: -1}), func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err }, ErrBadResponse},
		{"bad content id", page(share.Entry{Name: "a", Path: "a", ContentID: "p1-xyz"}), func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err }, ErrBadResponse},
		{"cursor loop", func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(ListPage{Entries: []share.Entry{entry("a")}, Next: "1"})
		}, func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err }, ErrBadResponse},
		{"page too big", func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"entries":[],"next":"` + strings.Repeat("x", MaxPageBytes) + `"}`))
		}, func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err }, ErrBadResponse},
		{"hashes for other content", func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			b, _ := share.Hashes{Size: 1, Blocks: [][share.HashSize]byte{{1}}}.MarshalBinary()
			w.Write(b)
		}, func(ctx context.Context, c *Client) error { _, err := c.Hashes(ctx, goodCID); return err }, share.ErrHashMismatch},
		{"wrong content range", func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 1-1/1")
			w.Header().Set("Content-Length", "1")
			w.WriteHeader(206)
			w.Write([]byte("x"))
		}, func(ctx context.Context, c *Client) error { return c.ReadRange(ctx, goodCID, 0, make([]byte, 1)) }, ErrBadResponse},
		{"200 instead of 206", func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("x"))
		}, func(ctx context.Context, c *Client) error { return c.ReadRange(ctx, goodCID, 0, make([]byte, 1)) }, nil},
		{"batch item too long", func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			w.Write([]byte{0, 0, 0, 0, 0, 0x20, 0, 0})
		}, func(ctx context.Context, c *Client) error {
			return c.Batch(ctx, []string{goodCID}, func(int, []byte) error { return nil })
		}, ErrBadResponse},
		{"has not asked", func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(hasReply{Has: []string{"p1-" + strings.Repeat("0", 64)}})
		}, func(ctx context.Context, c *Client) error { _, err := c.Has(ctx, []string{goodCID}); return err }, ErrBadResponse},
		{"search bad entry", func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(searchReply{Results: []share.Entry{entry("a/../../b")}})
		}, func(ctx context.Context, c *Client) error { _, err := c.Search(ctx, "b"); return err }, ErrBadResponse},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, addr := hostile(t, c.h)
			cl := NewClient(newIdentity(t), nil, Remote{ID: id.ID, Fingerprint: id.Fingerprint, Addrs: []string{addr}})
			defer cl.Close()
			err := c.call(ctxT(t), cl)
			if err == nil {
				t.Fatal("accepted")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
		})
	}
}

func TestClientInfoLies(t *testing.T) {
	real := newIdentity(t)
	_, addr := hostile(t, nil)
	// A server whose /v1/info claims another fingerprint than its TLS key.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	liar := newIdentity(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(Info{V: 1, ID: real.ID, Fingerprint: real.Fingerprint})
	}), TLSConfig: liar.ServerTLS()}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	c := NewClient(newIdentity(t), nil, Remote{Addrs: []string{ln.Addr().String()}})
	defer c.Close()
	if _, err := c.Info(ctxT(t)); !errors.Is(err, identity.ErrFingerprint) {
		t.Fatalf("lying info: %v, want ErrFingerprint", err)
	}
	// Expecting one id and meeting another is refused too.
	c2 := NewClient(newIdentity(t), nil, Remote{ID: real.ID, Addrs: []string{addr}})
	defer c2.Close()
	if _, err := c2.Info(ctxT(t)); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("other id: %v, want ErrBadResponse", err)
	}
}

func TestWriteStall(t *testing.T) {
	big := make([]byte, 48<<20) // more than loopback socket buffers hold
	p := startPeer(t, peerOpts{files: map[string][]byte{"big": big}, stall: 200 * time.Millisecond, hash: true})
	me := newIdentity(t)
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := tlsClient(conn, me, p.id.Fingerprint)
	if _, err := io.WriteString(tc, "GET /v1/file?path=files/big HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The client never reads: the upload must give up and free its slot.
	waitFor(t, "upload to start", func() bool { return p.srv.slots.holding(me.Fingerprint) == 1 })
	waitFor(t, "stalled upload to give up", func() bool { return p.srv.slots.holding(me.Fingerprint) == 0 })
}

// A peer that lies with bodies that never finish, or listings that are
// valid page by page but never end, is cut off with a clear error, bounded
// in time and in bytes; a peer id that is not a UUID is refused.
func TestClientBoundsHostileBodies(t *testing.T) {
	oldStall, oldList, oldTree := bodyStall, listBytes, treeBytes
	bodyStall, listBytes, treeBytes = 200*time.Millisecond, 1<<20, 2<<20
	t.Cleanup(func() { bodyStall, listBytes, treeBytes = oldStall, oldList, oldTree })

	goodCID := share.Hashes{Size: 1, Blocks: [][share.HashSize]byte{share.BlockHash([]byte("x"))}}.ContentID()
	stall := func(prefix string) func(*identity.Identity, http.ResponseWriter, *http.Request) {
		return func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(prefix))
			w.(http.Flusher).Flush()
			<-r.Context().Done() // headers and a few bytes, then nothing
		}
	}
	long := strings.Repeat("n", 200)
	endless := func(_ *identity.Identity, w http.ResponseWriter, r *http.Request) {
		// Every page valid, with a new cursor, for ever.
		n, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
		var es []share.Entry
		for i := range 100 {
			name := fmt.Sprintf("%s-%d-%d", long, n, i)
			p := name
			if dir := r.URL.Query().Get("path"); dir != "" {
				p = dir + "/" + name
			}
			es = append(es, share.Entry{Name: name, Path: p, Size: 1})
		}
		json.NewEncoder(w).Encode(ListPage{Entries: es, Next: strconv.Itoa(n + 1)})
	}
	list := func(ctx context.Context, c *Client) error { _, err := c.List(ctx, ""); return err }
	tree := func(ctx context.Context, c *Client) error {
		return c.Tree(ctx, "music", func(share.Entry) error { return nil })
	}
	for _, c := range []struct {
		name string
		h    func(*identity.Identity, http.ResponseWriter, *http.Request)
		call func(context.Context, *Client) error
		want error
	}{
		{"ls stalls", stall(`{"entries":[`), list, ErrStalled},
		{"tree stalls", stall(`{"entries":[`), tree, ErrStalled},
		{"search stalls", stall(`{"results":[`), func(ctx context.Context, c *Client) error { _, err := c.Search(ctx, "x"); return err }, ErrStalled},
		{"hashes stall", stall("\x00\x00"), func(ctx context.Context, c *Client) error { _, err := c.Hashes(ctx, goodCID); return err }, ErrStalled},
		{"batch stalls", stall("\x00\x00\x00"), func(ctx context.Context, c *Client) error {
			return c.Batch(ctx, []string{goodCID}, func(int, []byte) error { return nil })
		}, ErrStalled},
		{"ls never ends", endless, list, ErrBadResponse},
		{"tree never ends", endless, tree, ErrBadResponse},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, addr := hostile(t, c.h)
			cl := NewClient(newIdentity(t), nil, Remote{ID: id.ID, Fingerprint: id.Fingerprint, Addrs: []string{addr}})
			defer cl.Close()
			err := c.call(ctxT(t), cl)
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error of %d bytes repeats what the peer sent: %.200s…", len(err.Error()), err)
			}
		})
	}

	// An id that is not a UUID.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	odd := newIdentity(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(Info{V: 1, ID: "../../" + strings.Repeat("x", 4000), Fingerprint: odd.Fingerprint})
	}), TLSConfig: odd.ServerTLS()}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	cl := NewClient(newIdentity(t), nil, Remote{Addrs: []string{ln.Addr().String()}})
	defer cl.Close()
	if _, err := cl.Info(ctxT(t)); !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "not a UUID") || len(err.Error()) > 300 {
		t.Fatalf("info with a hostile id: %v", err)
	}
}
