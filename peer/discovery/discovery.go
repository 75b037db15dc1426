// Package discovery finds other Porch peers on the local network and tells
// them about this one, with DNS-SD over multicast DNS: service _porch._tcp in
// the local. domain, through github.com/grandcat/zeroconf.
//
// Each peer registers one service instance named after its peer id (a UUID,
// so instance names never collide and no conflict resolution is needed), on a
// host name of its own, "porch-<first 8 characters of the id>.local.", so
// that several copies on one machine, or in several network namespaces of
// one machine, never answer for each other's addresses. The TXT record
// carries v=1, id=, name= (the display name) and fp= (the SHA-256 fingerprint
// of the peer's TLS certificate, in hex). Everything received from the
// network is parsed strictly (see ParseTXT) before it is reported.
//
// What discovery does not do: it keeps no peer table and knows nothing about
// liveness. zeroconf does not report departures (it drops the TTL=0 goodbyes
// peers send), so every report means only "seen just now"; expiry, goodbyes
// and probes belong to the engine in package peer. It does not check
// fingerprints either: the transport does, when it connects.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/grandcat/zeroconf"
)

// ServiceType and Domain name the DNS-SD service Porch peers announce.
const (
	ServiceType = "_porch._tcp"
	Domain      = "local."
)

const (
	// rebrowseInterval is how often a fresh browse starts: zeroconf backs
	// its queries off to once a minute, and a fresh browse both queries at
	// once and reports every peer that answers again.
	rebrowseInterval = 15 * time.Second

	// addrCheckInterval is how often the announcer looks for changed
	// interface addresses (and retries a failed registration).
	addrCheckInterval = 30 * time.Second

	// minUp is the least time between registering a zeroconf server and
	// shutting it down: zeroconf v1.0.0 races (WaitGroup.Add against Wait)
	// when Shutdown follows Register within a few milliseconds.
	minUp = 250 * time.Millisecond

	// announceLinger bounds how long zeroconf's announcement goroutine,
	// which cannot be stopped, runs after a registration: two probes up to
	// 250 ms apart, then announcements followed by sleeps of 1 s and 2 s.
	announceLinger = 3600 * time.Millisecond

	// maxAddrs bounds the addresses taken from one remote entry.
	maxAddrs = 16
)

// ErrRunning is returned by Run when the Discovery is already running.
var ErrRunning = errors.New("discovery: already running")

// Announcement is what a peer publishes: ID, Name and Fingerprint travel in
// the TXT record (v=1, id=, name=, fp=), Port in the SRV record and Addrs in
// the A and AAAA records of its host name.
type Announcement struct {
	ID          string       // peer id: a UUID in canonical lower-case form
	Name        string       // display name: at most MaxNameLen bytes of UTF-8, no control characters
	Fingerprint string       // TLS certificate fingerprint: 64 lower-case hex digits
	Port        int          // TCP port of the peer's HTTPS server, 1..65535
	Addrs       []netip.Addr // the peer's addresses; IPv6 link-local ones carry a zone when it is known
}

// Options configure New. Zero fields take the defaults described.
type Options struct {
	// Self is what to announce. ID, Fingerprint and Port must be valid;
	// Name is cleaned like SetName does; Addrs is ignored (the addresses
	// come from the interfaces).
	Self Announcement
	// Ifaces names the interfaces to use; empty means what Interfaces(nil)
	// returns.
	Ifaces []string
	// Announce makes the peer visible; false browses only (a hidden peer
	// or a CLI command). SetAnnounce changes it while running.
	Announce bool
	// Logger receives debug-level events; nil discards them.
	Logger *slog.Logger
}

// Discovery announces this peer and browses for others. Create it with New
// and start it with Run.
//
// Run owns the zeroconf server and resolvers; SetAnnounce and SetName may be
// called from any goroutine, at any time (also before Run or from inside the
// found callback) and never block: they record the wish under a mutex and
// wake the goroutine that registers.
type Discovery struct {
	log    *slog.Logger
	ifaces []net.Interface
	self   Announcement // ID, Fingerprint and Port; fixed after New
	host   string       // mDNS host name, "porch-<id8>"

	// Timing, fixed after New; tests shorten rebrowse.
	rebrowse  time.Duration
	addrCheck time.Duration

	kick chan struct{} // capacity 1: "the wish changed"

	mu       sync.Mutex // guards the fields below
	announce bool
	name     string
	running  bool
}

// New checks opts and resolves the interfaces to use. It does not touch the
// network; Run does.
func New(opts Options) (*Discovery, error) {
	self := opts.Self
	if err := validID(self.ID); err != nil {
		return nil, err
	}
	fp, err := normalFingerprint(self.Fingerprint)
	if err != nil {
		return nil, err
	}
	// A browse-only peer (port 0) has nothing to announce.
	if self.Port != 0 || opts.Announce {
		if self.Port < 1 || self.Port > 65535 {
			return nil, fmt.Errorf("%w: %d", ErrPort, self.Port)
		}
	}
	ifaces, err := Interfaces(opts.Ifaces)
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Discovery{
		log:       logger.With("component", "discovery"),
		ifaces:    ifaces,
		self:      Announcement{ID: self.ID, Fingerprint: fp, Port: self.Port},
		host:      hostName(self.ID),
		rebrowse:  rebrowseInterval,
		addrCheck: addrCheckInterval,
		kick:      make(chan struct{}, 1),
		announce:  opts.Announce,
		name:      cleanName(self.Name),
	}, nil
}

