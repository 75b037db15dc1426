package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"porch/peer/discovery"
	"porch/peer/identity"
	"porch/peer/wire"
	"porch/share"
)

// DefaultPort is the TCP port Porch listens on unless told otherwise. It is
// fixed so that a firewall rule can name it; when it is taken, Porch falls
// back to a free port and announces that one.
const DefaultPort = 46724

// Liveness timing: how often peers are probed, and how many probes in a row
// may fail before a peer is shown as gone.
const (
	probeEvery   = 2 * time.Second
	probeTimeout = 2 * time.Second
	probeFails   = 3
	goodbyeWait  = 1500 * time.Millisecond
)

// ErrNoPeer is returned when a peer reference matches no neighbour.
var ErrNoPeer = errors.New("no such neighbour")

// Options configures an Engine. Zero fields take defaults.
type Options struct {
	DataDir     string   // all state; required
	Name        string   // display name; default the host name
	Listen      string   // host:port; default ":46724", falling back to a free port
	Ifaces      []string // interfaces for mDNS; default every multicast-capable one
	StaticPeers []string // host:port of neighbours reached without mDNS
	DownloadDir string   // default DefaultDownloadDir()
	MaxUpload   int64    // bytes per second, 0 = unlimited
	Hidden      bool     // do not announce on the network
	ClientOnly  bool     // browse and fetch only: no server, no announcement, no library
	Logger      *slog.Logger
}

// PeerInfo is what the engine knows of one neighbour.
type PeerInfo struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Addrs       []string  `json:"addrs"` // IP addresses, without port
	Port        int       `json:"port"`
	Online      bool      `json:"online"` // verified over TLS and answering probes
	Files       int       `json:"files"`
	Bytes       int64     `json:"bytes"`
	LastSeen    time.Time `json:"last_seen"`
	KeyChanged  bool      `json:"key_changed,omitempty"` // presented a key other than the one remembered: refused
	Manual      bool      `json:"manual,omitempty"`      // added by address, not found by mDNS
}

// hostPorts returns the peer's addresses joined with its port.
func (p PeerInfo) hostPorts() []string {
	out := make([]string, 0, len(p.Addrs))
	for _, a := range p.Addrs {
		out = append(out, net.JoinHostPort(a, strconv.Itoa(p.Port)))
	}
	return out
}

// PeerRef names a peer in search results.
type PeerRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event.
const (
	PeerAdded EventKind = iota + 1
	PeerUpdated
	PeerRemoved
	SharesChanged   // this machine's shares or their hashing progress changed
	TransferUpdated // a transfer of Transfers() progressed or changed state
)

// Event is a change the engine reports to subscribers.
type Event struct {
	Kind     EventKind
	Peer     PeerInfo     // for the Peer kinds
	Transfer TransferInfo // for TransferUpdated
}

// peerState is the engine's record of one neighbour; Engine.mu guards it.
type peerState struct {
	info      PeerInfo
	fails     int  // consecutive failed probes
	verifying bool // a verification or probe is running
	client    *wire.Client
}

// Engine is one running Porch peer: it serves this machine's shares, announces
// itself, keeps the table of neighbours and fetches from them. mu guards the
// peer table, the subscribers and the mutable settings; everything else is set
// in New and read-only afterwards.
type Engine struct {
	opts  Options
	log   *slog.Logger
	id    *identity.Identity
	known *identity.Known
	lib   *share.Library // nil when ClientOnly
	srv   *wire.Server
	disc  *discovery.Discovery

	mu      sync.Mutex
	name    string
	port    int
	peers   map[string]*peerState // by peer id
	subs    map[int]func(Event)
	nextSub int
	ready   chan struct{} // closed once the listener is bound

	transfersOnce sync.Once
	transfers     *Transfers
}

