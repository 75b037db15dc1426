package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"porch/peer/identity"
	"porch/share"
)

// searchWait bounds how long Search waits for any one neighbour.
const searchWait = 5 * time.Second

// Peers returns every neighbour worth showing: the online ones and those
// refused for a changed key, sorted by name then id.
func (e *Engine) Peers() []PeerInfo {
	out := e.peers.list()
	if len(out) == 0 {
		return out
	}
	trusted := map[string]string{}
	if recs, err := e.db.Trusted(); err == nil {
		for _, r := range recs {
			trusted[r.ID] = r.Fingerprint
		}
	}
	for i := range out {
		fp, ok := trusted[out[i].ID]
		out[i].Trusted = ok && fp == out[i].Fingerprint
	}
	return out
}

// Resolve finds an online peer by display name (case-insensitive), id prefix
// (at least 4 characters) or host:port. It fails with an error wrapping
// ErrNoPeer when nothing matches, ErrAmbiguous when several neighbours do,
// and identity.ErrKeyChanged when the match presents a changed key.
func (e *Engine) Resolve(ref string) (PeerInfo, error) {
	p, err := e.peers.resolve(ref)
	if errors.Is(err, identity.ErrKeyChanged) {
		return p, fmt.Errorf("%w; if you know it was reinstalled, forget its old key with 'porch forget %s' (or \"Forget old key\" in the window) and try again",
			err, short(p.ID))
	}
	return p, err
}

// List returns the entries of a folder on a neighbour ("" is the top).
func (e *Engine) List(ctx context.Context, peerID, path string) ([]share.Entry, error) {
	c, info, err := e.peers.client(peerID)
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
	Peers []PeerRef // sorted by name
}

// Search asks every online neighbour at once; a neighbour that fails or is
// slow is left out. Results held by more peers come first, then by name.
func (e *Engine) Search(ctx context.Context, text string) ([]SearchResult, error) {
	return e.SearchEach(ctx, text, nil)
}

// SearchEach is Search that also reports as the answers come in: each time
// a neighbour answers, fails or gives up (after searchWait), fn, when not
// nil, gets the results merged so far (in the order Search sorts them),
// with how many of the asked neighbours are done. fn runs on the caller's
// goroutine, so a slow or dead neighbour holds back nobody's results but
// its own. SearchEach returns when every neighbour is done.
func (e *Engine) SearchEach(ctx context.Context, text string, fn func(results []SearchResult, done, asked int)) ([]SearchResult, error) {
	clients, infos := e.peers.online()
	type answer struct {
		p       PeerInfo
		entries []share.Entry
	}
	answers := make(chan answer, len(clients))
	for i, c := range clients {
		go func() {
			sctx, cancel := context.WithTimeout(ctx, searchWait)
			defer cancel()
			entries, err := c.Search(sctx, text)
			if err != nil {
				e.log.Debug("search failed", "peer", infos[i].Name, "err", err)
			}
			answers <- answer{infos[i], entries}
		}()
	}
	m := newMerge()
	for done := range len(clients) {
		a := <-answers
		m.add(PeerRef{ID: a.p.ID, Name: a.p.Name}, a.entries)
		if fn != nil {
			fn(m.results(), done+1, len(clients))
		}
	}
	return m.results(), ctx.Err()
}

// merge groups search answers: one result per content id (files), or per
// peer and path (folders and files not hashed yet).
type merge struct {
	byKey map[string]*SearchResult
	order []string
}

func newMerge() *merge { return &merge{byKey: map[string]*SearchResult{}} }

func (m *merge) add(p PeerRef, entries []share.Entry) {
	for _, en := range entries {
		key := "cid:" + en.ContentID
		if en.Dir || en.ContentID == "" {
			key = "path:" + p.ID + "/" + en.Path
		}
		r, ok := m.byKey[key]
		if !ok {
			r = &SearchResult{Entry: en}
			m.byKey[key] = r
			m.order = append(m.order, key)
		}
		if !slices.Contains(r.Peers, p) {
			r.Peers = append(r.Peers, p)
		}
	}
}

// results returns a copy of the merged results, holders sorted by name,
// results held by more peers first, then by name.
func (m *merge) results() []SearchResult {
	out := make([]SearchResult, 0, len(m.order))
	for _, k := range m.order {
		r := *m.byKey[k]
		r.Peers = slices.Clone(r.Peers)
		slices.SortFunc(r.Peers, func(a, b PeerRef) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, r)
	}
	slices.SortStableFunc(out, func(a, b SearchResult) int {
		if len(a.Peers) != len(b.Peers) {
			return len(b.Peers) - len(a.Peers)
		}
		return strings.Compare(strings.ToLower(a.Entry.Name), strings.ToLower(b.Entry.Name))
	})
	return out
}
