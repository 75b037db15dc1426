package cli

import (
	"fmt"
	"strings"

	"porch/peer"
	"porch/ui/human"
)

// acceptFlag is serve's --accept.
var acceptFlag = flagSpec{"accept", flagString, "POLICY",
	"which offers from neighbours to take: none (default here), trusted, all; ask needs the window, so it declines here too"}

// acceptPolicy reads --accept ("" when it is not given).
func (o *options) acceptPolicy() (peer.AcceptPolicy, error) {
	v := o.str("accept", "")
	if v == "" {
		return "", nil
	}
	p, err := peer.ParseAcceptPolicy(v)
	if err != nil {
		return "", usageError("--accept %q: say none, trusted, all or ask", v)
	}
	return p, nil
}

func cmdSend(o *options) error {
	if len(o.args) < 2 {
		return usageError("needs a PEER and at least one PATH")
	}
	ctx, cancelSig := signalContext()
	defer cancelSig()
	if handled, err := o.sendLocalSend(ctx); handled {
		return err
	}
	eng, p, stop, err := o.findPeer(ctx, o.args[0])
	if err != nil {
		return err
	}
	defer stop()
	paths := o.args[1:]
	label := fmt.Sprintf("to %s", p.Name)
	bar := newProgressBar(o.stderr, label)
	// On a terminal each step is told; elsewhere stderr carries the outcome
	// alone (one line when it failed).
	say := func(format string, a ...any) {
		if bar.tty {
			fmt.Fprintf(o.stderr, format+"\n", a...)
		}
	}
	var last peer.OfferState = "-"
	res, err := eng.Send(ctx, p.ID, paths, func(sp peer.SendProgress) {
		if sp.State != last {
			bar.finish()
			bar = newProgressBar(o.stderr, label)
			last = sp.State
			switch sp.State {
			case "":
				say("preparing %s…", human.Bytes(sp.Total))
			case peer.OfferPending:
				say("offered to %s; waiting for an answer (at most %v)…", p.Name, peer.OfferTTL)
			case peer.OfferAccepted:
				say("%s accepted; sending…", p.Name)
			}
		}
		if sp.State == peer.OfferAccepted || sp.State == "" {
			bar.update(peer.GetProgress{Done: sp.Done, Total: sp.Total})
		}
	})
	bar.finish()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted; the offer was withdrawn")
		}
		return err
	}
	fmt.Fprintf(o.stderr, "%s received %d items: %d files, %s\n", res.Peer, res.Items, res.Files, human.Bytes(res.Bytes))
	fmt.Fprintf(o.stdout, "sent %s to %s\n", strings.Join(paths, ", "), res.Peer)
	return nil
}
