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
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"porch/peer/discovery"
	"porch/peer/identity"
	"porch/peer/wire"
	"porch/share"
	"porch/share/db"
)

// DefaultPort is the TCP port Porch listens on unless told otherwise. It is
// fixed so that a firewall rule can name it; when it is taken, Porch falls
// back to a free port and announces that one.
const DefaultPort = 46724

// Lifecycle errors.
var (
	// ErrRunning is returned by Run when the engine is already running or
	// has run before: an Engine runs once.
	ErrRunning = errors.New("peer: engine already ran")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("peer: engine closed")
)

// Options configures an Engine. Zero fields take defaults. Name,
// DownloadDir, MaxUpload and Hidden, when set, win over the saved
// [Settings] for this run without replacing them.
type Options struct {
	DataDir     string   // all state; required
	Name        string   // display name; default the saved one, else the host name
	Listen      string   // host:port; default ":46724", falling back to a free port
	Ifaces      []string // interfaces for mDNS; default every multicast-capable one
	StaticPeers []string // host:port of neighbours reached without discovery
	DownloadDir string   // default the saved one, else DefaultDownloadDir()
	MaxUpload   int64    // bytes per second; default the saved limit (0 = unlimited)
	Hidden      bool     // do not announce on the network; default the saved choice
	ClientOnly  bool     // browse and fetch only: no server, no announcement, no library
	// Accept, when set, is the accept policy for offers for this run,
	// winning over the saved one.
	Accept AcceptPolicy
	// Prompt says a user can answer offers (the window): the policy
	// defaults to ask instead of none, and ask waits for the answer.
	Prompt bool
	// LocalSend speaks LocalSend too (see localsend.go), unless the
	// settings turn it off: a serving engine fully, a ClientOnly one (porch
	// peers, porch send) to list and reach devices. LocalSendPIN, when set,
	// is the PIN LocalSend senders must give for this run; LocalSendPort
	// replaces 53317 (tests).
	LocalSend     bool
	LocalSendPIN  string
	LocalSendPort int
	Logger        *slog.Logger

	// Discovery makes the Discoverer that announces self (visible at first
	// when announce is true) and reports neighbours; nil means mDNS
	// through package peer/discovery on Ifaces.
	Discovery func(self discovery.Announcement, announce bool) (Discoverer, error)

	// probes overrides the probe timing; tests shorten it.
	probes probeTiming
	// verifying, if set, is called by each verification while it holds its
	// slot (see maxVerifying); tests count them, and an error fails the
	// verification as if the neighbour had not answered.
	verifying func(id string) error
	// silent leaves without saying goodbye, as a machine that loses power
	// does; tests use it.
	silent bool
}

// probeTiming is the liveness budget (see liveness.go): every is the mean
// interval between two probes this peer sends (to the next neighbour of its
// shuffled round whose proof of life is older than every), timeout
// how long a probe may take, fails how many probes in a row may fail
// before a neighbour is removed, retry the pause before re-probing a
// neighbour that failed, grace how long a neighbour another peer asked
// about has to show a sign of life before this peer probes it too.
type probeTiming struct {
	every, timeout time.Duration
	fails          int
	retry, grace   time.Duration
}

// defaultProbes is the probe timing of a real engine: 30 probes a minute
// at most, whatever the number of neighbours. A neighbour that dies
// silently is first missed after about 2 s on average (by whichever peer
// probes it next), and shown gone everywhere about timeout+grace+timeout
// later.
var defaultProbes = probeTiming{every: 2 * time.Second, timeout: 1500 * time.Millisecond, fails: 2,
	retry: 250 * time.Millisecond, grace: time.Second}

const (
	goodbyeWait = 1500 * time.Millisecond // for all goodbyes together, on the way out
	staticRetry = 5 * time.Second         // between attempts to reach a StaticPeers address
	helloWait   = 5 * time.Second         // for the hello to a neighbour reached by address
	verifyWait  = 3 * time.Second         // at least, for the first exchange with a neighbour
	// maxVerifying is how many neighbours are verified at once. A peer that
	// joins a busy network hears dozens of announcements within a second;
	// verifying all at once would run dozens of TLS handshakes side by side
	// on every peer, and starve the goroutines that read mDNS until the
	// kernel drops datagrams at their full socket buffers.
	maxVerifying = 8
	// verifyBackoff is the longest wait before a neighbour whose
	// verifications keep failing is asked about again (see verifyAgain).
	verifyBackoff = time.Minute
)

