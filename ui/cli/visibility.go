package cli

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"porch/peer"
	"porch/share"
)

// toFlag is --to of share add and share set: who may see the items.
var toFlag = flagSpec{"to", flagList, "WHO",
	"who may see it: everyone (the default), trusted, or neighbours by name, id prefix or host:port (repeatable, or a comma list: --to trusted,carol)"}

// visibility reads --to: nil when it is not given. Chosen neighbours are
// looked up on the network (they must be online) and pinned by the key
// they present now.
func (o *options) visibility() (*share.Visibility, error) {
	var words []string
	for _, v := range o.list("to") {
		for _, w := range strings.Split(v, ",") {
			if w = strings.TrimSpace(w); w != "" {
				words = append(words, w)
			}
		}
	}
	if len(o.list("to")) > 0 && len(words) == 0 {
		return nil, usageError("--to needs everyone, trusted or neighbours")
	}
	if len(words) == 0 {
		return nil, nil
	}
	v := share.Visibility{Restricted: true}
	var refs []string
	for _, w := range words {
		switch strings.ToLower(w) {
		case "everyone":
			if len(words) > 1 {
				return nil, usageError("--to everyone cannot be combined with other neighbours")
			}
			open := share.Everyone
			return &open, nil
		case "trusted":
			v.Trusted = true
		default:
			refs = append(refs, w)
		}
	}
	if len(refs) > 0 {
		peers, err := o.chosenPeers(refs)
		if err != nil {
			return nil, err
		}
		v.Peers = peers
	}
	return &v, nil
}

// chosenPeers finds every neighbour refs names, waiting up to --wait (5 s
// by default) for them to be seen.
func (o *options) chosenPeers(refs []string) ([]share.ChosenPeer, error) {
	if o.str("wait", "") == "" {
		o.flags["wait"] = []string{"5s"}
	}
	ctx, cancel := signalContext()
	defer cancel()
	byAddr := func(ref string) bool { _, _, err := net.SplitHostPort(ref); return err == nil }
	eng, stop, err := o.clientEngine(ctx, func(e *peer.Engine) bool {
		for _, r := range refs {
			if _, err := e.ChosenPeer(r); err != nil && !byAddr(r) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	defer stop()
	var out []share.ChosenPeer
	for _, r := range refs {
		c, err := eng.ChosenPeer(r)
		if errors.Is(err, peer.ErrNoPeer) && byAddr(r) {
			var p peer.PeerInfo
			if p, err = eng.AddPeer(ctx, r); err == nil {
				c, err = eng.ChosenPeer(p.ID)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("--to %s: %w", r, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// cmdShareSet changes who may see items already shared.
func cmdShareSet(o *options) error {
	if len(o.args) == 0 {
		return usageError("needs at least one PATH (or shared name)")
	}
	v, err := o.visibility()
	if err != nil {
		return err
	}
	if v == nil {
		return usageError("needs --to WHO (everyone, trusted or neighbours)")
	}
	cat, err := share.OpenCatalog(o.dataDir)
	if err != nil {
		return err
	}
	for _, p := range o.args {
		it, err := cat.SetVisibility(p, *v)
		if err != nil {
			return err
		}
		fmt.Fprintf(o.stdout, "%q is shared with %s\n", it.Name, it.To)
	}
	return nil
}
