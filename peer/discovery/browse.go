package discovery

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Browsing is Porch's own, not zeroconf's Resolver: zeroconf v1.0.0 queries
// over IPv4 and IPv6 at once with no known answers, so every peer answers
// every query twice over, to everyone; it reports an instance once per browse
// (a changed TXT record is never reported) and drops an update that carries
// only a TXT record. With 50 peers re-browsing every 15 s that was about
// 30,000 datagrams per peer per minute dropped at full socket buffers. The
// browser here follows RFC 6762 as far as the querier's side goes:
//
//   - one address family: IPv4 when an interface has an IPv4 address (a
//     zeroconf responder puts its IPv6 addresses in the same answer), else
//     IPv6;
//   - queries ask for unicast answers (the QU bit, §5.4) from a socket of
//     their own, so answers go to the asker only and not to every peer;
//   - known-answer suppression (§7.1): a query lists the instances already
//     known, and zeroconf responders that are listed stay silent, so a
//     re-query costs one datagram when nothing changed;
//   - continuous querying with growing, jittered intervals (§5.2): about
//     20–120 ms after start, then 1 s, 2 s, 4 s… up to about a minute (±20%),
//     relying on peers' unsolicited announcements for news in between;
//   - every response heard on the mDNS group is parsed, so announcements
//     (a peer starting, or re-registering with a new name or index version)
//     are reported as they arrive.
//
// A cache of what was heard (instances, their host, port, TXT and addresses)
// is bounded by maxCache; Forget drops an instance so that the next query
// asks for it again.
const (
	maxCache      = 1024             // instances remembered; the least recently heard goes first
	maxKnown      = 150              // known answers in one query (about 8 KB)
	browseCap     = 60 * time.Second // the longest interval between two browse queries
	forgetRequery = time.Second      // a Forget asks again after about this long
	checkEvery    = 2 * time.Second  // Check asks about one peer at most this often
	maxDatagram   = 9000             // RFC 6762 §17
	readBuffer    = 4 << 20          // asked of the kernel; it caps it at net.core.rmem_max
)

var (
	groupV4 = &net.UDPAddr{IP: net.IPv4(224, 0, 0, 251), Port: 5353}
	groupV6 = &net.UDPAddr{IP: net.ParseIP("ff02::fb"), Port: 5353}
)

// pconn is one socket of one address family, reading with the interface a
// datagram came in on and writing out of a given interface.
type pconn interface {
	readFrom(b []byte) (n, ifIndex int, src net.Addr, err error)
	writeTo(b []byte, ifIndex int, dst net.Addr) error
	Close() error
}

type pconn4 struct{ *ipv4.PacketConn }

func (c pconn4) readFrom(b []byte) (int, int, net.Addr, error) {
	n, cm, src, err := c.ReadFrom(b)
	if cm != nil {
		return n, cm.IfIndex, src, err
	}
	return n, 0, src, err
}

func (c pconn4) writeTo(b []byte, ifIndex int, dst net.Addr) error {
	_, err := c.WriteTo(b, &ipv4.ControlMessage{IfIndex: ifIndex}, dst)
	return err
}

type pconn6 struct{ *ipv6.PacketConn }

func (c pconn6) readFrom(b []byte) (int, int, net.Addr, error) {
	n, cm, src, err := c.ReadFrom(b)
	if cm != nil {
		return n, cm.IfIndex, src, err
	}
	return n, 0, src, err
}

func (c pconn6) writeTo(b []byte, ifIndex int, dst net.Addr) error {
	_, err := c.WriteTo(b, &ipv6.ControlMessage{IfIndex: ifIndex}, dst)
	return err
}

// sockets are the browser's two sockets: listen, bound to port 5353 and
// joined to the group on every interface, hears announcements and other
// peers' queries; query, on a port of its own, sends queries and receives
// the unicast answers to them.
type sockets struct {
	six           bool
	group         *net.UDPAddr
	listen, query pconn
}

func (s *sockets) close() {
	s.listen.Close()
	s.query.Close()
}

// browseFamily is the address family the browser uses on ifaces: IPv4 when
// one of them has an IPv4 address, else IPv6.
func browseFamily(ifaces []net.Interface) (six bool) {
	for _, a := range localAddrs(ifaces) {
		if a.Is4() {
			return false
		}
	}
	return true
}