// New loads (or creates) the identity and the share library and returns an
// engine ready to Run.
func New(opts Options) (*Engine, error) {
	if opts.DataDir == "" {
		return nil, errors.New("peer: no data dir")
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Name == "" {
		opts.Name, _ = os.Hostname()
		if opts.Name == "" {
			opts.Name = "porch"
		}
	}
	if opts.DownloadDir == "" {
		opts.DownloadDir = DefaultDownloadDir()
	}
	id, err := identity.Load(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	known, err := identity.OpenKnown(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("known peers: %w", err)
	}
	e := &Engine{
		opts:  opts,
		log:   opts.Logger,
		id:    id,
		known: known,
		name:  opts.Name,
		peers: map[string]*peerState{},
		subs:  map[int]func(Event){},
		ready: make(chan struct{}),
	}
	if !opts.ClientOnly {
		e.lib, err = share.OpenLibrary(share.LibraryOptions{
			DataDir:  opts.DataDir,
			OnChange: func() { e.emit(Event{Kind: SharesChanged}) },
			Logger:   opts.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("shares: %w", err)
		}
		e.srv, err = wire.NewServer(wire.ServerOptions{
			Identity:  id,
			Library:   wire.LibraryOf(e.lib),
			Self:      e.selfInfo,
			Hooks:     wire.Hooks{Hello: e.hello, Goodbye: e.goodbye},
			MaxUpload: opts.MaxUpload,
			Logger:    opts.Logger,
		})
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

// DefaultDownloadDir is $XDG_DOWNLOAD_DIR, or ~/Downloads.
func DefaultDownloadDir() string {
	if d := os.Getenv("XDG_DOWNLOAD_DIR"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, "Downloads")
	}
	return "Downloads"
}

// Library returns this machine's share library (nil for a client-only engine).
func (e *Engine) Library() *share.Library { return e.lib }

// ID returns this peer's id.
func (e *Engine) ID() string { return e.id.ID }

// DownloadDir returns the default download folder.
func (e *Engine) DownloadDir() string { return e.opts.DownloadDir }

// Name returns the display name.
func (e *Engine) Name() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.name
}

// selfInfo is what /v1/info says about this peer.
func (e *Engine) selfInfo() wire.Info {
	e.mu.Lock()
	info := wire.Info{V: wire.ProtocolVersion, ID: e.id.ID, Name: e.name, Fingerprint: e.id.Fingerprint, Port: e.port}
	e.mu.Unlock()
	if e.lib != nil {
		info.Files, info.Bytes = e.lib.Totals()
		info.HashedBytes, _ = e.lib.HashProgress()
	}
	return info
}

// Subscribe calls fn for every event until cancel is called. fn runs on an
// engine goroutine and must not block.
func (e *Engine) Subscribe(fn func(Event)) (cancel func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := e.nextSub
	e.nextSub++
	e.subs[k] = fn
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(e.subs, k)
	}
}

func (e *Engine) emit(ev Event) {
	e.mu.Lock()
	fns := make([]func(Event), 0, len(e.subs))
	for _, fn := range e.subs {
		fns = append(fns, fn)
	}
	e.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// Run serves, announces and discovers until ctx ends; on the way out it tells
// the neighbours goodbye. It returns nil after a clean shutdown.
func (e *Engine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	start := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	port := 0
	if !e.opts.ClientOnly {
		ln, err := e.listen()
		if err != nil {
			return err
		}
		port = ln.Addr().(*net.TCPAddr).Port
		e.mu.Lock()
		e.port = port
		e.mu.Unlock()
		e.log.Info("serving", "id", e.id.ID, "name", e.Name(), "addr", ln.Addr().String())
		start("library", func() error { return e.lib.Run(ctx) })
		start("server", func() error { return e.srv.Serve(ctx, ln) })
	}
	close(e.ready)
	disc, err := discovery.New(discovery.Options{
		Self: discovery.Announcement{
			ID: e.id.ID, Name: e.Name(), Fingerprint: e.id.Fingerprint, Port: port,
		},
		Ifaces:   e.opts.Ifaces,
		Announce: !e.opts.ClientOnly && !e.opts.Hidden,
		Logger:   e.log,
	})
	if err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("discovery: %w", err)
	}
	e.mu.Lock()
	e.disc = disc
	e.mu.Unlock()
	start("discovery", func() error { return disc.Run(ctx, e.found) })
	for _, addr := range e.opts.StaticPeers {
		start("peer "+addr, func() error { e.keepStatic(ctx, addr); return nil })
	}
	if !e.opts.ClientOnly {
		start("liveness", func() error { e.liveness(ctx); return nil })
	}
	<-ctx.Done()
	if !e.opts.ClientOnly {
		e.sayGoodbye()
	}
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// listen binds the configured address, or the default port, falling back to
// a free port when the default is taken.
func (e *Engine) listen() (net.Listener, error) {
	addr := e.opts.Listen
	if addr == "" {
		addr = ":" + strconv.Itoa(DefaultPort)
	}
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	host, _, _ := net.SplitHostPort(addr)
	ln, err2 := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	e.log.Warn("port taken, using a free one instead", "wanted", addr, "got", ln.Addr().String())
	return ln, nil
}

// found handles an mDNS announcement.
func (e *Engine) found(a discovery.Announcement) {
	if a.ID == e.id.ID {
		return
	}
	addrs := make([]string, 0, len(a.Addrs))
	for _, ip := range a.Addrs {
		addrs = append(addrs, ip.String())
	}
	e.mu.Lock()
	st, ok := e.peers[a.ID]
	if !ok {
		st = &peerState{info: PeerInfo{ID: a.ID}}
		e.peers[a.ID] = st
	}
	if st.info.Fingerprint != "" && st.info.Fingerprint != a.Fingerprint {
		// A different key under a known id: verify pins it against the
		// remembered one and refuses it if it changed.
		st.info.Online = false
	}
	st.info.Name, st.info.Fingerprint, st.info.Port = a.Name, a.Fingerprint, a.Port
	st.info.Addrs = mergeAddrs(addrs, st.info.Addrs)
	st.info.LastSeen = time.Now()
	verify := !st.info.Online && !st.verifying
	if verify {
		st.verifying = true
	}
	e.mu.Unlock()
	if verify {
		go e.verify(a.ID)
	}
}

// mergeAddrs puts fresh addresses first and keeps older ones after them.
func mergeAddrs(fresh, old []string) []string {
	out := slices.Clone(fresh)
	for _, a := range old {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// verify connects to a peer over pinned TLS and marks it online if it is who
// it announced.
func (e *Engine) verify(peerID string) {
	e.mu.Lock()
	st := e.peers[peerID]
	if st == nil {
		e.mu.Unlock()
		return
	}
	info := st.info
	e.mu.Unlock()
	c := wire.NewClient(e.id, e.known, wire.Remote{ID: info.ID, Name: info.Name, Fingerprint: info.Fingerprint, Addrs: info.hostPorts()})
	ctx, cancel := context.WithTimeout(context.Background(), 3*probeTimeout)
	defer cancel()
	ri, err := c.Info(ctx)
	e.mu.Lock()
	st = e.peers[peerID]
	if st == nil {
		e.mu.Unlock()
		return
	}
	st.verifying = false
	wasKeyChanged := st.info.KeyChanged
	switch {
	case errors.Is(err, identity.ErrKeyChanged):
		st.info.KeyChanged, st.info.Online = true, false
	case err != nil:
		e.mu.Unlock()
		e.log.Debug("peer not reachable yet", "id", peerID, "name", info.Name, "err", err)
		return
	case ri.ID != peerID:
		e.mu.Unlock()
		e.log.Warn("peer answered with another id", "announced", peerID, "answered", ri.ID)
		return
	default:
		st.info.KeyChanged, st.info.Online = false, true
		st.info.Name, st.info.Files, st.info.Bytes = ri.Name, ri.Files, ri.Bytes
		st.info.LastSeen, st.fails, st.client = time.Now(), 0, c
	}
	out := st.info
	e.mu.Unlock()
	if out.KeyChanged {
		if !wasKeyChanged {
			e.log.Warn("peer key changed: refused", "id", peerID, "name", out.Name, "err", err)
			e.emit(Event{Kind: PeerAdded, Peer: out})
		}
		return
	}
	e.log.Info("peer added", "id", peerID, "name", out.Name, "addrs", strings.Join(out.Addrs, ","), "port", out.Port)
	e.emit(Event{Kind: PeerAdded, Peer: out})
}

// liveness probes every online peer and drops the ones that stop answering.
func (e *Engine) liveness(ctx context.Context) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		e.mu.Lock()
		var due []*peerState
		for _, st := range e.peers {
			if st.info.Online && !st.verifying && st.client != nil {
				st.verifying = true
				due = append(due, st)
			}
		}
		e.mu.Unlock()
		for _, st := range due {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.probe(ctx, st)
			}()
		}
	}
}

// probe asks one peer for its info; after probeFails failures in a row the
// peer is removed.
func (e *Engine) probe(ctx context.Context, st *peerState) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	ri, err := st.client.Info(pctx)
	if ctx.Err() != nil {
		return
	}
	e.mu.Lock()
	st.verifying = false
	if e.peers[st.info.ID] != st {
		e.mu.Unlock()
		return
	}
	if err == nil {
		changed := ri.Name != st.info.Name || ri.Files != st.info.Files || ri.Bytes != st.info.Bytes
		st.info.Name, st.info.Files, st.info.Bytes = ri.Name, ri.Files, ri.Bytes
		st.info.LastSeen, st.fails = time.Now(), 0
		out := st.info
		e.mu.Unlock()
		if changed {
			e.emit(Event{Kind: PeerUpdated, Peer: out})
		}
		return
	}
	st.fails++
	if st.fails < probeFails {
		e.mu.Unlock()
		e.log.Debug("probe failed", "id", st.info.ID, "name", st.info.Name, "err", err)
		return
	}
	delete(e.peers, st.info.ID)
	out := st.info
	out.Online = false
	e.mu.Unlock()
	e.log.Info("peer removed", "id", out.ID, "name", out.Name, "reason", "not answering")
	e.emit(Event{Kind: PeerRemoved, Peer: out})
}

// goodbye handles a neighbour's goodbye, identified by its certificate.
func (e *Engine) goodbye(fp string, _ wire.Info) {
	e.mu.Lock()
	var out *PeerInfo
	for id, st := range e.peers {
		if st.info.Fingerprint == fp && st.info.Online {
			info := st.info
			info.Online = false
			out = &info
			delete(e.peers, id)
		}
	}
	e.mu.Unlock()
	if out != nil {
		e.log.Info("peer removed", "id", out.ID, "name", out.Name, "reason", "goodbye")
		e.emit(Event{Kind: PeerRemoved, Peer: *out})
	}
}

// hello handles a neighbour introducing itself (one that found us by
// address): it is verified by calling it back at the address it came from.
func (e *Engine) hello(fp string, remote netip.Addr, info wire.Info) {
	if info.ID == e.id.ID || info.Fingerprint != fp || info.Port <= 0 {
		return
	}
	e.found(discovery.Announcement{ID: info.ID, Name: info.Name, Fingerprint: fp, Port: info.Port, Addrs: []netip.Addr{remote.Unmap()}})
}

// sayGoodbye tells every online neighbour that this peer is leaving.
func (e *Engine) sayGoodbye() {
	e.mu.Lock()
	var clients []*wire.Client
	for _, st := range e.peers {
		if st.info.Online && st.client != nil {
			clients = append(clients, st.client)
		}
	}
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), goodbyeWait)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Goodbye(ctx); err != nil {
				e.log.Debug("goodbye not delivered", "err", err)
			}
		}()
	}
	wg.Wait()
}

