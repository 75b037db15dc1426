package localsend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"
)

// Device table bounds and liveness timing.
const (
	MaxDevices   = 256              // devices kept
	maxAnswering = 8                // announcements answered at once; more are dropped
	probeEvery   = 30 * time.Second // a device not heard from for this long is asked for its info
	probeFails   = 2                // failed probes in a row before a device is dropped
)

// NodeOptions configures a Node. Cert, Self and Listeners are required;
// Ifaces empty means no multicast (register and info still answer).
type NodeOptions struct {
	Cert      *Cert
	Ifaces    []net.Interface
	UDPPort   int            // default Port
	Listeners []net.Listener // TCP, all on the port Self announces
	Server    ServerOptions  // Cert and Seen are set by the node
	// Changed is called (on a node goroutine) when the device list changed.
	Changed func()
	// Ignore, when set, says which devices to neither answer nor list
	// (a Porch leaves out other Porches: they meet over Porch's own
	// protocol, and answering them all would cost a TLS handshake per
	// pair of peers for nothing).
	Ignore func(Info) bool
	Logger *slog.Logger
}

// Node is this machine on LocalSend's network: its server on Listeners,
// discovery on Ifaces, and the table of devices heard from, each verified
// over HTTPS before it is listed. mu guards the table. Safe for concurrent
// use.
type Node struct {
	opts   NodeOptions
	log    *slog.Logger
	srv    *Server
	client *Client
	mc     *Multicast
	sem    chan struct{}

	life context.Context // set by Run before anything starts
	wg   sync.WaitGroup  // every goroutine Run started, directly or not

	mu      sync.Mutex
	devices map[string]*entry // by uppercase fingerprint
}

type entry struct {
	Device
	seen  time.Time
	fails int
}

