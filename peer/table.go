package peer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"porch/peer/discovery"
	"porch/peer/identity"
	"porch/peer/wire"
)

// Errors the peer table reports, wrapped with the reference that failed.
var (
	// ErrNoPeer is returned when a peer reference matches no neighbour.
	ErrNoPeer = errors.New("no such neighbour")
	// ErrAmbiguous is returned when a peer reference matches several
	// neighbours.
	ErrAmbiguous = errors.New("more than one neighbour matches")
)

// minIDPrefix is the shortest id prefix Resolve accepts.
const minIDPrefix = 4

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
	Manual      bool      `json:"manual,omitempty"`      // added by address, not found by discovery
	Index       uint64    `json:"index,omitempty"`       // the version of its index last seen; listings may differ only when it changes
	Trusted     bool      `json:"trusted,omitempty"`     // paired with, and still presenting the key it had then
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

// peerState is the table's record of one neighbour.
type peerState struct {
	info  PeerInfo
	fails int  // consecutive failed probes
	busy  bool // a verification or probe is running
	// alive is the last proof of life other than a response over client
	// (which the client records itself): an announcement, or a request
	// the neighbour made to us.
	alive time.Time
	// suspect is when another peer asked the network about this one (it
	// missed a probe there); zero when nobody did since the last proof.
	suspect time.Time
	// refreshed is when its info was last fetched because an announcement
	// named a new index version or name.
	refreshed time.Time
	// client is the verified connection; nil until the peer is online.
	client *wire.Client
}

// lastAlive is the latest proof of life of st; t.mu is held.
func (st *peerState) lastAlive() time.Time {
	at := st.alive
	if st.client != nil {
		if r := st.client.LastResponse(); r.After(at) {
			at = r
		}
	}
	return at
}

// refreshEvery is the least time between two fetches of a neighbour's info
// prompted by its announcements.
const refreshEvery = time.Second

// table is the engine's record of its neighbours: what each announced,
// which are verified (online), how many probes in a row failed, and which
// presented a changed key. It never touches the network: the engine asks the
// neighbours and tells the table what they answered. mu guards peers; every
// method is safe for concurrent use and returns copies.
type table struct {
	self string // this peer's id, never entered

	mu      sync.Mutex
	peers   map[string]*peerState // by peer id
	retired []*wire.Client        // dropped connections, closed again by clear
	// round is the order of the current probe round and cursor the next
	// place in it (see nextProbe).
	round  []string
	cursor int
}

func newTable(self string) *table {
	return &table{self: self, peers: map[string]*peerState{}}
}