// keepStatic keeps a manually configured neighbour in the table: it is
// connected to (and introduced to us) until ctx ends, retrying while it is
// unreachable.
func (e *Engine) keepStatic(ctx context.Context, addr string) {
	for {
		if _, err := e.AddPeer(ctx, addr); err != nil {
			e.log.Debug("neighbour by address not reachable", "addr", addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
	}
}

// AddPeer connects to a neighbour by address, for networks where mDNS does
// not reach. The neighbour's key is learnt on first contact and pinned.
func (e *Engine) AddPeer(ctx context.Context, addr string) (PeerInfo, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return PeerInfo{}, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return PeerInfo{}, fmt.Errorf("%q: bad port", addr)
	}
	if existing, ok := e.peerAt(host, port); ok {
		return existing, nil
	}
	c := wire.NewClient(e.id, e.known, wire.Remote{Addrs: []string{addr}})
	ctx, cancel := context.WithTimeout(ctx, 3*probeTimeout)
	defer cancel()
	ri, err := c.Info(ctx)
	if err != nil {
		return PeerInfo{}, fmt.Errorf("cannot reach %s: %w", addr, err)
	}
	if ri.ID == e.id.ID {
		return PeerInfo{}, fmt.Errorf("%s is this machine", addr)
	}
	info := PeerInfo{ID: ri.ID, Name: ri.Name, Fingerprint: ri.Fingerprint, Addrs: []string{host}, Port: port,
		Online: true, Files: ri.Files, Bytes: ri.Bytes, LastSeen: time.Now(), Manual: true}
	e.mu.Lock()
	st, existed := e.peers[ri.ID]
	if !existed {
		st = &peerState{}
		e.peers[ri.ID] = st
	}
	info.Addrs = mergeAddrs(info.Addrs, st.info.Addrs)
	wasOnline := st.info.Online
	st.info, st.client, st.fails = info, c, 0
	e.mu.Unlock()
	if !wasOnline {
		e.log.Info("peer added", "id", info.ID, "name", info.Name, "addrs", addr, "port", port)
		e.emit(Event{Kind: PeerAdded, Peer: info})
		if !e.opts.ClientOnly {
			go func() {
				hctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
				defer cancel()
				if err := c.Hello(hctx, e.selfInfo()); err != nil {
					e.log.Debug("hello not delivered", "addr", addr, "err", err)
				}
			}()
		}
	}
	return info, nil
}

// peerAt returns the online peer reached at host:port, if any.
func (e *Engine) peerAt(host string, port int) (PeerInfo, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, st := range e.peers {
		if st.info.Online && st.info.Port == port && slices.Contains(st.info.Addrs, host) {
			return st.info, true
		}
	}
	return PeerInfo{}, false
}

// Peers returns every neighbour in the table, online first, sorted by name
// then id.
func (e *Engine) Peers() []PeerInfo {
	e.mu.Lock()
	out := make([]PeerInfo, 0, len(e.peers))
	for _, st := range e.peers {
		if st.info.Online || st.info.KeyChanged {
			out = append(out, st.info)
		}
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerInfo) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Resolve finds an online peer by display name (case-insensitive), id prefix
// (at least 4 characters) or host:port.
func (e *Engine) Resolve(ref string) (PeerInfo, error) {
	if host, port, err := net.SplitHostPort(ref); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			if info, ok := e.peerAt(host, p); ok {
				return info, nil
			}
		}
		return PeerInfo{}, fmt.Errorf("%w at %s (is Porch running there?)", ErrNoPeer, ref)
	}
	var byName, byID []PeerInfo
	for _, p := range e.Peers() {
		if !p.Online {
			if p.KeyChanged && (strings.EqualFold(p.Name, ref) || strings.HasPrefix(p.ID, ref)) {
				return PeerInfo{}, fmt.Errorf("%s (%s) presents a different key than before: refused; if it was reinstalled, remove it from %s",
					p.Name, p.ID[:8], filepath.Join(e.opts.DataDir, "known_peers.json"))
			}
			continue
		}
		if strings.EqualFold(p.Name, ref) {
			byName = append(byName, p)
		}
		if len(ref) >= 4 && strings.HasPrefix(p.ID, strings.ToLower(ref)) {
			byID = append(byID, p)
		}
	}
	for _, set := range [][]PeerInfo{byName, byID} {
		switch len(set) {
		case 0:
			continue
		case 1:
			return set[0], nil
		default:
			var ids []string
			for _, p := range set {
				ids = append(ids, p.ID[:8])
			}
			return PeerInfo{}, fmt.Errorf("%d neighbours match %q: name one by id prefix (%s)", len(set), ref, strings.Join(ids, ", "))
		}
	}
	return PeerInfo{}, fmt.Errorf("%w called %q on the network (see 'porch peers')", ErrNoPeer, ref)
}

