package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"porch/peer/discovery"
	"porch/peer/identity"
	"porch/peer/wire"
)

// found handles an announcement from discovery or a hello: the peer is
// entered in the table and verified unless it is online already.
func (e *Engine) found(a discovery.Announcement) {
	if e.peers.seen(a, time.Now()) {
		if !e.spawn(func(ctx context.Context) { e.verify(ctx, a.ID) }) {
			e.peers.verifyFailed(a.ID)
		}
	}
}

// verify connects to a peer over pinned TLS and marks it online if it is who
// it announced, or refused if it presents another key than the one
// remembered for its id.
func (e *Engine) verify(ctx context.Context, peerID string) {
	info, ok := e.peers.get(peerID)
	if !ok {
		return
	}
	c := wire.NewClient(e.id, e.known, wire.Remote{ID: info.ID, Name: info.Name, Fingerprint: info.Fingerprint, Addrs: info.hostPorts()})
	ctx, cancel := context.WithTimeout(ctx, 3*e.probe.timeout)
	defer cancel()
	ri, err := c.Info(ctx)
	switch {
	case errors.Is(err, identity.ErrKeyChanged):
		c.Close()
		out, first := e.peers.keyChanged(peerID)
		if first {
			e.log.Warn("peer key changed: refused", "id", peerID, "name", out.Name, "err", err)
			e.emit(Event{Kind: PeerAdded, Peer: out})
		}
	case err != nil:
		c.Close()
		e.peers.verifyFailed(peerID)
		e.log.Debug("peer not reachable yet", "id", peerID, "name", info.Name, "err", err)
	case ri.ID != peerID:
		c.Close()
		e.peers.verifyFailed(peerID)
		e.log.Warn("peer answered with another id", "announced", peerID, "answered", ri.ID)
	default:
		out, ok := e.peers.verified(peerID, ri, c, time.Now())
		if !ok {
			c.Close()
			return
		}
		e.log.Info("peer added", "id", peerID, "name", out.Name, "addrs", strings.Join(out.Addrs, ","), "port", out.Port)
		e.emit(Event{Kind: PeerAdded, Peer: out})
	}
}

// liveness probes every online peer each probe interval and removes the
// ones that stop answering; it returns when ctx ends, after the probes in
// flight.
func (e *Engine) liveness(ctx context.Context) {
	t := time.NewTicker(e.probe.every)
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, p := range e.peers.due() {
			wg.Go(func() { e.probeOne(ctx, p) })
		}
	}
}

// probeOne asks one peer for its info and records the answer.
func (e *Engine) probeOne(ctx context.Context, p probeTarget) {
	pctx, cancel := context.WithTimeout(ctx, e.probe.timeout)
	defer cancel()
	ri, err := p.client.Info(pctx)
	if ctx.Err() != nil {
		return
	}
	out, changed, removed := e.peers.probed(p, ri, err, e.probe.fails, time.Now())
	switch {
	case removed:
		e.log.Info("peer removed", "id", out.ID, "name", out.Name, "reason", "not answering")
		e.emit(Event{Kind: PeerRemoved, Peer: out})
	case err != nil:
		e.log.Debug("probe failed", "id", p.id, "name", out.Name, "err", err)
	case changed:
		e.emit(Event{Kind: PeerUpdated, Peer: out})
	}
}

// goodbye handles a neighbour's goodbye, identified by its certificate.
func (e *Engine) goodbye(fp string, _ wire.Info) {
	for _, out := range e.peers.goodbye(fp) {
		e.log.Info("peer removed", "id", out.ID, "name", out.Name, "reason", "goodbye")
		e.emit(Event{Kind: PeerRemoved, Peer: out})
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

// sayGoodbye tells every online neighbour that this peer is leaving, waiting
// at most goodbyeWait for all of them.
func (e *Engine) sayGoodbye() {
	clients, _ := e.peers.online()
	ctx, cancel := context.WithTimeout(context.Background(), goodbyeWait)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			if err := c.Goodbye(ctx); err != nil {
				e.log.Debug("goodbye not delivered", "err", err)
			}
		})
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
		case <-time.After(staticRetry):
		}
	}
}

// AddPeer connects to a neighbour by address, for networks where discovery
// does not reach. The neighbour's key is learnt on first contact and pinned,
// and it is told about this peer so that it can call back.
func (e *Engine) AddPeer(ctx context.Context, addr string) (PeerInfo, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return PeerInfo{}, fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return PeerInfo{}, fmt.Errorf("%q has no valid port: give host:port, with a port from 1 to 65535", addr)
	}
	if existing, ok := e.peers.at(host, port); ok {
		return existing, nil
	}
	c := wire.NewClient(e.id, e.known, wire.Remote{Addrs: []string{addr}})
	ctx, cancel := context.WithTimeout(ctx, 3*e.probe.timeout)
	defer cancel()
	ri, err := c.Info(ctx)
	if err != nil {
		c.Close()
		return PeerInfo{}, fmt.Errorf("cannot reach %s: %w", addr, err)
	}
	if ri.ID == e.id.ID {
		c.Close()
		return PeerInfo{}, fmt.Errorf("%s is this machine", addr)
	}
	info, wasOnline := e.peers.addManual(PeerInfo{ID: ri.ID, Name: ri.Name, Fingerprint: ri.Fingerprint, Addrs: []string{host}, Port: port,
		Online: true, Files: ri.Files, Bytes: ri.Bytes, Index: ri.Index, LastSeen: time.Now(), Manual: true}, c)
	if wasOnline {
		return info, nil
	}
	e.log.Info("peer added", "id", info.ID, "name", info.Name, "addrs", addr, "port", port)
	e.emit(Event{Kind: PeerAdded, Peer: info})
	if !e.opts.ClientOnly {
		e.spawn(func(ctx context.Context) {
			hctx, cancel := context.WithTimeout(ctx, e.probe.timeout)
			defer cancel()
			if err := c.Hello(hctx, e.selfInfo()); err != nil {
				e.log.Debug("hello not delivered", "addr", addr, "err", err)
			}
		})
	}
	return info, nil
}
