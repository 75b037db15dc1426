// Package discovery finds other Porch peers on the local network and tells
// them about this one, with DNS-SD over multicast DNS: service _porch._tcp in
// the local. domain, through github.com/grandcat/zeroconf.
//
// Each peer registers one service instance named after its peer id (a UUID,
// so instance names never collide and no conflict resolution is needed), on a
// host name of its own, "porch-<first 8 characters of the id>.local.", so
// that several copies on one machine, or in several network namespaces of
// one machine, never answer for each other's addresses. The TXT record
// carries v=1, id=, name= (the display name), fp= (the SHA-256 fingerprint
// of the peer's TLS certificate, in hex) and iv= (the version of its index).
// Everything received from the network is parsed strictly (see ParseTXT)
// before it is reported.
//
// zeroconf registers and answers; browsing is this package's own (see
// browse.go), because zeroconf's resolver floods a busy link and never
// reports a changed TXT record.
//
// What discovery does not do: it keeps no peer table and knows nothing about
// liveness. It does not report departures (goodbyes reach the engine over
// HTTPS), so every report means only "seen just now"; expiry, goodbyes and
// probes belong to the engine in package peer, which may ask the link about
// a peer it suspects (Check). It does not check fingerprints either: the
// transport does, when it connects.
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
	// rebrowseInterval is the longest interval between two browse queries
	// (jittered by ±20%); see browse.go.
	rebrowseInterval = browseCap

	// indexEvery is the least time between two re-registrations for a new
	// index version alone, so that hashing a big share, which moves the
	// version again and again, costs the link at most one announcement
	// every few seconds. A new name or address re-registers at once.
	indexEvery = 5 * time.Second

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

// Announcement is what a peer publishes: ID, Name, Fingerprint and Index
// travel in the TXT record (v=1, id=, name=, fp=, iv=), Port in the SRV
// record and Addrs in the A and AAAA records of its host name.
type Announcement struct {
	ID          string       // peer id: a UUID in canonical lower-case form
	Name        string       // display name: at most MaxNameLen bytes of UTF-8, no control characters
	Fingerprint string       // TLS certificate fingerprint: 64 lower-case hex digits
	Index       uint64       // version of the peer's index; 0 when it announces none (older peers)
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
// Run owns the zeroconf server and the browsing sockets; SetAnnounce,
// SetName, SetIndex, Check and Forget may be called from any goroutine, at
// any time (also before Run or from inside the callbacks) and never block:
// they record the wish under a mutex and wake the goroutine concerned (Check
// and Forget do nothing unless Run is running).
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
	index    uint64
	running  bool
	br       *browser // while Run runs
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

// setWaking sets *field, one of d's mu-guarded settings, to v and wakes the
// announcer if that changed it.
func setWaking[T comparable](d *Discovery, field *T, v T) {
	d.mu.Lock()
	changed := *field != v
	*field = v
	d.mu.Unlock()
	if changed {
		d.wake()
	}
}

// SetAnnounce starts (true) or stops (false) announcing this peer. Stopping
// sends a goodbye, which zeroconf peers ignore: they go on listing this peer
// until their own expiry. Safe for concurrent use; does not block.
func (d *Discovery) SetAnnounce(on bool) {
	setWaking(d, &d.announce, on)
}

// SetName changes the display name and, while announcing, re-registers so
// neighbours see the new name within about a second. The name is cleaned
// first: invalid UTF-8 and control characters are dropped, surrounding space
// trimmed, and the rest cut to MaxNameLen bytes. Safe for concurrent use;
// does not block.
func (d *Discovery) SetName(name string) {
	name = cleanName(name)
	setWaking(d, &d.name, name)
}

// SetIndex changes the announced index version. Neighbours hear it within
// about a second, or indexEvery after the previous change if that was
// sooner; several changes in between are announced as the last one. Safe
// for concurrent use; does not block.
func (d *Discovery) SetIndex(v uint64) {
	setWaking(d, &d.index, v)
}

// Check asks the link whether the peer id is still there, with a multicast
// question for its instance: a live peer answers everyone at once, and
// neighbours that hear the question (reported to Run's asked callback) can
// look for themselves when no answer comes. At most one question per peer
// every few seconds; does nothing unless Run is running. Safe for concurrent
// use; sends one datagram per interface and does not wait for an answer.
func (d *Discovery) Check(id string) {
	if b := d.browser(); b != nil {
		b.check(id)
	}
}

// Forget drops what was heard of peer id, so that it is no longer listed as
// a known answer and is reported again when it next answers; a browse query
// follows within about a second. The engine calls it when it has dropped
// the peer. Safe for concurrent use; does not block.
func (d *Discovery) Forget(id string) {
	if b := d.browser(); b != nil {
		b.forget(id)
	}
}

func (d *Discovery) browser() *browser {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.br
}

func (d *Discovery) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Run announces (when asked to) and browses until ctx ends, calling found for
// every valid announcement of another peer it hears, and asked (if not nil)
// with the id of every Porch peer another host asks the link about (see
// Check). Both are called from Run's goroutines, found from one at a time,
// with the latest announcement of that peer; a peer is reported whenever a
// datagram about it arrives (an answer to a browse query, or an unsolicited
// announcement when it starts or changes its name or index), so a call means
// "seen now". Known peers do not answer the periodic queries (known-answer
// suppression), so their reports are rare once known. The Announcement (and
// its Addrs) is the callee's to keep. found and asked must return quickly
// and must not call Run; they may call the setters, Check and Forget. A nil
// found is allowed.
//
// When ctx ends Run sends a goodbye (if announcing), shuts zeroconf down,
// closes its sockets, waits for every goroutine it started and returns nil.
// Because zeroconf's announcement goroutine cannot be interrupted, Run may
// wait up to about 3.6 s after the most recent registration; zeroconf's
// socket readers end as soon as their sockets close, moments after Run
// returns. Run fails at once with ErrRunning if already running, or when it
// cannot open an mDNS socket.
func (d *Discovery) Run(ctx context.Context, found func(Announcement), asked func(id string)) error {
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return ErrRunning
	}
	d.running = true
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.running, d.br = false, nil
		d.mu.Unlock()
	}()
	if found == nil {
		found = func(Announcement) {}
	}

	socks, err := openSockets(d.ifaces)
	if err != nil {
		return fmt.Errorf("discovery: cannot open mDNS sockets on %s: %w",
			strings.Join(ifaceNames(d.ifaces), ", "), err)
	}
	family := "IPv4"
	if socks.six {
		family = "IPv6"
	}
	d.log.Debug("discovery starting", "ifaces", ifaceNames(d.ifaces), "host", d.host, "id", d.self.ID, "browse", family)

	entries := make(chan Announcement)
	b := &browser{d: d, s: socks, found: entries, asked: asked,
		cache: map[string]*cached{}, lastCheck: map[string]time.Time{}, requery: make(chan struct{}, 1)}
	d.mu.Lock()
	d.br = b
	d.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { d.announceLoop(ctx) })
	wg.Go(func() { b.read(ctx, socks.listen) })
	wg.Go(func() { b.read(ctx, socks.query) })
	wg.Go(func() { b.loop(ctx) })
	for {
		select {
		case a := <-entries:
			d.log.Debug("seen", "id", a.ID, "name", a.Name, "port", a.Port, "addrs", a.Addrs, "iv", a.Index)
			found(a)
		case <-ctx.Done():
			socks.close()
			wg.Wait()
			d.log.Debug("discovery stopped")
			return nil
		}
	}
}

