package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"porch/peer"
	"porch/share"
	"porch/share/db"
	"porch/ui/human"
)

func (o *options) printJSON(v any) error {
	enc := json.NewEncoder(o.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func cmdServe(o *options) error {
	if len(o.args) > 0 {
		return usageError("takes no arguments")
	}
	eng, err := o.engine(false)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	return eng.Run(ctx)
}

// pathsCatalog checks that the command was given paths and opens the
// catalog they are added to or removed from.
func pathsCatalog(o *options) (*share.Catalog, error) {
	if len(o.args) == 0 {
		return nil, usageError("needs at least one PATH")
	}
	return share.OpenCatalog(o.dataDir)
}

func cmdShareAdd(o *options) error {
	cat, err := pathsCatalog(o)
	if err != nil {
		return err
	}
	for _, p := range o.args {
		if abs, err := filepath.Abs(p); err == nil {
			if secrets, _ := share.FindSecrets(abs, 20); len(secrets) > 0 {
				fmt.Fprintf(o.stderr, "porch: warning: %s holds likely secrets; they are excluded from sharing: %s\n",
					p, strings.Join(secrets, ", "))
			}
		}
	}
	v, err := o.visibility()
	if err != nil {
		return err
	}
	var items []share.Item
	if v == nil {
		items, err = cat.Add(o.args...)
	} else {
		items, err = cat.AddVisible(*v, o.args...)
	}
	if err != nil {
		return err
	}
	for _, it := range items {
		fmt.Fprintf(o.stdout, "sharing %s as %q with %s\n", it.Path, it.Name, it.To)
	}
	return nil
}

func cmdShareRm(o *options) error {
	cat, err := pathsCatalog(o)
	if err != nil {
		return err
	}
	args := make([]string, len(o.args))
	for i, a := range o.args {
		args[i] = a
		if abs, err := filepath.Abs(a); err == nil {
			for _, it := range cat.Items() {
				if it.Path == abs {
					args[i] = abs
				}
			}
		}
	}
	if err := cat.Remove(args...); err != nil {
		return err
	}
	for _, a := range o.args {
		fmt.Fprintf(o.stdout, "stopped sharing %s\n", a)
	}
	return nil
}

func cmdShareLs(o *options) error {
	if len(o.args) > 0 {
		return usageError("takes no arguments")
	}
	cat, err := share.OpenCatalog(o.dataDir)
	if err != nil {
		return err
	}
	d, err := db.Open(o.dataDir)
	if err != nil {
		return err
	}
	unwatched, err := share.Unwatched(d)
	d.Close()
	if err != nil {
		return err
	}
	type item struct {
		share.Item
		Visibility string `json:"visibility"`          // who may see it, as --to takes it: everyone, trusted, names
		Unwatched  string `json:"unwatched,omitempty"` // why a running Porch finds its changes by rescans only
	}
	items := []item{}
	for _, it := range cat.Items() {
		items = append(items, item{it, it.To.String(), unwatched[it.Path]})
	}
	if o.bool("json") {
		return o.printJSON(items)
	}
	if len(items) == 0 {
		fmt.Fprintln(o.stdout, "Nothing shared yet. Add files or folders with: porch share add PATH")
		return nil
	}
	tw := tabwriter.NewWriter(o.stdout, 2, 8, 2, ' ', 0)
	for _, it := range items {
		note := ""
		if it.Unwatched != "" {
			note = fmt.Sprintf("not watched, rescanned every %v: %s", share.DefaultPoll, it.Unwatched)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.Name, it.Path, "to "+it.Visibility, note)
	}
	return tw.Flush()
}

func cmdShareRescan(o *options) error {
	if len(o.args) > 0 {
		return usageError("takes no arguments")
	}
	if err := share.RequestRescan(o.dataDir); err != nil {
		return err
	}
	fmt.Fprintln(o.stdout, "asked Porch to rescan every share; changes show within seconds while it runs")
	return nil
}

// browse starts a browse-only engine that looks for every neighbour for
// --wait, under a context that SIGINT and SIGTERM end; stop ends both.
func (o *options) browse() (context.Context, *peer.Engine, func(), error) {
	ctx, cancel := signalContext()
	eng, stop, err := o.clientEngine(ctx, nil)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	return ctx, eng, func() { stop(); cancel() }, nil
}

// clientEngine starts a browse-only engine for one command and waits until
// the neighbours have had --wait to answer, or until want reports that the
// one the command needs is found.
func (o *options) clientEngine(ctx context.Context, want func(*peer.Engine) bool) (*peer.Engine, func(), error) {
	wait, err := o.duration("wait", 2*time.Second)
	if err != nil {
		return nil, nil, err
	}
	eng, err := o.engine(true)
	if err != nil {
		return nil, nil, err
	}
	// Every event may be the neighbour want waits for: look again at once
	// rather than on a timer.
	changed := make(chan struct{}, 1)
	unsubscribe := eng.Subscribe(func(peer.Event) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer unsubscribe()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := eng.Run(runCtx); err != nil && runCtx.Err() == nil {
			o.log.Error("engine stopped", "err", err)
		}
	}()
	stop := func() { cancel(); <-done }
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for want == nil || !want(eng) {
		select {
		case <-ctx.Done():
			stop()
			return nil, nil, errStopped
		case <-deadline.C:
			return eng, stop, nil
		case <-changed:
		case <-time.After(250 * time.Millisecond): // a change that sent no event
		}
	}
	return eng, stop, nil
}

// peerJSON is one neighbour in `porch peers --json`.
type peerJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Addrs       []string `json:"addrs"`
	Port        int      `json:"port"`
	Fingerprint string   `json:"fingerprint"`
	Online      bool     `json:"online"`
	Files       int      `json:"files"`
	Bytes       int64    `json:"bytes"`
	KeyChanged  bool     `json:"key_changed,omitempty"`
	Trusted     bool     `json:"trusted,omitempty"`
	Kind        string   `json:"kind"` // "porch" or "localsend"
	DeviceType  string   `json:"deviceType,omitempty"`
	DeviceModel string   `json:"deviceModel,omitempty"`
	Version     string   `json:"version,omitempty"`  // LocalSend's protocol version
	Download    bool     `json:"download,omitempty"` // a LocalSend device that offers a download
}

func cmdPeers(o *options) error {
	if len(o.args) > 0 {
		return usageError("takes no arguments")
	}
	_, eng, stop, err := o.browse()
	if err != nil {
		return err
	}
	defer stop()
	peers := eng.Peers()
	devices := eng.LocalSendDevices()
	if o.bool("json") {
		out := []peerJSON{}
		for _, p := range peers {
			out = append(out, peerJSON{ID: p.ID, Name: p.Name, Addrs: p.Addrs, Port: p.Port, Fingerprint: p.Fingerprint,
				Online: p.Online, Files: p.Files, Bytes: p.Bytes, KeyChanged: p.KeyChanged, Trusted: p.Trusted, Kind: "porch"})
		}
		for _, d := range devices {
			out = append(out, deviceJSON(d))
		}
		return o.printJSON(out)
	}
	if len(peers) == 0 && len(devices) > 0 {
		return printDevices(o, devices)
	}
	if len(peers) == 0 {
		fmt.Fprintln(o.stdout, "No neighbours found. Is Porch running on the other machine, and is the same network allowed through its firewall (TCP port", defaultPort, "and mDNS UDP 5353)?")
		return nil
	}
	tw := tabwriter.NewWriter(o.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tADDRESS\tSHARES")
	for _, p := range peers {
		addr := ""
		if len(p.Addrs) > 0 {
			addr = p.Addrs[0]
		}
		state := fmt.Sprintf("%d files, %s", p.Files, human.Bytes(p.Bytes))
		if p.Trusted {
			state = "trusted · " + state
		}
		if p.KeyChanged {
			state = "KEY CHANGED: refused (porch forget " + p.ID[:8] + " if you know it was reinstalled)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.ID[:8], addr, state)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return printDevices(o, devices)
}

// splitRef splits "PEER/PATH" into the peer reference and the path.
func splitRef(ref string) (string, string) {
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		return ref[:i], strings.Trim(ref[i+1:], "/")
	}
	return ref, ""
}

// findPeer starts a client engine and resolves a peer reference.
func (o *options) findPeer(ctx context.Context, ref string) (*peer.Engine, peer.PeerInfo, func(), error) {
	if ref == "" {
		return nil, peer.PeerInfo{}, nil, usageError("needs a PEER (display name, id prefix or host:port)")
	}
	if o.str("wait", "") == "" {
		o.flags["wait"] = []string{"5s"}
	}
	_, _, splitErr := net.SplitHostPort(ref)
	byAddr := splitErr == nil
	eng, stop, err := o.clientEngine(ctx, func(e *peer.Engine) bool {
		_, err := e.Resolve(ref)
		return err == nil || byAddr // an address is reached at once, below
	})
	if err != nil {
		return nil, peer.PeerInfo{}, nil, err
	}
	p, err := eng.Resolve(ref)
	if errors.Is(err, peer.ErrNoPeer) {
		if byAddr {
			// Not announced: reach it by address, which says what went
			// wrong (refused, a changed key, a lying info) if it fails.
			p, err = eng.AddPeer(ctx, ref)
		}
	}
	if err != nil {
		stop()
		return nil, peer.PeerInfo{}, nil, err
	}
	return eng, p, stop, nil
}

func cmdLs(o *options) error {
	if len(o.args) != 1 {
		return usageError("needs exactly one PEER[/PATH]")
	}
	ref, path := splitRef(o.args[0])
	ctx, cancelSig := signalContext()
	defer cancelSig()
	eng, p, stop, err := o.findPeer(ctx, ref)
	if err != nil {
		return err
	}
	defer stop()
	entries, err := eng.List(ctx, p.ID, path)
	if err != nil {
		return err
	}
	if o.bool("json") {
		if entries == nil {
			entries = []share.Entry{}
		}
		return o.printJSON(entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(o.stdout, "%s shares nothing here.\n", p.Name)
		return nil
	}
	tw := tabwriter.NewWriter(o.stdout, 2, 8, 2, ' ', tabwriter.AlignRight)
	for _, e := range entries {
		name := e.Name
		if e.Dir {
			name += "/"
		}
		fmt.Fprintf(tw, "%s\t  %s\t\n", human.Bytes(e.Size), name)
	}
	return tw.Flush()
}

func cmdGet(o *options) error {
	if len(o.args) == 0 {
		return usageError("needs at least one PEER/PATH")
	}
	to := o.str("to", o.downloads)
	ctx, cancelSig := signalContext()
	defer cancelSig()
	for _, arg := range o.args {
		ref, path := splitRef(arg)
		if path == "" {
			return usageError("%q: say which file or folder, as PEER/PATH", arg)
		}
		eng, p, stop, err := o.findPeer(ctx, ref)
		if err != nil {
			return err
		}
		dir := to
		if dir == "" {
			dir = eng.Settings().DownloadDir
		}
		bar := newProgressBar(o.stderr, filepath.Base(path))
		res, err := eng.Get(ctx, p.ID, path, dir, bar.update)
		bar.finish()
		stop()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted; run the same command again to resume")
			}
			return err
		}
		fmt.Fprintf(o.stderr, "%s: %d files, %s into %s (%s skipped as already present), sources: %d\n",
			res.Target, res.Files, human.Bytes(res.Bytes), dir, human.Bytes(res.SkippedBytes), res.Sources)
	}
	return nil
}

// searchJSON is one result in `porch search --json`.
type searchJSON struct {
	Name      string         `json:"name"`
	Path      string         `json:"path"`
	Size      int64          `json:"size"`
	Dir       bool           `json:"dir"`
	ContentID string         `json:"cid"`
	Peers     []peer.PeerRef `json:"peers"`
}

func cmdSearch(o *options) error {
	if len(o.args) == 0 {
		return usageError("needs TEXT to search for")
	}
	text := strings.Join(o.args, " ")
	if _, err := share.ParseQuery(text); err != nil {
		return usageError("%v", err)
	}
	ctx, eng, stop, err := o.browse()
	if err != nil {
		return err
	}
	defer stop()
	if o.bool("json") {
		results, err := eng.Search(ctx, text)
		if err != nil {
			return err
		}
		out := []searchJSON{}
		for _, r := range results {
			out = append(out, searchJSON{r.Entry.Name, r.Entry.Path, r.Entry.Size, r.Entry.Dir, r.Entry.ContentID, r.Peers})
		}
		return o.printJSON(out)
	}
	// Lines appear as each neighbour answers; a holder found later for a
	// result already shown gets a line of its own below.
	shown := map[string]map[string]bool{} // result -> ids of the holders shown
	_, err = eng.SearchEach(ctx, text, func(results []peer.SearchResult, _, _ int) {
		for _, r := range results {
			key := resultKey(r)
			have := shown[key]
			var names []string
			for _, p := range r.Peers {
				if !have[p.ID] {
					names = append(names, p.Name)
				}
			}
			switch {
			case len(names) == 0:
				continue
			case have == nil:
				have = map[string]bool{}
				shown[key] = have
				fmt.Fprintf(o.stdout, "%9s  %s  %s\n", human.Bytes(r.Entry.Size), r.Entry.Path, strings.Join(names, ", "))
			default:
				fmt.Fprintf(o.stdout, "%9s  %s  also on %s\n", "", r.Entry.Path, strings.Join(names, ", "))
			}
			for _, p := range r.Peers {
				have[p.ID] = true
			}
		}
	})
	if err != nil {
		return err
	}
	if len(shown) == 0 {
		fmt.Fprintf(o.stdout, "Nothing matches %q on %d neighbours.\n", text, len(eng.Peers()))
	}
	return nil
}

// resultKey tells search results apart as the engine groups them: a file by
// its content id, anything else by where it is.
func resultKey(r peer.SearchResult) string {
	if !r.Entry.Dir && r.Entry.ContentID != "" {
		return r.Entry.ContentID
	}
	return r.Peers[0].ID + "/" + r.Entry.Path
}