// EventKind says what an Event reports.
type EventKind int

// The kinds of Event.
const (
	PeerAdded       EventKind = iota + 1 // Event.Peer was verified, or refused for a changed key
	PeerUpdated                          // Event.Peer's name or share counts changed
	PeerRemoved                          // Event.Peer left or stopped answering
	SharesChanged                        // this machine's shares or their hashing progress changed
	TransferUpdated                      // Event.Transfer progressed or changed state
	SettingsChanged                      // Settings() changed (and with it, perhaps, the display name)
	PairRequested                        // Event.Peer asks this machine's user to compare the pairing code
	OfferUpdated                         // Event.Offer arrived, was decided, progressed or ended
	MessageReceived                      // Event.Message is a text message a LocalSend device sent
	DevicesChanged                       // LocalSendDevices() changed
)

// Event is a change the engine reports to subscribers.
type Event struct {
	Kind     EventKind
	Peer     PeerInfo     // for the Peer kinds
	Transfer TransferInfo // for TransferUpdated
	Offer    Offer        // for OfferUpdated
	Message  Message      // for MessageReceived
}

// lifeState is where an engine is in its life: created by New, running in
// Run, stopped after Run or Close.
type lifeState int

const (
	created lifeState = iota
	running
	stopped
)

// Engine is one Porch peer: it serves this machine's shares, announces
// itself, keeps the table of neighbours and fetches from them.
//
// New creates everything the engine uses; Run runs it until its context
// ends and releases everything before returning; Close releases an engine
// that never ran (or stops a running one and waits for Run). No goroutine the
// engine starts outlives Run or Close.
//
// Every method is safe for concurrent use. The fields above lifeMu are set
// in New and read-only afterwards; lifeMu guards state and every wg.Add; mu
// guards the settings, the subscribers and hellos; the table, the transfer list and
// the library guard themselves.
type Engine struct {
	opts    Options
	log     *slog.Logger
	id      *identity.Identity
	db      *db.DB // DATA/porch.db: known peers, settings, transfers, hash cache
	pairs   pairLimit
	trusted trustedKeys // the keys of trusted neighbours, for what they may see
	known   *identity.Known
	lib     *share.Library // nil when ClientOnly
	srv     *wire.Server   // nil when ClientOnly
	ln      net.Listener   // nil when ClientOnly; Run hands it to srv
	port    int            // the port ln listens on; 0 when ClientOnly
	disc    Discoverer
	peers   *table
	xfers   *transfers
	offers  *offerBook  // offers received
	recv    recvCancels // Porch offers being decided or received
	grants  grants      // offers being sent
	ls      *lsPart     // LocalSend (localsend.go)
	conf    settingsStore
	probe   probeTiming
	stats   struct{ probesSent, infoServed atomic.Uint64 } // logged at debug level by liveness
	// suspicion wakes liveness when a neighbour is asked about, indexMoved
	// when the library may have a new version to announce.
	suspicion, indexMoved chan struct{}
	// verifying bounds the verifications running at once (see verify).
	verifying chan struct{}
	life      context.Context // ends when the engine stops
	stop      context.CancelFunc
	runDone   chan struct{} // closed when Run returns
	released  sync.Once

	lifeMu sync.Mutex
	state  lifeState
	ran    bool
	wg     sync.WaitGroup // goroutines started by spawn

	setMu    sync.Mutex // serialises SetSettings, so saves land in order
	mu       sync.Mutex
	settings Settings
	subs     map[int]func(Event)
	nextSub  int
	hellos   map[string]bool // peers that said hello and are not verified yet (see introduced)
}