// client returns the connection to an online peer.
func (e *Engine) client(peerID string) (*wire.Client, PeerInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.peers[peerID]
	if st == nil || !st.info.Online || st.client == nil {
		return nil, PeerInfo{}, fmt.Errorf("%w with id %s", ErrNoPeer, peerID)
	}
	return st.client, st.info, nil
}

// onlinePeers returns the clients of every online peer.
func (e *Engine) onlinePeers() ([]*wire.Client, []PeerInfo) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var cs []*wire.Client
	var infos []PeerInfo
	for _, st := range e.peers {
		if st.info.Online && st.client != nil {
			cs = append(cs, st.client)
			infos = append(infos, st.info)
		}
	}
	return cs, infos
}

// List returns the entries of a folder on a neighbour ("" is the top).
func (e *Engine) List(ctx context.Context, peerID, path string) ([]share.Entry, error) {
	c, info, err := e.client(peerID)
	if err != nil {
		return nil, err
	}
	entries, err := c.List(ctx, path)
	if err != nil {
		return nil, friendly(info, err)
	}
	return entries, nil
}

// friendly words a transport error for the user.
func friendly(p PeerInfo, err error) error {
	var op *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s did not answer in time — is it still on the network? (%w)", p.Name, err)
	case errors.As(err, &op):
		return fmt.Errorf("cannot reach %s (%v) — is Porch still running there?", p.Name, op.Err)
	}
	return fmt.Errorf("%s: %w", p.Name, err)
}