// hostName is the mDNS host name a peer registers: its own, not the
// machine's, because every copy on a machine (and every network namespace)
// shares os.Hostname and would otherwise answer for the others' addresses.
func hostName(id string) string {
	return "porch-" + id[:8]
}

// SetAnnounce starts (true) or stops (false) announcing this peer. Stopping
// sends a goodbye, which zeroconf peers ignore: they go on listing this peer
// until their own expiry. Safe for concurrent use; does not block.
func (d *Discovery) SetAnnounce(on bool) {
	d.mu.Lock()
	changed := d.announce != on
	d.announce = on
	d.mu.Unlock()
	if changed {
		d.wake()
	}
}

// SetName changes the display name and, while announcing, re-registers so
// neighbours see the new name within about a second. The name is cleaned
// first: invalid UTF-8 and control characters are dropped, surrounding space
// trimmed, and the rest cut to MaxNameLen bytes. Safe for concurrent use;
// does not block.
func (d *Discovery) SetName(name string) {
	name = cleanName(name)
	d.mu.Lock()
	changed := d.name != name
	d.name = name
	d.mu.Unlock()
	if changed {
		d.wake()
	}
}

func (d *Discovery) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run announces (when asked to) and browses until ctx ends, calling found for
// every valid announcement of another peer it sees. found is called from one
// goroutine at a time, with the latest announcement of that peer; a peer is
// reported again on every periodic re-browse (about every 15 s) and whenever
// it re-announces, so a call means "seen now". The Announcement (and its
// Addrs) is the callee's to keep. found must return quickly and
// must not call Run; it may call SetName and SetAnnounce. A nil found is
// allowed.
//
// When ctx ends Run sends a goodbye (if announcing), shuts zeroconf down,
// waits for every goroutine it started and returns nil. Because zeroconf's
// announcement goroutine cannot be interrupted, Run may wait up to about 3.6 s
// after the most recent registration; zeroconf's socket readers end as soon
// as their sockets close, moments after Run returns. Run fails at once with
// ErrRunning if already running, or when it cannot open an mDNS socket.
func (d *Discovery) Run(ctx context.Context, found func(Announcement)) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return ErrRunning
	}
	d.running = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running = false
		d.mu.Unlock()
	}()
	if found == nil {
		found = func(Announcement) {}
	}

	ipType, res, err := d.firstResolver()
	if err != nil {
		return err
	}
	d.log.Debug("discovery starting", "ifaces", ifaceNames(d.ifaces), "host", d.host, "id", d.self.ID)

	var wg sync.WaitGroup
	entries := make(chan *zeroconf.ServiceEntry)
	wg.Go(func() { d.announceLoop(ctx) })
	wg.Go(func() { d.browseLoop(ctx, ipType, res, entries, &wg) })
	for {
		select {
		case e := <-entries:
			if a, ok := d.accept(e); ok {
				found(a)
			}
		case <-ctx.Done():
			wg.Wait()
			d.log.Debug("discovery stopped")
			return nil
		}
	}
}

// firstResolver opens the first browsing sockets, preferring IPv4 and IPv6
// together and falling back to one family where the other cannot join the
// mDNS group (for example IPv6 disabled).
func (d *Discovery) firstResolver() (zeroconf.IPType, *zeroconf.Resolver, error) {
	var errs []error
	for _, t := range []zeroconf.IPType{zeroconf.IPv4AndIPv6, zeroconf.IPv4, zeroconf.IPv6} {
		res, err := d.newResolver(t)
		if err == nil {
			return t, res, nil
		}
		errs = append(errs, err)
	}
	return 0, nil, fmt.Errorf("discovery: cannot open mDNS sockets on %s: %w",
		strings.Join(ifaceNames(d.ifaces), ", "), errors.Join(errs...))
}

func (d *Discovery) newResolver(t zeroconf.IPType) (*zeroconf.Resolver, error) {
	return zeroconf.NewResolver(zeroconf.SelectIfaces(d.ifaces), zeroconf.SelectIPTraffic(t))
}

