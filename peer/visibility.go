package peer

import (
	"fmt"
	"maps"
	"sync"
	"time"

	"porch/peer/wire"
	"porch/share"
)

// trustRefresh is how long the trusted keys read from the database are
// used before they are read again: trust given or ended by another process
// on the same data folder (porch trust, porch untrust) applies within it.
const trustRefresh = time.Second

// trustedKeys is the set of fingerprints of trusted neighbours, read from
// the database at most every trustRefresh; mu guards it.
type trustedKeys struct {
	mu     sync.Mutex
	read   time.Time // zero: to be read at the next request
	loaded bool
	fps    map[string]bool
}

// viewFor is the library as the caller with certificate fingerprint fp may
// see it. The caller is identified by its key only: an address, a name or
// an id it claims count for nothing.
func (e *Engine) viewFor(fp string) wire.Library {
	return wire.ViewOf(e.lib.For(share.Viewer{Fingerprint: fp, Trusted: e.trustedKey(fp)}))
}

// trustedKey reports whether fp is the key a trusted neighbour had when it
// was trusted. When the trusted set changed since it was last read, the
// index version moves, so that neighbours list this machine again.
func (e *Engine) trustedKey(fp string) bool {
	e.trusted.mu.Lock()
	changed := false
	if e.trusted.read.IsZero() || time.Since(e.trusted.read) >= trustRefresh {
		recs, err := e.db.Trusted()
		if err != nil {
			// Kept as they were: a database that cannot be read for a
			// moment neither grants nor ends trust.
			e.log.Warn("reading trusted peers", "err", err)
		} else {
			fps := make(map[string]bool, len(recs))
			for _, r := range recs {
				fps[r.Fingerprint] = true
			}
			changed = e.trusted.loaded && !maps.Equal(fps, e.trusted.fps)
			e.trusted.fps, e.trusted.loaded = fps, true
		}
		e.trusted.read = time.Now()
	}
	ok := fp != "" && e.trusted.fps[fp]
	e.trusted.mu.Unlock()
	if changed && e.lib != nil {
		e.lib.AudienceChanged()
	}
	return ok
}

// trustChanged makes the next request read the trusted keys again.
func (e *Engine) trustChanged() {
	e.trusted.mu.Lock()
	e.trusted.read = time.Time{}
	e.trusted.mu.Unlock()
	e.trustedKey("")
}

// ChosenPeer resolves ref (a display name, an id prefix or host:port of an
// online neighbour, as Resolve takes it) to a neighbour a share can be kept
// for, pinned by the key it presents now.
func (e *Engine) ChosenPeer(ref string) (share.ChosenPeer, error) {
	p, err := e.Resolve(ref)
	if err != nil {
		return share.ChosenPeer{}, err
	}
	if p.Fingerprint == "" || p.KeyChanged {
		return share.ChosenPeer{}, fmt.Errorf("%s's key is not verified: it cannot be chosen", p.Name)
	}
	return share.ChosenPeer{ID: p.ID, Fingerprint: p.Fingerprint, Name: p.Name}, nil
}

// AddSharesVisible shares local files or folders for the neighbours v
// allows only (paths already shared get v too) and returns the items,
// indexed.
func (e *Engine) AddSharesVisible(v share.Visibility, paths ...string) ([]ShareInfo, error) {
	if e.lib == nil {
		return nil, fmt.Errorf("cannot share %d paths: %w", len(paths), ErrClientOnly)
	}
	added, err := e.lib.AddVisible(v, paths...)
	if err != nil {
		return nil, err
	}
	return e.sharesOf(added), nil
}

// SetShareVisibility changes who may see a shared item, given by its local
// path or shared name; neighbours see the change at their next request.
func (e *Engine) SetShareVisibility(pathOrName string, v share.Visibility) (ShareInfo, error) {
	if e.lib == nil {
		return ShareInfo{}, fmt.Errorf("cannot change %s: %w", pathOrName, ErrClientOnly)
	}
	it, err := e.lib.SetVisibility(pathOrName, v)
	if err != nil {
		return ShareInfo{}, err
	}
	if s := e.sharesOf([]share.Item{it}); len(s) == 1 {
		return s[0], nil
	}
	return ShareInfo{ItemStatus: share.ItemStatus{Item: it}}, nil
}

// sharesOf returns the ShareInfo of the given items.
func (e *Engine) sharesOf(items []share.Item) []ShareInfo {
	var out []ShareInfo
	for _, s := range e.Shares() {
		for _, it := range items {
			if it.Path == s.Path {
				out = append(out, s)
			}
		}
	}
	return out
}