// New loads (or creates) the identity, opens the database of opts.DataDir
// (DATA/porch.db: known peers, settings, transfers and hash cache; other
// processes may have it open too), loads the settings, the share library and
// the transfer list, binds the listener and prepares discovery. Nothing runs
// until Run; Close releases an engine that will not run.
func New(opts Options) (_ *Engine, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("peer: no data folder given")
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		opts:       opts,
		log:        opts.Logger,
		probe:      defaultProbes,
		suspicion:  make(chan struct{}, 1),
		verifying:  make(chan struct{}, maxVerifying),
		indexMoved: make(chan struct{}, 1),
		runDone:    make(chan struct{}),
		subs:       map[int]func(Event){},
		offers:     newOfferBook(),
	}
	if opts.probes.every > 0 {
		e.probe = opts.probes
	}
	e.life, e.stop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			e.stop()
			e.release()
		}
	}()
	if e.id, err = identity.Load(opts.DataDir); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if e.db, err = db.Open(opts.DataDir); err != nil {
		return nil, err
	}
	e.conf = settingsStore{e.db}
	e.known = identity.NewKnown(e.db.KnownPeers())
	e.peers = newTable(e.id.ID)
	e.settings = e.initialSettings()
	e.xfers = loadTransfers(e)
	if err = e.initLocalSend(); err != nil {
		return nil, fmt.Errorf("LocalSend: %w", err)
	}
	self := discovery.Announcement{ID: e.id.ID, Name: e.settings.Name, Fingerprint: e.id.Fingerprint}
	if !opts.ClientOnly {
		e.lib, err = share.OpenLibrary(share.LibraryOptions{
			DataDir: opts.DataDir,
			DB:      e.db,
			OnChange: func() {
				select {
				case e.indexMoved <- struct{}{}:
				default:
				}
				e.emit(Event{Kind: SharesChanged})
			},
			Logger: opts.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("shares: %w", err)
		}
		e.srv, err = wire.NewServer(wire.ServerOptions{
			Identity: e.id,
			Library:  wire.LibraryOf(e.lib),
			ViewFor:  e.viewFor,
			Self:     e.selfInfo,
			Hooks: wire.Hooks{Hello: e.hello, Goodbye: e.goodbye, Seen: e.seenRequest, Pair: e.pair,
				Offer: e.offerIn, OfferStatus: e.offerStatusIn, OfferCancel: e.offerCancelIn, Offered: e.offered},
			MaxUpload: e.settings.MaxUpload,
			Logger:    opts.Logger,
		})
		if err != nil {
			return nil, err
		}
		if e.ln, err = e.listen(); err != nil {
			return nil, err
		}
		addr := e.ln.Addr().(*net.TCPAddr)
		e.port, self.Port = addr.Port, addr.Port
		if ip, ok := netip.AddrFromSlice(addr.IP); ok && !ip.IsUnspecified() {
			self.Addrs = []netip.Addr{ip.Unmap()}
		}
	}
	newDisc := opts.Discovery
	if newDisc == nil {
		newDisc = e.mdns
	}
	if e.disc, err = newDisc(self, !opts.ClientOnly && e.settings.Visible); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
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

// ID returns this peer's id.
func (e *Engine) ID() string { return e.id.ID }

// Name returns the display name.
func (e *Engine) Name() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.settings.Name
}

// Addr returns the address the engine listens on ("" when ClientOnly).
func (e *Engine) Addr() string {
	if e.ln == nil {
		return ""
	}
	return e.ln.Addr().String()
}

// selfInfo is what /v1/info and hello say about this peer. Its totals are
// those every neighbour may see (the server counts for each caller what it
// may see instead).
func (e *Engine) selfInfo() wire.Info {
	info := wire.Info{V: wire.ProtocolVersion, ID: e.id.ID, Name: e.Name(), Fingerprint: e.id.Fingerprint, Port: e.port}
	if e.lib != nil {
		open := e.lib.For(share.Viewer{})
		info.Files, info.Bytes = open.Totals()
		info.HashedBytes, _ = open.HashProgress()
		info.Index = e.lib.Version()
	}
	return info
}

// Subscribe calls fn for every event until cancel is called. fn runs on an
// engine goroutine, possibly on several at once, and must not block.
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
	if len(fns) == 0 {
		return
	}
	if ev.Peer.ID != "" {
		ev.Peer.Trusted = e.IsTrusted(ev.Peer.ID, ev.Peer.Fingerprint)
	}
	for _, fn := range fns {
		fn(ev)
	}
}