// browseLoop starts a fresh browse every d.rebrowse and ends the previous one
// only once the next one listens, so there is no gap. Each browse's entries
// are forwarded to out until ctx ends; after that they are drained and
// dropped, because zeroconf blocks on its channel until it has closed it.
func (d *Discovery) browseLoop(ctx context.Context, t zeroconf.IPType, res *zeroconf.Resolver, out chan<- *zeroconf.ServiceEntry, wg *sync.WaitGroup) {
	var prev context.CancelFunc
	defer func() {
		if prev != nil {
			prev()
		}
	}()
	timer := time.NewTimer(d.rebrowse)
	defer timer.Stop()
	for {
		if res == nil {
			var err error
			if res, err = d.newResolver(t); err != nil {
				d.log.Debug("browse: cannot open mDNS sockets", "err", err)
			}
		}
		if res != nil {
			rctx, cancel := context.WithCancel(ctx)
			in := make(chan *zeroconf.ServiceEntry)
			// zeroconf closes in once rctx ends, also when Browse fails.
			wg.Go(func() {
				for e := range in {
					select {
					case out <- e:
					case <-ctx.Done():
					}
				}
			})
			if err := res.Browse(rctx, ServiceType, Domain, in); err != nil {
				d.log.Debug("browse failed", "err", err)
				cancel()
			} else {
				d.log.Debug("browse started")
				if prev != nil {
					prev()
				}
				prev = cancel
			}
			res = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			timer.Reset(d.rebrowse)
		}
	}
}

// regState is what the announcer has registered, or wants to.
type regState struct {
	on    bool
	name  string
	addrs string // localAddrs joined, to notice address changes
}

func (d *Discovery) wanted() regState {
	d.mu.Lock()
	on, name := d.announce, d.name
	d.mu.Unlock()
	if !on || d.self.Port == 0 {
		return regState{}
	}
	return regState{on: true, name: name, addrs: joinAddrs(localAddrs(d.ifaces))}
}

// announceLoop owns the zeroconf server. It registers, re-registers on a new
// name or new addresses, and unregisters, keeping every server up at least
// minUp; when ctx ends it unregisters and waits out zeroconf's announcement
// goroutine.
func (d *Discovery) announceLoop(ctx context.Context) {
	var (
		srv     *zeroconf.Server
		regAt   time.Time
		lastReg time.Time
		cur     regState
	)
	stop := func() {
		if srv == nil {
			return
		}
		if wait := minUp - time.Since(regAt); wait > 0 {
			time.Sleep(wait)
		}
		srv.Shutdown()
		srv = nil
		d.log.Debug("unregistered")
	}
	check := time.NewTicker(d.addrCheck)
	defer check.Stop()
	for {
		if want := d.wanted(); want != cur {
			stop()
			cur = regState{}
			if want.on {
				s, err := d.register(want)
				if err != nil {
					d.log.Debug("register failed; will retry", "err", err)
				} else {
					srv, regAt, lastReg, cur = s, time.Now(), time.Now(), want
				}
			}
		}
		select {
		case <-ctx.Done():
			stop()
			if !lastReg.IsZero() {
				if wait := announceLinger - time.Since(lastReg); wait > 0 {
					time.Sleep(wait)
				}
			}
			return
		case <-d.kick:
		case <-check.C:
		}
	}
}

func (d *Discovery) register(want regState) (*zeroconf.Server, error) {
	if want.addrs == "" {
		return nil, fmt.Errorf("no address to announce on %s", strings.Join(ifaceNames(d.ifaces), ", "))
	}
	a := d.self
	a.Name = want.name
	srv, err := zeroconf.RegisterProxy(a.ID, ServiceType, Domain, a.Port, d.host,
		strings.Split(want.addrs, " "), buildTXT(a), d.ifaces)
	if err != nil {
		return nil, err
	}
	d.log.Debug("registered", "instance", a.ID, "host", d.host, "name", a.Name, "port", a.Port, "addrs", want.addrs)
	return srv, nil
}

// accept turns a zeroconf entry into an Announcement, or rejects it: wrong
// TXT, a port of 0, an instance name that is not the announced id, no usable
// address, or this peer itself.
func (d *Discovery) accept(e *zeroconf.ServiceEntry) (Announcement, bool) {
	a, err := ParseTXT(e.Text)
	if err != nil {
		d.log.Debug("ignoring entry", "instance", clip(e.Instance), "err", err)
		return Announcement{}, false
	}
	if a.ID == d.self.ID {
		return Announcement{}, false
	}
	if e.Instance != a.ID {
		d.log.Debug("ignoring entry: instance name is not its id", "instance", clip(e.Instance), "id", a.ID)
		return Announcement{}, false
	}
	if e.Port < 1 || e.Port > 65535 {
		d.log.Debug("ignoring entry: bad port", "id", a.ID, "port", e.Port)
		return Announcement{}, false
	}
	a.Port = e.Port
	zone := ""
	if len(d.ifaces) == 1 {
		zone = d.ifaces[0].Name
	}
	for _, ip := range append(append([]net.IP(nil), e.AddrIPv4...), e.AddrIPv6...) {
		if len(a.Addrs) == maxAddrs {
			break
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
		a.Addrs = appendUnique(a.Addrs, addr)
	}
	if len(a.Addrs) == 0 {
		d.log.Debug("ignoring entry: no usable address", "id", a.ID)
		return Announcement{}, false
	}
	d.log.Debug("seen", "id", a.ID, "name", a.Name, "port", a.Port, "addrs", a.Addrs)
	return a, true
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

func ifaceNames(ifaces []net.Interface) []string {
	names := make([]string, len(ifaces))
	for i, ifi := range ifaces {
		names[i] = ifi.Name
	}
	return names
}