// regState is what the announcer has registered, or wants to.
type regState struct {
	on    bool
	name  string
	index uint64
	addrs string // localAddrs joined, to notice address changes
}

func (d *Discovery) wanted() regState {
	d.mu.Lock()
	on, name, index := d.announce, d.name, d.index
	d.mu.Unlock()
	if !on || d.self.Port == 0 {
		return regState{}
	}
	return regState{on: true, name: name, index: index, addrs: joinAddrs(localAddrs(d.ifaces))}
}

// announceLoop owns the zeroconf server. It registers, re-registers on a new
// name, index version or addresses, and unregisters, keeping every server up
// at least minUp and re-registering for a new index version alone at most
// every indexEvery; when ctx ends it unregisters and waits out zeroconf's
// announcement goroutine.
//
// A new TXT record is announced by registering again rather than with
// zeroconf's Server.SetText: SetText writes the record while the server's
// receiving goroutines read it to answer queries, unsynchronised (a data
// race, and a torn slice could be read past its end).
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
	indexTimer := time.NewTimer(time.Hour)
	indexTimer.Stop()
	defer indexTimer.Stop()
	for {
		want := d.wanted()
		onlyIndex := cur.on && want.on && want.name == cur.name && want.addrs == cur.addrs && want.index != cur.index
		if wait := indexEvery - time.Since(regAt); onlyIndex && wait > 0 {
			indexTimer.Reset(wait)
		} else if want != cur {
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
		case <-indexTimer.C:
		}
	}
}

func (d *Discovery) register(want regState) (*zeroconf.Server, error) {
	if want.addrs == "" {
		return nil, fmt.Errorf("no address to announce on %s", strings.Join(ifaceNames(d.ifaces), ", "))
	}
	a := d.self
	a.Name, a.Index = want.name, want.index
	srv, err := zeroconf.RegisterProxy(a.ID, ServiceType, Domain, a.Port, d.host,
		strings.Split(want.addrs, " "), buildTXT(a), d.ifaces)
	if err != nil {
		return nil, err
	}
	d.log.Debug("registered", "instance", a.ID, "host", d.host, "name", a.Name, "port", a.Port, "addrs", want.addrs, "iv", want.index)
	return srv, nil
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
