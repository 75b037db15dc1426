package peer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// Liveness, and why it costs each peer the same whatever the number of its
// neighbours.
//
// Every neighbour is verified over pinned TLS when first announced, then
// kept or dropped by proofs of life. Any recent exchange proves a neighbour
// alive: a response to any request of ours (wire.Client.LastResponse), a
// request it made to us (identified by its client certificate, the Seen
// hook), an announcement of it heard by discovery. Probes fill the gaps on a
// budget: one probe every probeTiming.every on average (jittered by ±50%, so
// that peers started together do not probe in step), to the next neighbour
// without a proof of life fresher than every, in a round shuffled afresh by
// each peer (table.nextProbe), and none when every proof is fresh. With 50
// peers each neighbour is thus probed by a given peer about every 100 s, but
// by some peer every 2 s or so, whichever neighbour it is.
//
// A probe that fails is repeated quickly (retry, then every retry) until
// fails failures in a row drop the neighbour; the first failure also asks
// the network about it (Discoverer.Check). A live neighbour answers that
// question to every peer at once, which is a proof of life for all of them;
// the peers that hear the question and, after grace, no answer probe the
// neighbour themselves, and drop it at their first failure (suspected). So
// the first peer to notice a silent departure tells the others, and every
// peer shows it gone a few seconds later, without anyone probing everyone.
// An announcement can be forged by anyone on the link, so it only postpones
// probes: a neighbour kept "alive" that way is dropped as soon as a request
// to it fails, and only TLS verification ever adds one. A goodbye removes a
// neighbour at once.

// found handles an announcement from discovery or a hello: the peer is
// entered in the table and verified unless it is online already; an online
// peer announcing a new index version or name has its info fetched again.
func (e *Engine) found(a discovery.Announcement) {
	verify, refresh := e.peers.seen(a, time.Now())
	switch {
	case verify:
		if !e.spawn(func(ctx context.Context) { e.verify(ctx, a.ID) }) {
			e.peers.verifyFailed(a.ID)
		}
	case refresh != nil:
		p := *refresh
		e.spawn(func(ctx context.Context) { e.probeOne(ctx, p) }) // not spawned: the engine is stopping
	}
}

// asked handles another peer's question about neighbour id (it missed a
// probe of it): the suspicion is noted, and the liveness loop probes id
// after grace unless a proof of life comes first.
func (e *Engine) asked(id string) {
	if e.peers.asked(id, time.Now()) {
		select {
		case e.suspicion <- struct{}{}:
		default:
		}
	}
}

// seenRequest is the server's Seen hook: a request from a neighbour proves
// it alive; /v1/info requests are counted.
func (e *Engine) seenRequest(fp, path string) {
	if path == "/v1/info" {
		e.stats.infoServed.Add(1)
	}
	e.peers.aliveFP(fp, time.Now())
}

// jitter returns d scaled by a random factor in [0.5, 1.5).
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}

// verify connects to a peer over pinned TLS and marks it online if it is who
// it announced, or refused if it presents another key than the one
// remembered for its id.
func (e *Engine) verify(ctx context.Context, peerID string) {
	select {
	case e.verifying <- struct{}{}:
		defer func() { <-e.verifying }()
	case <-ctx.Done():
		e.peers.verifyFailed(peerID)
		return
	}
	if e.opts.verifying != nil {
		e.opts.verifying()
	}
	info, ok := e.peers.get(peerID)
	if !ok {
		return
	}
	c := wire.NewClient(e.id, e.known, wire.Remote{ID: info.ID, Name: info.Name, Fingerprint: info.Fingerprint, Addrs: info.hostPorts()})
	ctx, cancel := context.WithTimeout(ctx, max(3*e.probe.timeout, verifyWait))
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
		e.rememberVerified(out)
		e.emit(Event{Kind: PeerAdded, Peer: out})
	}
}