// openSockets opens the browser's sockets in the family browseFamily picks,
// falling back to the other one.
func openSockets(ifaces []net.Interface) (*sockets, error) {
	six := browseFamily(ifaces)
	s, err := openFamily(six, ifaces)
	if err == nil {
		return s, nil
	}
	s, err2 := openFamily(!six, ifaces)
	if err2 == nil {
		return s, nil
	}
	return nil, errors.Join(err, err2)
}

func openFamily(six bool, ifaces []net.Interface) (*sockets, error) {
	network, group, wild := "udp4", groupV4, &net.UDPAddr{IP: net.IPv4(224, 0, 0, 0), Port: 5353}
	if six {
		network, group, wild = "udp6", groupV6, &net.UDPAddr{IP: net.ParseIP("ff02::"), Port: 5353}
	}
	// A multicast address here makes package net bind the wildcard address
	// with SO_REUSEADDR, beside zeroconf's and other responders' sockets.
	lc, err := net.ListenUDP(network, wild)
	if err != nil {
		return nil, err
	}
	qc, err := net.ListenUDP(network, &net.UDPAddr{})
	if err != nil {
		lc.Close()
		return nil, err
	}
	_ = lc.SetReadBuffer(readBuffer)
	_ = qc.SetReadBuffer(readBuffer)
	s := &sockets{six: six, group: group}
	joined := 0
	if six {
		l, q := ipv6.NewPacketConn(lc), ipv6.NewPacketConn(qc)
		_ = l.SetControlMessage(ipv6.FlagInterface, true)
		_ = q.SetControlMessage(ipv6.FlagInterface, true)
		_ = q.SetMulticastLoopback(true)
		for i := range ifaces {
			if l.JoinGroup(&ifaces[i], &net.UDPAddr{IP: group.IP}) == nil {
				joined++
			}
		}
		s.listen, s.query = pconn6{l}, pconn6{q}
	} else {
		l, q := ipv4.NewPacketConn(lc), ipv4.NewPacketConn(qc)
		_ = l.SetControlMessage(ipv4.FlagInterface, true)
		_ = q.SetControlMessage(ipv4.FlagInterface, true)
		_ = q.SetMulticastLoopback(true)
		for i := range ifaces {
			if l.JoinGroup(&ifaces[i], &net.UDPAddr{IP: group.IP}) == nil {
				joined++
			}
		}
		s.listen, s.query = pconn4{l}, pconn4{q}
	}
	if joined == 0 {
		s.close()
		return nil, errors.New(network + ": cannot join the mDNS group on any interface")
	}
	return s, nil
}

// cached is what the browser heard of one instance.
type cached struct {
	instance string // "<id>._porch._tcp.local.", lower case
	host     string // SRV target, lower case
	port     int
	txt      []string
	addrs    []netip.Addr
	heard    time.Time // last datagram about it
	ptrAt    time.Time // last PTR record for it, for known-answer suppression
	ptrTTL   uint32
}

// browser owns the sockets and the cache. mu guards cache, lastCheck and
// lastQuery; the sockets are set before the readers start and closed after
// they are told to stop.
type browser struct {
	d     *Discovery
	s     *sockets
	found chan<- Announcement
	asked func(id string)

	mu        sync.Mutex
	cache     map[string]*cached
	lastCheck map[string]time.Time
	lastQuery time.Time
	requery   chan struct{} // capacity 1: "query again soon"
}

func serviceName() string { return ServiceType + "." + Domain }

// read reads datagrams from c until it fails (its socket closed) and hands
// them to handle.
func (b *browser) read(ctx context.Context, c pconn) {
	buf := make([]byte, 65536)
	for {
		n, ifIndex, src, err := c.readFrom(buf)
		if err != nil {
			if ctx.Err() == nil {
				b.d.log.Debug("mDNS socket failed", "err", err)
			}
			return
		}
		var m dns.Msg
		if m.Unpack(buf[:n]) != nil {
			continue
		}
		b.handle(ctx, &m, ifIndex, src)
	}
}

