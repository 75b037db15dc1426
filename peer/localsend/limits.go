package localsend

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// What one address may do: the server's limits on PINs tried,
// prepare-uploads and connections (see the constants in server.go).

// addrLimit is what the rate limits remember of one address.
type addrLimit struct {
	pinFails  int
	pinUntil  time.Time
	prepares  int
	windowEnd time.Time
}

// allowPrepare counts a prepare-upload from ip and says whether it is
// within prepareBurst per prepareWindow.
func (s *Server) allowPrepare(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.unlock()
	l := s.limitLocked(ip)
	now := time.Now()
	if now.After(l.windowEnd) {
		l.prepares, l.windowEnd = 0, now.Add(prepareWindow)
	}
	l.prepares++
	return l.prepares <= prepareBurst
}

// limitLocked returns ip's counters, forgetting stale ones when the table
// is full. s.mu is held.
func (s *Server) limitLocked(ip netip.Addr) *addrLimit {
	if l, ok := s.limits[ip]; ok {
		return l
	}
	if len(s.limits) >= maxTracked {
		now := time.Now()
		for a, l := range s.limits {
			if now.After(l.windowEnd) && now.After(l.pinUntil) {
				delete(s.limits, a)
			}
		}
		for a := range s.limits {
			if len(s.limits) < maxTracked {
				break
			}
			delete(s.limits, a)
		}
	}
	l := &addrLimit{}
	s.limits[ip] = l
	return l
}

// checkPIN answers 401 for a missing or wrong PIN and 429 after
// maxPINFails wrong ones from ip (for pinLockout); it returns false when it
// answered.
func (s *Server) checkPIN(w http.ResponseWriter, r *http.Request, ip netip.Addr) bool {
	pin := ""
	if s.opts.PIN != nil {
		pin = s.opts.PIN()
	}
	if pin == "" {
		return true
	}
	s.mu.Lock()
	defer s.unlock()
	l := s.limitLocked(ip)
	now := time.Now()
	if l.pinFails >= maxPINFails {
		if now.Before(l.pinUntil) {
			fail(w, http.StatusTooManyRequests, "too many wrong PINs; try again in a minute")
			return false
		}
		l.pinFails = 0
	}
	got, given := r.URL.Query()["pin"]
	switch {
	case !given:
		fail(w, http.StatusUnauthorized, "PIN required")
		return false
	case len(got) != 1 || got[0] != pin:
		l.pinFails++
		l.pinUntil = now.Add(pinLockout)
		fail(w, http.StatusUnauthorized, "Invalid PIN")
		return false
	}
	l.pinFails = 0
	return true
}

// limitListener bounds the connections a Server holds, in total and per
// address; connections beyond are closed at once.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			c.Close()
			continue
		}
		ip := ap.Addr().Unmap()
		l.s.mu.Lock()
		ok := l.s.nconns < maxConns && l.s.conns[ip] < maxConnsPerIP
		if ok {
			l.s.nconns++
			l.s.conns[ip]++
		}
		l.s.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		return &countedConn{Conn: c, s: l.s, ip: ip}, nil
	}
}

type countedConn struct {
	net.Conn
	s    *Server
	ip   netip.Addr
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		c.s.nconns--
		if c.s.conns[c.ip]--; c.s.conns[c.ip] <= 0 {
			delete(c.s.conns, c.ip)
		}
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}
