package peer

import (
	"math/rand/v2"
	"time"

	"porch/peer/wire"
)

// probeTarget is one online peer due for a liveness probe.
type probeTarget struct {
	id     string
	client *wire.Client
	// suspected: probed because another peer asked about it and no proof
	// of life followed; one failure then removes it.
	suspected bool
}

// nextProbe picks the next online, idle peer in this table's probe round
// whose last proof of life is at least minAge ago, and marks it busy; it must
// be answered with probed. One call is one probe: the engine calls it on its
// probe budget's timer, so the probes a peer sends do not grow with the
// number of its neighbours.
//
// A round visits every neighbour once, in an order shuffled afresh for each
// round (SWIM's randomised round-robin). Each neighbour is thus probed by
// this peer at least once a round, and the rounds of different peers are
// independent: picking the oldest proof of life instead makes every peer
// probe in the same order (the neighbours verified last at start-up are
// the freshest everywhere), so a neighbour that vanished could wait a whole
// round before anyone probed it. With independent rounds some peer reaches
// it within a tick or two.
func (t *table) nextProbe(now time.Time, minAge time.Duration) (probeTarget, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for reshuffled := false; ; {
		for t.cursor < len(t.round) {
			id := t.round[t.cursor]
			t.cursor++
			st := t.peers[id]
			if st == nil || !st.info.Online || st.busy || st.client == nil || now.Sub(st.lastAlive()) < minAge {
				continue
			}
			st.busy = true
			return probeTarget{id: id, client: st.client}, true
		}
		if reshuffled {
			return probeTarget{}, false
		}
		t.round = t.round[:0]
		for id := range t.peers {
			t.round = append(t.round, id)
		}
		rand.Shuffle(len(t.round), func(i, j int) { t.round[i], t.round[j] = t.round[j], t.round[i] })
		t.cursor, reshuffled = 0, true
	}
}

// asked records that someone asked the network about peer id at now (a
// neighbour of ours missed a probe of it). It reports whether id is an
// online peer of ours.
func (t *table) asked(id string, now time.Time) bool {
	st := t.lockPeer(id)
	defer t.mu.Unlock()
	if st == nil || !st.info.Online {
		return false
	}
	if st.suspect.IsZero() {
		st.suspect = now
	}
	return true
}

// suspects returns the online, idle peers asked about at least grace ago
// with no proof of life since, marked busy for probing (suspected). A
// suspect that showed a sign of life is cleared.
func (t *table) suspects(now time.Time, grace time.Duration) []probeTarget {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []probeTarget
	for id, st := range t.peers {
		if st.suspect.IsZero() || !st.info.Online || st.busy || st.client == nil {
			continue
		}
		if st.lastAlive().After(st.suspect) {
			st.suspect = time.Time{}
			continue
		}
		if now.Sub(st.suspect) < grace {
			continue
		}
		st.suspect, st.busy = time.Time{}, true
		out = append(out, probeTarget{id: id, client: st.client, suspected: true})
	}
	return out
}

// aliveFP records a proof of life of the online peers presenting
// fingerprint fp (a request they made to us).
func (t *table) aliveFP(fp string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, st := range t.peers {
		if st.info.Online && st.info.Fingerprint == fp {
			st.alive = now
		}
	}
}

// probed records a probe's answer (err nil) or failure. After maxFails
// failures in a row (one for a suspected peer) the peer is removed. It
// reports the peer's record, whether its name or counts changed, and
// whether it was removed; after a failure that did not remove it the peer
// stays busy, for the caller's quick re-probe (probed again, with the same
// target). A probe of a connection that has been replaced meanwhile is
// ignored.
func (t *table) probed(p probeTarget, ri wire.Info, err error, maxFails int, now time.Time) (info PeerInfo, changed, removed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.peers[p.id]
	if !ok || st.client != p.client {
		return PeerInfo{}, false, false
	}
	if err == nil {
		st.busy = false
		changed = ri.Name != st.info.Name || ri.Files != st.info.Files || ri.Bytes != st.info.Bytes || ri.Index != st.info.Index
		st.info.Name, st.info.Files, st.info.Bytes, st.info.Index = ri.Name, ri.Files, ri.Bytes, ri.Index
		st.info.LastSeen, st.fails = now, 0
		return st.info, changed, false
	}
	st.fails++
	if st.fails < maxFails && !p.suspected {
		return st.info, false, false
	}
	st.busy = false
	delete(t.peers, p.id)
	t.drop(st)
	st.info.Online = false
	return st.info, false, true
}