// spawn runs f on a goroutine bound to the engine's life: f's context ends
// when the engine stops, and Run and Close wait for f to return. Once the
// engine has stopped, spawn runs nothing and returns false.
func (e *Engine) spawn(f func(ctx context.Context)) bool {
	e.lifeMu.Lock()
	defer e.lifeMu.Unlock()
	if e.state == stopped {
		return false
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f(e.life)
	}()
	return true
}

// Run serves, announces and discovers until ctx ends or Close is called; on
// the way out it pauses running transfers, tells the neighbours goodbye,
// waits for every goroutine the engine started and releases the listener,
// the library, the connections and the database. It returns nil after a clean shutdown,
// or the error that stopped a part of the engine. An engine runs once.
func (e *Engine) Run(ctx context.Context) error {
	e.lifeMu.Lock()
	switch {
	case e.ran:
		e.lifeMu.Unlock()
		return ErrRunning
	case e.state == stopped:
		e.lifeMu.Unlock()
		return ErrClosed
	}
	e.state, e.ran = running, true
	e.lifeMu.Unlock()
	defer close(e.runDone)
	defer context.AfterFunc(ctx, e.stop)()

	life := e.life
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	start := func(name string, f func() error) {
		wg.Go(func() {
			if err := f(); err != nil && life.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				e.stop()
			}
		})
	}
	if !e.opts.ClientOnly {
		e.log.Info("serving", "id", e.id.ID, "name", e.Name(), "addr", e.ln.Addr().String(), "accept", e.AcceptPolicy())
		if e.AcceptPolicy() == AcceptAsk && !e.opts.Prompt {
			e.log.Warn("offers are declined: the accept policy is ask, and there is no window to ask in (use trusted or all)")
		}
		start("library", func() error { return e.lib.Run(life) })
		start("server", func() error { return e.srv.Serve(life, e.ln) })
	}
	if e.lib != nil {
		e.disc.SetIndex(e.lib.Version())
	}
	start("discovery", func() error { return e.disc.Run(life, e.found, e.asked) })
	for _, addr := range e.opts.StaticPeers {
		start("peer "+addr, func() error { e.keepStatic(life, addr); return nil })
	}
	if !e.opts.ClientOnly {
		start("remembered neighbours", func() error { e.keepRemembered(life); return nil })
	}
	if !e.opts.ClientOnly {
		start("liveness", func() error { e.liveness(life); return nil })
	}
	if e.opts.LocalSend {
		start("LocalSend", func() error { e.runLocalSend(life); return nil })
	}
	<-life.Done()
	e.lifeMu.Lock()
	e.state = stopped
	e.lifeMu.Unlock()
	e.xfers.close()
	if !e.opts.ClientOnly && !e.opts.silent {
		e.sayGoodbye()
	}
	wg.Wait()
	e.wg.Wait()
	e.release()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// Close stops the engine and waits until everything it started has ended.
// For an engine that never ran it releases the listener, the library and
// the database;
// for a running one it ends Run as a cancelled context would and waits for
// Run to return. Close is idempotent; it returns nil.
func (e *Engine) Close() error {
	e.lifeMu.Lock()
	ran := e.ran
	e.state = stopped
	e.lifeMu.Unlock()
	e.stop()
	if ran {
		<-e.runDone
		return nil
	}
	e.xfers.close()
	e.wg.Wait()
	e.release()
	return nil
}

// release closes what New opened; it runs once, after every goroutine has
// ended. The server closes the listener when it served; release closes it
// when it did not.
func (e *Engine) release() {
	e.released.Do(func() {
		if e.ln != nil {
			e.ln.Close()
		}
		if e.lib != nil {
			if err := e.lib.Close(); err != nil {
				e.log.Warn("closing shares", "err", err)
			}
		}
		if e.peers != nil {
			e.peers.clear()
		}
		if e.db != nil {
			if err := e.db.Close(); err != nil {
				e.log.Warn("closing the database", "err", err)
			}
		}
	})
}