// SearchResult is one file or folder found on neighbours; files with the same
// content id on several peers are one result.
type SearchResult struct {
	Entry share.Entry
	Peers []PeerRef
}

// Search asks every online neighbour at once; a neighbour that fails or is
// slow is left out.
func (e *Engine) Search(ctx context.Context, text string) ([]SearchResult, error) {
	clients, infos := e.onlinePeers()
	type answer struct {
		p       PeerInfo
		entries []share.Entry
	}
	answers := make(chan answer, len(clients))
	for i, c := range clients {
		go func() {
			sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			entries, err := c.Search(sctx, text)
			if err != nil {
				e.log.Debug("search failed", "peer", infos[i].Name, "err", err)
			}
			answers <- answer{infos[i], entries}
		}()
	}
	byKey := map[string]*SearchResult{}
	var order []string
	for range clients {
		a := <-answers
		for _, en := range a.entries {
			key := "cid:" + en.ContentID
			if en.Dir || en.ContentID == "" {
				key = "path:" + a.p.ID + "/" + en.Path
			}
			r, ok := byKey[key]
			if !ok {
				r = &SearchResult{Entry: en}
				byKey[key] = r
				order = append(order, key)
			}
			r.Peers = append(r.Peers, PeerRef{ID: a.p.ID, Name: a.p.Name})
		}
	}
	out := make([]SearchResult, 0, len(order))
	for _, k := range order {
		r := byKey[k]
		slices.SortFunc(r.Peers, func(a, b PeerRef) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, *r)
	}
	slices.SortStableFunc(out, func(a, b SearchResult) int {
		if len(a.Peers) != len(b.Peers) {
			return len(b.Peers) - len(a.Peers)
		}
		return strings.Compare(strings.ToLower(a.Entry.Name), strings.ToLower(b.Entry.Name))
	})
	return out, ctx.Err()
}

// SetName changes the display name and re-announces it.
func (e *Engine) SetName(name string) {
	e.mu.Lock()
	e.name = name
	d := e.disc
	e.mu.Unlock()
	if d != nil {
		d.SetName(name)
	}
}

// SetHidden stops (true) or resumes (false) announcing this peer.
func (e *Engine) SetHidden(hidden bool) {
	e.mu.Lock()
	e.opts.Hidden = hidden
	d := e.disc
	e.mu.Unlock()
	if d != nil && !e.opts.ClientOnly {
		d.SetAnnounce(!hidden)
	}
}

// SetMaxUpload changes the upload limit (bytes per second, 0 = unlimited).
func (e *Engine) SetMaxUpload(rate int64) {
	if e.srv != nil {
		e.srv.SetMaxUpload(rate)
	}
}