// liveness spends the probe budget (see the top of this file), probes the
// suspects, announces this peer's index version and logs its counters at
// debug level every statsEvery; it returns when ctx ends, after the probes
// in flight.
func (e *Engine) liveness(ctx context.Context) {
	budget := time.NewTimer(jitter(e.probe.every))
	defer budget.Stop()
	// Suspects are looked at a few times per grace, and at once when asked.
	sus := time.NewTicker(max(e.probe.grace/4, time.Millisecond))
	defer sus.Stop()
	stats := time.NewTicker(statsEvery)
	defer stats.Stop()
	// The library's change notices are throttled: look again a moment
	// after one, for a version that moved after it.
	index := time.NewTimer(time.Hour)
	index.Stop()
	defer index.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-stats.C:
			e.log.Debug("liveness counters", "probes_sent", e.stats.probesSent.Load(), "info_served", e.stats.infoServed.Load())
			continue
		case <-e.indexMoved:
			e.disc.SetIndex(e.lib.Version())
			index.Reset(time.Second)
			continue
		case <-index.C:
			e.disc.SetIndex(e.lib.Version())
			continue
		case <-e.suspicion:
		case <-sus.C:
		case <-budget.C:
			budget.Reset(jitter(e.probe.every))
			if e.lib != nil {
				e.disc.SetIndex(e.lib.Version())
			}
			if p, ok := e.peers.nextProbe(time.Now(), e.probe.every); ok {
				wg.Go(func() { e.probeOne(ctx, p) })
			}
		}
		for _, p := range e.peers.suspects(time.Now(), e.probe.grace) {
			wg.Go(func() { e.probeOne(ctx, p) })
		}
	}
}

// statsEvery is how often liveness logs its counters (at debug level).
const statsEvery = 10 * time.Second

// probeOne asks one peer for its info and records the answer; after a
// failure that does not remove the peer it asks the network about it
// (first failure only) and probes again after retry.
func (e *Engine) probeOne(ctx context.Context, p probeTarget) {
	for n := 0; ; n++ {
		pctx, cancel := context.WithTimeout(ctx, e.probe.timeout)
		e.stats.probesSent.Add(1)
		ri, err := p.client.Info(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		out, changed, removed := e.peers.probed(p, ri, err, e.probe.fails, time.Now())
		switch {
		case removed:
			reason := "not answering"
			if p.suspected {
				reason = "not answering, asked about by a neighbour"
			}
			e.log.Info("peer removed", "id", out.ID, "name", out.Name, "reason", reason)
			e.disc.Forget(out.ID)
			e.emit(Event{Kind: PeerRemoved, Peer: out})
			return
		case err == nil:
			if changed {
				e.emit(Event{Kind: PeerUpdated, Peer: out})
			}
			return
		case out.ID == "":
			return // the peer left the table meanwhile
		}
		e.log.Debug("probe failed", "id", p.id, "name", out.Name, "err", err)
		if n == 0 {
			e.disc.Check(p.id)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.probe.retry):
		}
	}
}

// goodbye handles a neighbour's goodbye, identified by its certificate.
func (e *Engine) goodbye(fp string, _ wire.Info) {
	for _, out := range e.peers.goodbye(fp) {
		e.log.Info("peer removed", "id", out.ID, "name", out.Name, "reason", "goodbye")
		e.disc.Forget(out.ID)
		e.emit(Event{Kind: PeerRemoved, Peer: out})
	}
}

// hello handles a neighbour introducing itself (one that found us by
// address): it is verified by calling it back at the address it came from.
func (e *Engine) hello(fp string, remote netip.Addr, info wire.Info) {
	if info.ID == e.id.ID || info.Fingerprint != fp || info.Port <= 0 {
		return
	}
	// The hello is signed by the neighbour's own key: if it calls from an
	// address or port other than the one it is known at, it moved (a new
	// address, a restart on another port), and it is verified again there.
	e.peers.moved(info.ID, fp, remote.Unmap().String(), info.Port)
	e.introduced(info.ID)
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
		if !e.opts.ClientOnly {
			e.remember(existing.ID, addr, false) // it may have called first
		}
		return existing, nil
	}
	c := wire.NewClient(e.id, e.known, wire.Remote{Addrs: []string{addr}})
	ctx, cancel := context.WithTimeout(ctx, max(3*e.probe.timeout, verifyWait))
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
	if !e.opts.ClientOnly {
		e.remember(info.ID, addr, false) // reached again after a restart
	}
	e.log.Info("peer added", "id", info.ID, "name", info.Name, "addrs", addr, "port", port)
	e.emit(Event{Kind: PeerAdded, Peer: info})
	if !e.opts.ClientOnly {
		e.spawn(func(ctx context.Context) {
			hctx, cancel := context.WithTimeout(ctx, helloWait)
			defer cancel()
			if err := c.Hello(hctx, e.selfInfo()); err != nil {
				e.log.Debug("hello not delivered", "addr", addr, "err", err)
			}
		})
	}
	return info, nil
}