// NewNode makes the server and joins the multicast group; nothing runs
// until Run. On error, nothing is left open but opts.Listeners, which the
// caller closes.
func NewNode(opts NodeOptions) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.UDPPort == 0 {
		opts.UDPPort = Port
	}
	n := &Node{opts: opts, log: opts.Logger, sem: make(chan struct{}, maxAnswering), devices: map[string]*entry{}}
	so := opts.Server
	so.Cert, so.Logger = opts.Cert, opts.Logger
	so.Seen = n.seen
	srv, err := NewServer(so)
	if err != nil {
		return nil, err
	}
	n.srv = srv
	n.client = NewClient(opts.Cert, so.Self, srv)
	if len(opts.Ifaces) > 0 {
		if n.mc, err = ListenMulticast(opts.Ifaces, opts.UDPPort); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Client returns the client that speaks for this node.
func (n *Node) Client() *Client { return n.client }

// Self is this node's Info.
func (n *Node) Self() Info { return n.srv.Self() }

// Announce announces this node again (after a change of name).
func (n *Node) Announce() {
	if n.mc != nil {
		n.mc.Announce()
	}
}

// Run serves, announces, listens and probes until ctx ends, then closes
// the listeners and the socket and returns once every goroutine it
// started has ended.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.life = ctx
	wg := &n.wg
	errc := make(chan error, len(n.opts.Listeners)+1)
	for _, ln := range n.opts.Listeners {
		wg.Go(func() {
			if err := n.srv.Serve(ctx, ln); err != nil && ctx.Err() == nil {
				errc <- err
				cancel()
			}
		})
	}
	if n.mc != nil {
		wg.Go(func() {
			err := n.mc.Run(ctx, n.srv.Self, func(h Heard) { n.heard(ctx, h) })
			if err != nil && ctx.Err() == nil {
				errc <- err
				cancel()
			}
		})
	}
	wg.Go(func() { n.probe(ctx) })
	<-ctx.Done()
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// Close releases what NewNode opened, for a node that will not run.
func (n *Node) Close() {
	if n.mc != nil {
		n.mc.Close()
	}
}

// heard handles one datagram: an announcement is answered by register
// (falling back to a UDP answer, as LocalSend 1.17 does, when that
// fails); any device heard is verified over HTTPS before it is listed.
func (n *Node) heard(ctx context.Context, h Heard) {
	self := n.srv.Self()
	if strings.EqualFold(h.Info.Fingerprint, self.Fingerprint) || n.opts.Ignore != nil && n.opts.Ignore(h.Info) {
		return
	}
	select {
	case n.sem <- struct{}{}:
	default:
		return // busy answering: a flood of announcements is dropped
	}
	n.wg.Go(func() {
		defer func() { <-n.sem }()
		ap := netip.AddrPortFrom(h.From, uint16(h.Info.Port))
		if h.Info.IsAnnounce() {
			d, err := n.client.Register(ctx, ap, h.Info.Protocol, h.Info.Fingerprint)
			if err == nil {
				n.add(d)
				return
			}
			n.log.Debug("localsend: register answer failed; answering by UDP", "to", ap, "err", err)
			f := false
			self.Announce, self.Announcement = &f, &f
			n.mc.Send(self)
		}
		if n.known(h.Info.Fingerprint, h.From) {
			return
		}
		d := Device{Info: h.Info, Addr: h.From}
		d.Announce, d.Announcement = nil, nil
		d, err := n.client.Probe(ctx, d)
		if err != nil {
			n.log.Debug("localsend: device heard but not reachable", "addr", ap, "err", err)
			return
		}
		n.add(d)
	})
}

// seen is the server's report of a register from a device.
func (n *Node) seen(d Device) {
	if d.Verified || d.Protocol == "http" {
		n.add(d)
		return
	}
	// No client certificate (LocalSend 1.17 and older, many CLIs): its
	// fingerprint is proven when this machine reaches its server.
	select {
	case n.sem <- struct{}{}:
	default:
		return
	}
	// Called from a handler, so Run's goroutines are still counted.
	n.wg.Go(func() {
		defer func() { <-n.sem }()
		if v, err := n.client.Probe(n.life, d); err == nil {
			n.add(v)
		}
	})
}

// known reports whether the device is listed at that address.
func (n *Node) known(fp string, at netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.devices[strings.ToUpper(fp)]
	return ok && e.Addr == at
}

// add lists or refreshes a verified device.
func (n *Node) add(d Device) {
	if n.opts.Ignore != nil && n.opts.Ignore(d.Info) {
		return
	}
	d.Fingerprint = strings.ToUpper(d.Fingerprint)
	d.Announce, d.Announcement = nil, nil
	n.mu.Lock()
	old, ok := n.devices[d.Fingerprint]
	if !ok && len(n.devices) >= MaxDevices {
		n.mu.Unlock()
		return
	}
	changed := !ok || old.Device != d
	n.devices[d.Fingerprint] = &entry{Device: d, seen: time.Now()}
	n.mu.Unlock()
	if changed {
		n.log.Info("localsend: device seen", "name", d.Alias, "type", d.DeviceType, "model", d.DeviceModel, "addr", d.Addr, "version", d.Version)
		if n.opts.Changed != nil {
			n.opts.Changed()
		}
	}
}

// probe asks each device not heard from for probeEvery for its info, and
// drops it after probeFails failures in a row.
func (n *Node) probe(ctx context.Context) {
	t := time.NewTicker(probeEvery / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.mu.Lock()
		var due []Device
		for _, e := range n.devices {
			if time.Since(e.seen) >= probeEvery {
				due = append(due, e.Device)
			}
		}
		n.mu.Unlock()
		for _, d := range due {
			nd, err := n.client.Probe(ctx, d)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				n.add(nd)
				continue
			}
			n.mu.Lock()
			e, ok := n.devices[d.Fingerprint]
			gone := false
			if ok {
				if e.fails++; e.fails >= probeFails {
					delete(n.devices, d.Fingerprint)
					gone = true
				}
			}
			n.mu.Unlock()
			if gone {
				n.log.Info("localsend: device gone", "name", d.Alias, "addr", d.Addr)
				if n.opts.Changed != nil {
					n.opts.Changed()
				}
			}
		}
	}
}

// Devices returns the devices listed, by name then fingerprint.
func (n *Node) Devices() []Device {
	n.mu.Lock()
	out := make([]Device, 0, len(n.devices))
	for _, e := range n.devices {
		out = append(out, e.Device)
	}
	n.mu.Unlock()
	SortDevices(out)
	return out
}

// SortDevices sorts devices by name (case-insensitive), then fingerprint.
func SortDevices(ds []Device) {
	sort.Slice(ds, func(i, j int) bool {
		a, b := strings.ToLower(ds[i].Alias), strings.ToLower(ds[j].Alias)
		if a != b {
			return a < b
		}
		return ds[i].Fingerprint < ds[j].Fingerprint
	})
}

// Errors of Resolve.
var (
	ErrNoDevice  = errors.New("no such LocalSend device")
	ErrAmbiguous = errors.New("several LocalSend devices match")
)

// Resolve finds a device among ds by alias (case-insensitive), fingerprint
// prefix (at least 4 hex digits) or address.
func Resolve(ds []Device, ref string) (Device, error) {
	var hits []Device
	for _, d := range ds {
		if strings.EqualFold(d.Alias, ref) || len(ref) >= 4 && strings.HasPrefix(d.Fingerprint, strings.ToUpper(ref)) ||
			d.Addr.String() == ref || d.AddrPort().String() == ref {
			hits = append(hits, d)
		}
	}
	switch len(hits) {
	case 0:
		return Device{}, fmt.Errorf("%w named %q", ErrNoDevice, ref)
	case 1:
		return hits[0], nil
	}
	return Device{}, fmt.Errorf("%w %q; give a fingerprint prefix instead", ErrAmbiguous, ref)
}