// handle takes one message: a query about a Porch instance is reported to
// asked (someone on the link wonders whether that peer is still there); a
// response updates the cache and reports every complete instance it
// mentions.
func (b *browser) handle(ctx context.Context, m *dns.Msg, ifIndex int, _ net.Addr) {
	svc := strings.ToLower(serviceName())
	if !m.Response {
		// zeroconf's probes before it announces carry an authority section:
		// those are a peer starting, not a question about one.
		if len(m.Ns) > 0 || b.asked == nil {
			return
		}
		for _, q := range m.Question {
			name := strings.ToLower(q.Name)
			if id, ok := strings.CutSuffix(name, "."+svc); ok && validID(id) == nil && id != b.d.self.ID {
				b.asked(id)
			}
		}
		return
	}
	now := time.Now()
	zone := ""
	if ifi, err := net.InterfaceByIndex(ifIndex); err == nil {
		zone = ifi.Name
	} else if len(b.d.ifaces) == 1 {
		zone = b.d.ifaces[0].Name
	}
	touched := map[string]*cached{}
	b.mu.Lock()
	entry := func(name string) *cached {
		if c := touched[name]; c != nil {
			return c
		}
		c := b.cache[name]
		if c == nil {
			if len(b.cache) >= maxCache {
				b.evictOldest()
			}
			c = &cached{instance: name}
			b.cache[name] = c
		}
		c.heard = now
		touched[name] = c
		return c
	}
	rrs := append(append([]dns.RR(nil), m.Answer...), m.Extra...)
	for _, rr := range rrs {
		h := rr.Header()
		if h.Ttl == 0 {
			// Goodbyes are left to the engine, which hears them over HTTPS.
			continue
		}
		name := strings.ToLower(h.Name)
		switch rr := rr.(type) {
		case *dns.PTR:
			if name == svc && strings.HasSuffix(strings.ToLower(rr.Ptr), "."+svc) {
				c := entry(strings.ToLower(rr.Ptr))
				c.ptrAt, c.ptrTTL = now, h.Ttl
			}
		case *dns.SRV:
			if strings.HasSuffix(name, "."+svc) {
				c := entry(name)
				c.host, c.port = strings.ToLower(rr.Target), int(rr.Port)
			}
		case *dns.TXT:
			if strings.HasSuffix(name, "."+svc) {
				c := entry(name)
				c.txt = append([]string(nil), rr.Txt...)
			}
		}
	}
	// Addresses in a second pass: they belong to host names, which SRV
	// records of this message or the cache name.
	fresh := map[string][]netip.Addr{}
	for _, rr := range rrs {
		var ip net.IP
		switch rr := rr.(type) {
		case *dns.A:
			ip = rr.A
		case *dns.AAAA:
			ip = rr.AAAA
		default:
			continue
		}
		if rr.Header().Ttl == 0 {
			continue
		}
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		addr = addr.Unmap()
		if addr.IsUnspecified() || addr.IsMulticast() {
			continue
		}
		if addr.Is6() && addr.IsLinkLocalUnicast() && zone != "" {
			addr = addr.WithZone(zone)
		}
		host := strings.ToLower(rr.Header().Name)
		if len(fresh[host]) < maxAddrs {
			fresh[host] = appendUnique(fresh[host], addr)
		}
	}
	if len(fresh) > 0 {
		for _, c := range b.cache {
			if a, ok := fresh[c.host]; ok && c.host != "" {
				c.addrs = a
				if touched[c.instance] == nil {
					c.heard = now
					touched[c.instance] = c
				}
			}
		}
	}
	var out []Announcement
	for _, c := range touched {
		if a, ok := b.d.announcement(c); ok {
			out = append(out, a)
		}
	}
	b.mu.Unlock()
	for _, a := range out {
		select {
		case b.found <- a:
		case <-ctx.Done():
			return
		}
	}
}

// evictOldest drops the least recently heard instance; b.mu is held.
func (b *browser) evictOldest() {
	var oldest *cached
	for _, c := range b.cache {
		if oldest == nil || c.heard.Before(oldest.heard) {
			oldest = c
		}
	}
	if oldest != nil {
		delete(b.cache, oldest.instance)
	}
}

// forget drops id's instance from the cache and asks again soon.
func (b *browser) forget(id string) {
	b.mu.Lock()
	delete(b.cache, strings.ToLower(id+"."+serviceName()))
	b.mu.Unlock()
	select {
	case b.requery <- struct{}{}:
	default:
	}
}

