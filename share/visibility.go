package share

import (
	"fmt"
	"slices"
	"strings"
)

// Visibility says which neighbours may see a shared item. The zero value is
// every neighbour. A restricted item is seen by the trusted neighbours when
// Trusted is set and by each of Peers, and by no one else: a restricted item
// whose list is empty is seen by nobody (it never falls back to everyone).
type Visibility struct {
	Restricted bool         `json:"restricted,omitempty"`
	Trusted    bool         `json:"trusted,omitempty"` // restricted: trusted neighbours see it
	Peers      []ChosenPeer `json:"peers,omitempty"`   // restricted: these neighbours see it
}

// ChosenPeer is a neighbour an item is shared with, pinned by the
// fingerprint of the key it had when it was chosen: the same id with
// another key does not see the item.
type ChosenPeer struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Name        string `json:"name"` // its display name then, for showing
}

// Viewer is a neighbour asking for this machine's shares, known by the
// fingerprint of its verified certificate. Trusted says whether the user
// trusts the peer that holds that key.
type Viewer struct {
	Fingerprint string
	Trusted     bool
}

// Everyone is the visibility of an item every neighbour sees.
var Everyone = Visibility{}

// Allows reports whether w may see an item with visibility v. A viewer
// without a fingerprint sees only what everyone sees.
func (v Visibility) Allows(w Viewer) bool {
	if !v.Restricted {
		return true
	}
	if w.Fingerprint == "" {
		return false
	}
	if v.Trusted && w.Trusted {
		return true
	}
	for _, p := range v.Peers {
		if p.Fingerprint == w.Fingerprint {
			return true
		}
	}
	return false
}

// Equal reports whether v and o let the same neighbours see an item.
func (v Visibility) Equal(o Visibility) bool {
	return v.Restricted == o.Restricted && v.Trusted == o.Trusted && slices.Equal(v.Peers, o.Peers)
}

// String words v as the command line takes it: "everyone", "nobody", or a
// comma list of "trusted" and the chosen peers' names.
func (v Visibility) String() string {
	if !v.Restricted {
		return "everyone"
	}
	var parts []string
	if v.Trusted {
		parts = append(parts, "trusted")
	}
	for _, p := range v.Peers {
		parts = append(parts, p.Name)
	}
	if len(parts) == 0 {
		return "nobody"
	}
	return strings.Join(parts, ",")
}

// normalized returns v with its peers sorted by id and each id once (the
// last fingerprint given for an id wins), everything cleared when it is not
// restricted.
func (v Visibility) normalized() Visibility {
	if !v.Restricted {
		return Everyone
	}
	var peers []ChosenPeer
	for _, p := range v.Peers {
		if i := slices.IndexFunc(peers, func(q ChosenPeer) bool { return q.ID == p.ID }); i >= 0 {
			peers[i] = p
			continue
		}
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b ChosenPeer) int { return strings.Compare(a.ID, b.ID) })
	return Visibility{Restricted: true, Trusted: v.Trusted, Peers: peers}
}

// valid reports whether every chosen peer names an id and a fingerprint.
func (v Visibility) valid() error {
	for _, p := range v.Peers {
		if p.ID == "" || p.Fingerprint == "" {
			return fmt.Errorf("share: chosen neighbour %q has no id or key", p.Name)
		}
	}
	return nil
}
