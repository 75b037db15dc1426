package peer

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"
)

// rememberedKey is where the neighbours reached by address are kept in the
// database, so that they are reached again after a restart.
const rememberedKey = "neighbours-by-address"

// rememberFor is how long a neighbour reached by address is remembered
// after it last answered.
const rememberFor = 30 * 24 * time.Hour

// remembered is a neighbour reached by address: its id, where it answered
// last, and when.
type remembered struct {
	ID   string    `json:"id"`
	Addr string    `json:"addr"` // host:port
	Seen time.Time `json:"seen"`
}

// rememberMu serialises the read-modify-write of the remembered list within
// this process; another process writing it at the same moment may win, which
// costs at most an address learnt again on the next contact.
var rememberMu sync.Mutex

// rememberedNeighbours returns the neighbours reached by address that are
// still remembered.
func (e *Engine) rememberedNeighbours() []remembered {
	raw, ok, err := e.db.Setting(rememberedKey)
	if err != nil || !ok {
		return nil
	}
	var all []remembered
	if json.Unmarshal(raw, &all) != nil {
		return nil
	}
	out := all[:0]
	for _, r := range all {
		if time.Since(r.Seen) < rememberFor {
			out = append(out, r)
		}
	}
	return out
}

// remember records that peer id answered at addr. With onlyKnown it only
// updates a neighbour remembered already (its address moved), so that
// neighbours found by discovery are not remembered.
func (e *Engine) remember(id, addr string, onlyKnown bool) {
	rememberMu.Lock()
	defer rememberMu.Unlock()
	list := e.rememberedNeighbours()
	found := false
	for i := range list {
		if list[i].ID == id {
			if list[i].Addr == addr && time.Since(list[i].Seen) < time.Hour {
				return // nothing new worth a write
			}
			if list[i].Addr != addr {
				e.log.Info("neighbour by address moved", "id", id, "from", list[i].Addr, "to", addr)
			}
			list[i].Addr, list[i].Seen, found = addr, time.Now(), true
		}
	}
	if !found {
		if onlyKnown {
			return
		}
		list = append(list, remembered{ID: id, Addr: addr, Seen: time.Now()})
		if len(list) > maxRemembered {
			slices.SortFunc(list, func(a, b remembered) int { return b.Seen.Compare(a.Seen) })
			list = list[:maxRemembered]
		}
	}
	b, err := json.Marshal(list)
	if err == nil {
		err = e.db.SetSetting(rememberedKey, b)
	}
	if err != nil {
		e.log.Warn("cannot remember a neighbour by address", "id", id, "err", err)
	}
}

// maxRemembered bounds the neighbours remembered by address; the one heard
// from longest ago makes room.
const maxRemembered = 64

// rememberVerified records the address of a neighbour just verified: one
// that introduced itself with a hello (it reached this machine by address),
// or one given with --peer, is remembered; one remembered already follows
// its new address; one found by discovery alone is not remembered.
func (e *Engine) rememberVerified(p PeerInfo) {
	if len(p.Addrs) == 0 || p.Port == 0 || e.opts.ClientOnly {
		return
	}
	addr := net.JoinHostPort(p.Addrs[0], strconv.Itoa(p.Port))
	e.mu.Lock()
	introduced := e.hellos[p.ID]
	delete(e.hellos, p.ID)
	e.mu.Unlock()
	e.remember(p.ID, addr, !introduced && !slices.Contains(e.opts.StaticPeers, addr))
}

// introduced notes that peer id said hello, so that it is remembered once
// verified.
func (e *Engine) introduced(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hellos == nil {
		e.hellos = map[string]bool{}
	}
	if len(e.hellos) < maxRemembered {
		e.hellos[id] = true
	}
}

// keepRemembered reaches again, until ctx ends, every remembered neighbour
// that is not online, at the address where it answered last: a neighbour
// added by address in an earlier run comes back without being added again.
func (e *Engine) keepRemembered(ctx context.Context) {
	for {
		for _, r := range e.rememberedNeighbours() {
			if p, ok := e.peers.get(r.ID); ok && p.Online {
				continue
			}
			if _, err := e.AddPeer(ctx, r.Addr); err != nil {
				e.log.Debug("remembered neighbour not reachable", "id", r.ID, "addr", r.Addr, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(staticRetry):
		}
	}
}