// seen records an announcement, a proof of life. It reports whether the
// peer should be verified now (it is not online and no verification is
// running); if so the peer is marked busy until verified, keyChanged or
// verifyFailed is called. For an online peer whose announcement names
// another index version (or name) than its info did, it returns a probe
// target instead (at most every refreshEvery; the peer is marked busy until
// probed is called), so that freshness does not wait for a probe.
func (t *table) seen(a discovery.Announcement, now time.Time) (verify bool, refresh *probeTarget) {
	if a.ID == t.self || a.ID == "" {
		return false, nil
	}
	addrs := make([]string, 0, len(a.Addrs))
	for _, ip := range a.Addrs {
		addrs = append(addrs, ip.String())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.peers[a.ID]
	if !ok {
		st = &peerState{info: PeerInfo{ID: a.ID}}
		t.peers[a.ID] = st
	}
	if st.info.Fingerprint != "" && st.info.Fingerprint != a.Fingerprint {
		// A different key under a known id: verification pins it against
		// the remembered one and refuses it if it changed.
		st.info.Online = false
		t.drop(st)
	}
	stale := st.info.Online && (a.Index != 0 && a.Index != st.info.Index || a.Name != st.info.Name)
	st.info.Fingerprint, st.info.Port = a.Fingerprint, a.Port
	if !st.info.Online {
		st.info.Name = a.Name
	}
	st.info.Addrs = mergeAddrs(addrs, st.info.Addrs)
	st.info.LastSeen, st.alive, st.suspect = now, now, time.Time{}
	switch {
	case st.busy:
		return false, nil
	case st.info.Online && stale && st.client != nil && now.Sub(st.refreshed) >= refreshEvery:
		st.busy, st.refreshed = true, now
		return false, &probeTarget{id: a.ID, client: st.client}
	case st.info.Online:
		return false, nil
	}
	st.busy = true
	return true, nil
}

// maxRetired bounds the dropped connections kept for clear; older ones
// are left to their idle timeout.
const maxRetired = 32

// drop closes st's connection, if any; t.mu must be held. A request still
// using the connection may return it to its pool afterwards, so clear
// closes it again.
func (t *table) drop(st *peerState) {
	if st.client == nil {
		return
	}
	st.client.Close()
	if len(t.retired) == maxRetired {
		t.retired = slices.Delete(t.retired, 0, 1)
	}
	t.retired = append(t.retired, st.client)
	st.client = nil
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

// lockPeer locks the table and returns id's record, nil if it has none. The
// caller unlocks t.mu.
func (t *table) lockPeer(id string) *peerState {
	t.mu.Lock()
	return t.peers[id]
}

// get returns what the table knows of a peer.
func (t *table) get(id string) (PeerInfo, bool) {
	st := t.lockPeer(id)
	defer t.mu.Unlock()
	if st == nil {
		return PeerInfo{}, false
	}
	return st.info, true
}

// verified marks a peer online after it answered ri over c. It reports the
// peer's record and whether the peer was in the table to be marked; if it
// was not (it left meanwhile), the caller keeps c and closes it.
func (t *table) verified(id string, ri wire.Info, c *wire.Client, now time.Time) (PeerInfo, bool) {
	st := t.lockPeer(id)
	defer t.mu.Unlock()
	if st == nil {
		return PeerInfo{}, false
	}
	st.busy = false
	if st.client != c {
		t.drop(st)
	}
	st.info.KeyChanged, st.info.Online = false, true
	st.info.Name, st.info.Files, st.info.Bytes, st.info.Index = ri.Name, ri.Files, ri.Bytes, ri.Index
	st.info.LastSeen, st.fails, st.client = now, 0, c
	return st.info, true
}

// keyChanged marks a peer as refused for presenting another key than the one
// remembered. first reports whether it was not marked so already.
func (t *table) keyChanged(id string) (info PeerInfo, first bool) {
	st := t.lockPeer(id)
	defer t.mu.Unlock()
	if st == nil {
		return PeerInfo{}, false
	}
	st.busy = false
	first = !st.info.KeyChanged
	st.info.KeyChanged, st.info.Online = true, false
	t.drop(st)
	return st.info, first
}

// verifyFailed ends a verification that reached nobody; the next
// announcement tries again.
func (t *table) verifyFailed(id string) {
	if st := t.lockPeer(id); st != nil {
		st.busy = false
	}
	t.mu.Unlock()
}

// goodbye removes the online peers presenting fingerprint fp and returns
// them.
func (t *table) goodbye(fp string) []PeerInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []PeerInfo
	for id, st := range t.peers {
		if st.info.Fingerprint == fp && st.info.Online {
			delete(t.peers, id)
			t.drop(st)
			st.info.Online = false
			out = append(out, st.info)
		}
	}
	return out
}

// addManual enters a peer reached by address and verified over c. It
// reports whether the peer was online before; if it was, its existing
// connection is kept and c is closed.
func (t *table) addManual(info PeerInfo, c *wire.Client) (out PeerInfo, wasOnline bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.peers[info.ID]
	if !ok {
		st = &peerState{}
		t.peers[info.ID] = st
	}
	info.Addrs = mergeAddrs(info.Addrs, st.info.Addrs)
	wasOnline = st.info.Online && st.client != nil
	if wasOnline {
		c.Close()
		c = st.client
	} else if st.client != c {
		t.drop(st)
	}
	st.info, st.client, st.fails = info, c, 0
	return st.info, wasOnline
}

// at returns the online peer reached at host:port, if any.
func (t *table) at(host string, port int) (PeerInfo, bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().String()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, st := range t.peers {
		if st.info.Online && st.info.Port == port && slices.Contains(st.info.Addrs, host) {
			return st.info, true
		}
	}
	return PeerInfo{}, false
}

// list returns every neighbour worth showing (online or refused for a
// changed key), sorted by name then id.
func (t *table) list() []PeerInfo {
	t.mu.Lock()
	out := make([]PeerInfo, 0, len(t.peers))
	for _, st := range t.peers {
		if st.info.Online || st.info.KeyChanged {
			out = append(out, st.info)
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b PeerInfo) int {
		if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// client returns the connection to an online peer.
func (t *table) client(id string) (*wire.Client, PeerInfo, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.peers[id]
	if st == nil || !st.info.Online || st.client == nil {
		return nil, PeerInfo{}, fmt.Errorf("%w with id %s", ErrNoPeer, id)
	}
	return st.client, st.info, nil
}

// online returns the connections to every online peer, with their records.
func (t *table) online() ([]*wire.Client, []PeerInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var cs []*wire.Client
	var infos []PeerInfo
	for _, st := range t.peers {
		if st.info.Online && st.client != nil {
			cs = append(cs, st.client)
			infos = append(infos, st.info)
		}
	}
	return cs, infos
}

// clear empties the table and closes every connection it held; the engine
// calls it once nothing uses them any more.
func (t *table) clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, st := range t.peers {
		t.drop(st)
		delete(t.peers, id)
	}
	for _, c := range t.retired {
		c.Close()
	}
	t.retired = nil
}

// resolve finds an online peer by host:port, display name
// (case-insensitive) or id prefix (at least minIDPrefix characters). A name
// wins over an id prefix. It fails with ErrNoPeer when nothing matches,
// ErrAmbiguous when several do, and identity.ErrKeyChanged when the match
// is a peer refused for a changed key.
func (t *table) resolve(ref string) (PeerInfo, error) {
	if host, port, err := net.SplitHostPort(ref); err == nil {
		if p, err := strconv.Atoi(port); err == nil {
			if info, ok := t.at(host, p); ok {
				return info, nil
			}
		}
		return PeerInfo{}, fmt.Errorf("%w at %s (is Porch running there?)", ErrNoPeer, ref)
	}
	lower := strings.ToLower(ref)
	var byName, byID []PeerInfo
	for _, p := range t.list() {
		nameMatch := strings.EqualFold(p.Name, ref)
		idMatch := len(ref) >= minIDPrefix && strings.HasPrefix(p.ID, lower)
		if !p.Online {
			if p.KeyChanged && (nameMatch || idMatch) {
				return p, fmt.Errorf("%s (%s) presents a different key than before and is refused: %w",
					p.Name, short(p.ID), identity.ErrKeyChanged)
			}
			continue
		}
		if nameMatch {
			byName = append(byName, p)
		}
		if idMatch {
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
			ids := make([]string, 0, len(set))
			for _, p := range set {
				ids = append(ids, short(p.ID))
			}
			return PeerInfo{}, fmt.Errorf("%w %q (%d of them): name one by a longer id prefix (%s)",
				ErrAmbiguous, ref, len(set), strings.Join(ids, ", "))
		}
	}
	return PeerInfo{}, fmt.Errorf("%w called %q on the network (see 'porch peers')", ErrNoPeer, ref)
}

// short is the first 8 characters of an id, as the user sees it.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// moved takes a peer that is online with key fp but now calls from host and
// port it is not known at out of the online set, so that the next sighting
// verifies it there; it does nothing for a peer known at that address.
func (t *table) moved(id, fp, host string, port int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, ok := t.peers[id]
	if !ok || !st.info.Online || st.info.Fingerprint != fp {
		return
	}
	if st.info.Port == port && slices.Contains(st.info.Addrs, host) {
		return
	}
	st.info.Online = false
	st.busy = false
	t.drop(st)
}