// browseQuery is a PTR question for the service, asking for unicast
// answers, with the known answers of §7.1: every instance whose PTR record
// was heard with more than half its TTL left.
func (b *browser) browseQuery(now time.Time) []byte {
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: serviceName(), Qtype: dns.TypePTR, Qclass: dns.ClassINET | 1<<15}}
	m.RecursionDesired = false
	m.Compress = true
	b.mu.Lock()
	for _, c := range b.cache {
		if len(m.Answer) == maxKnown || c.ptrAt.IsZero() {
			continue
		}
		left := int64(c.ptrTTL) - int64(now.Sub(c.ptrAt)/time.Second)
		if left <= int64(c.ptrTTL)/2 {
			continue
		}
		m.Answer = append(m.Answer, &dns.PTR{
			Hdr: dns.RR_Header{Name: serviceName(), Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: uint32(left)},
			Ptr: c.instance,
		})
	}
	b.lastQuery = now
	b.mu.Unlock()
	out, err := m.Pack()
	for err == nil && len(out) > maxDatagram && len(m.Answer) > 0 {
		m.Answer = m.Answer[:len(m.Answer)*3/4]
		out, err = m.Pack()
	}
	if err != nil {
		return nil
	}
	return out
}

// send multicasts a query out of every interface from the query socket.
func (b *browser) send(msg []byte) {
	for _, ifi := range b.d.ifaces {
		if err := b.s.query.writeTo(msg, ifi.Index, b.s.group); err != nil {
			b.d.log.Debug("mDNS query not sent", "iface", ifi.Name, "err", err)
		}
	}
}

// check asks the link about one peer (a multicast question for its
// instance, answered by multicast): a live peer's answer reaches every
// neighbour at once, and neighbours that hear the question and no answer
// look for themselves. At most one question per peer every checkEvery.
func (b *browser) check(id string) {
	if validID(id) != nil {
		return
	}
	now := time.Now()
	b.mu.Lock()
	if now.Sub(b.lastCheck[id]) < checkEvery {
		b.mu.Unlock()
		return
	}
	for k, at := range b.lastCheck {
		if now.Sub(at) >= checkEvery {
			delete(b.lastCheck, k)
		}
	}
	b.lastCheck[id] = now
	b.mu.Unlock()
	m := new(dns.Msg)
	m.Question = []dns.Question{{Name: id + "." + serviceName(), Qtype: dns.TypeTXT, Qclass: dns.ClassINET}}
	m.RecursionDesired = false
	if out, err := m.Pack(); err == nil {
		b.send(out)
	}
}

// jitter returns d scaled by a random factor in [1-f, 1+f].
func jitter(d time.Duration, f float64) time.Duration {
	return time.Duration(float64(d) * (1 - f + 2*f*rand.Float64()))
}

// loop sends browse queries on the schedule described at the top of this
// file until ctx ends, and an extra one about forgetRequery after a Forget.
func (b *browser) loop(ctx context.Context) {
	wait := 20*time.Millisecond + rand.N(100*time.Millisecond)
	next := time.Second
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.requery:
			t.Reset(jitter(forgetRequery, 0.5))
			continue
		case <-t.C:
		}
		if msg := b.browseQuery(time.Now()); msg != nil {
			b.send(msg)
			b.d.log.Debug("browse query sent", "bytes", len(msg))
		}
		t.Reset(jitter(next, 0.2))
		next = min(2*next, b.d.rebrowse)
	}
}

// announcement turns a cache entry into an Announcement if it is complete
// and valid: a TXT record ParseTXT accepts, an instance name that is its id,
// a port, an address, and not this peer.
func (d *Discovery) announcement(c *cached) (Announcement, bool) {
	if c.txt == nil || c.port == 0 || len(c.addrs) == 0 {
		return Announcement{}, false
	}
	a, err := ParseTXT(c.txt)
	if err != nil {
		d.log.Debug("ignoring entry", "instance", clip(c.instance), "err", err)
		return Announcement{}, false
	}
	if a.ID == d.self.ID {
		return Announcement{}, false
	}
	if c.instance != a.ID+"."+strings.ToLower(serviceName()) {
		d.log.Debug("ignoring entry: instance name is not its id", "instance", clip(c.instance), "id", a.ID)
		return Announcement{}, false
	}
	if c.port < 1 || c.port > 65535 {
		return Announcement{}, false
	}
	a.Port = c.port
	a.Addrs = append([]netip.Addr(nil), c.addrs...)
	return a, true
}
