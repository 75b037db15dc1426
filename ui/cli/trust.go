package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"porch/peer"
)

// cmdTrust pairs with a neighbour: it shows the pairing code, asks the
// neighbour's Porch to show it too, and trusts the neighbour once the user
// confirms (or at once with --yes).
func cmdTrust(o *options) error {
	if len(o.args) != 1 {
		return usageError("needs exactly one PEER")
	}
	ctx, cancelSig := signalContext()
	defer cancelSig()
	eng, p, stop, err := o.findPeer(ctx, o.args[0])
	if err != nil {
		return err
	}
	defer stop()
	code, err := eng.PairingCode(p.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "Pairing code with %s (%s): %s\n", p.Name, p.ID[:8], code)
	askCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := eng.RequestPairing(askCtx, p.ID); err != nil {
		fmt.Fprintf(o.stdout, "%s's Porch could not be asked to show it (%v): look it up there with 'porch trust' or in its window.\n", p.Name, err)
	} else {
		fmt.Fprintf(o.stdout, "%s's Porch shows the code for this machine now. Compare the two.\n", p.Name)
	}
	cancel()
	if !o.bool("yes") {
		fmt.Fprintf(o.stdout, "Trust %s? Answer yes only if both codes are the same [y/N]: ", p.Name)
		answer, _ := bufio.NewReader(o.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(o.stdout)
			return fmt.Errorf("%s is not trusted (answer y to trust, or run with --yes after comparing the codes)", p.Name)
		}
	}
	if err := eng.Trust(p.ID); err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "%s is trusted: it sees the shares kept for trusted neighbours.\n", p.Name)
	return nil
}

// offline returns an engine on the data folder that does not go on the
// network, for the commands that only read or change what is stored.
func (o *options) offline() (*peer.Engine, error) {
	return o.engine(true)
}

func cmdTrustLs(o *options) error {
	if len(o.args) > 0 {
		return usageError("takes no arguments")
	}
	eng, err := o.offline()
	if err != nil {
		return err
	}
	defer eng.Close()
	ts, err := eng.TrustedPeers()
	if err != nil {
		return err
	}
	if o.bool("json") {
		if ts == nil {
			ts = []peer.TrustedPeer{}
		}
		return o.printJSON(ts)
	}
	if len(ts) == 0 {
		fmt.Fprintln(o.stdout, "No trusted neighbours. Pair with one with: porch trust PEER")
		return nil
	}
	tw := tabwriter.NewWriter(o.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tKEY\tSINCE")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.ID[:min(8, len(t.ID))], t.Fingerprint[:min(16, len(t.Fingerprint))], t.Since.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

func cmdUntrust(o *options) error {
	if len(o.args) != 1 {
		return usageError("needs exactly one PEER")
	}
	eng, err := o.offline()
	if err != nil {
		return err
	}
	defer eng.Close()
	t, err := eng.Untrust(o.args[0])
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "%s (%s) is no longer trusted.\n", t.Name, t.ID[:min(8, len(t.ID))])
	return nil
}

func cmdForget(o *options) error {
	if len(o.args) != 1 {
		return usageError("needs exactly one PEER")
	}
	ref := o.args[0]
	if o.str("wait", "") == "" {
		o.flags["wait"] = []string{"5s"}
	}
	ctx, cancelSig := signalContext()
	defer cancelSig()
	eng, stop, err := o.clientEngine(ctx, func(e *peer.Engine) bool {
		for _, p := range e.Peers() {
			if p.KeyChanged {
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	defer stop()
	p, err := eng.ForgetKey(ref)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stdout, "Forgot the old key of %s (%s); the key it presents now is accepted and remembered.\n", p.Name, p.ID[:8])
	return nil
}
