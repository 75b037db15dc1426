package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"porch/peer"
	"porch/share"
	"porch/ui"
)

// defaultPort is the fixed, documented port Porch listens on (a firewall rule
// can name it); when it is taken Porch falls back to a free port.
const defaultPort = peer.DefaultPort

// errStopped is what a command returns when it was interrupted by a signal.
var errStopped = errors.New("stopped")

// command is one entry of the dispatch table.
type command struct {
	name  string // "share add"
	args  string // positional arguments in help
	short string
	flags []flagSpec
	run   func(o *options) error
}

var commands = []command{
	{"serve", "", "run the peer engine without a window until SIGINT/SIGTERM",
		[]flagSpec{{"max-upload", flagString, "RATE", "upload limit such as 20MB/s (default unlimited)"},
			{"hidden", flagBool, "", "do not announce on the network (neighbours can still be added by address)"}},
		cmdServe},
	{"share add", "PATH...", "share files or folders", nil, cmdShareAdd},
	{"share rm", "PATH...", "stop sharing files or folders (by path or shared name)", nil, cmdShareRm},
	{"share ls", "", "list what this machine shares", []flagSpec{jsonFlag}, cmdShareLs},
	{"peers", "", "list neighbours seen on the network", []flagSpec{waitFlag, jsonFlag}, cmdPeers},
	{"ls", "PEER[/PATH]", "browse a neighbour's shares", []flagSpec{waitFlag, jsonFlag}, cmdLs},
	{"get", "PEER/PATH...", "download files or folders (resumes, verifies, uses every source)",
		[]flagSpec{waitFlag, {"to", flagString, "DIR", "destination folder (default: --downloads)"}}, cmdGet},
	{"search", "TEXT", "search every neighbour's shares at once", []flagSpec{waitFlag, jsonFlag}, cmdSearch},
}

var (
	jsonFlag = flagSpec{"json", flagBool, "", "print one JSON document"}
	waitFlag = flagSpec{"wait", flagString, "DUR", "how long to look for neighbours (default 2s; ls and get stop as soon as PEER answers, within 5s)"}
)

// options is a parsed command line with the I/O a command uses.
type options struct {
	parsed
	cmd       *command
	stdout    io.Writer
	stderr    io.Writer
	log       *slog.Logger
	dataDir   string
	downloads string
}

// run executes the command line and returns the exit status.
func run(argv []string) int {
	return runWith(argv, os.Stdout, os.Stderr)
}

func runWith(argv []string, stdout, stderr io.Writer) int {
	cmd, rest := findCommand(argv)
	specs := append([]flagSpec{}, globalFlags...)
	if cmd != nil {
		specs = append(specs, cmd.flags...)
	}
	p, err := parseArgs(rest, specs)
	if err == nil && cmd == nil && len(p.args) > 0 {
		err = usageError("unknown command %q", strings.Join(p.args, " "))
	}
	if err != nil {
		fmt.Fprintf(stderr, "porch: %v\n", strings.TrimPrefix(err.Error(), "usage: "))
		fmt.Fprintln(stderr, "Run 'porch --help' for usage.")
		return 2
	}
	if p.bool("help") {
		printHelp(stdout, cmd)
		return 0
	}
	o := &options{parsed: p, cmd: cmd, stdout: stdout, stderr: stderr}
	// One-shot commands speak through their output; the long-running ones
	// (the window, serve) log what happens on the network.
	level := slog.LevelWarn
	if cmd == nil || cmd.name == "serve" {
		level = slog.LevelInfo
	}
	if p.bool("verbose") {
		level = slog.LevelDebug
	}
	o.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := o.defaults(); err != nil {
		fmt.Fprintf(stderr, "porch: %v\n", err)
		return 1
	}
	if cmd == nil {
		err = runWindow(o)
	} else {
		err = cmd.run(o)
	}
	switch {
	case err == nil, errors.Is(err, errStopped):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "porch %s: %s\n", cmd.name, strings.TrimPrefix(err.Error(), "usage: "))
		fmt.Fprintf(stderr, "Run 'porch %s --help' for usage.\n", cmd.name)
		return 2
	default:
		fmt.Fprintf(stderr, "porch: %v\n", err)
		return 1
	}
}

// findCommand finds the command named by the first positional arguments
// (one or two words) wherever flags stand, and returns the arguments without
// the command words.
func findCommand(argv []string) (*command, []string) {
	var words []int // indexes of the first two positional arguments
	for i := 0; i < len(argv) && len(words) < 2; i++ {
		a := argv[i]
		if a == "--" {
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			if !strings.Contains(a, "=") && takesValue(strings.TrimLeft(a, "-")) {
				i++
			}
			continue
		}
		words = append(words, i)
	}
	without := func(idx ...int) []string {
		var out []string
	next:
		for i, a := range argv {
			for _, k := range idx {
				if i == k {
					continue next
				}
			}
			out = append(out, a)
		}
		return out
	}
	if len(words) >= 2 {
		two := argv[words[0]] + " " + argv[words[1]]
		for i := range commands {
			if commands[i].name == two {
				return &commands[i], without(words[0], words[1])
			}
		}
	}
	if len(words) >= 1 {
		for i := range commands {
			if commands[i].name == argv[words[0]] {
				return &commands[i], without(words[0])
			}
		}
		if argv[words[0]] == "share" {
			return nil, argv // "share" alone or with an unknown verb: usage error below
		}
	}
	return nil, argv
}

// takesValue reports whether any command's flag of that name takes a value,
// so that findCommand can skip it.
func takesValue(name string) bool {
	if k := strings.IndexByte(name, '='); k >= 0 {
		return false
	}
	all := append([]flagSpec{}, globalFlags...)
	for _, c := range commands {
		all = append(all, c.flags...)
	}
	for _, f := range all {
		if f.name == name {
			return f.kind != flagBool
		}
	}
	return false
}

func printHelp(w io.Writer, cmd *command) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	flagLines := func(specs []flagSpec) {
		for _, f := range specs {
			name := "--" + f.name
			if f.value != "" {
				name += " " + f.value
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, f.help)
		}
	}
	if cmd == nil {
		fmt.Fprintln(w, "Porch shares files with the computers around you.")
		fmt.Fprintln(w, "\nUsage:")
		fmt.Fprintf(tw, "  porch\topen the window (the default)\n")
		for _, c := range commands {
			fmt.Fprintf(tw, "  porch %s %s\t%s\n", c.name, c.args, c.short)
		}
		tw.Flush()
		fmt.Fprintln(w, "\nFlags every command takes:")
		flagLines(globalFlags)
		tw.Flush()
		fmt.Fprintln(w, "\nPEER is a display name, an id prefix or host:port. Flags may stand before or after arguments.")
		fmt.Fprintln(w, "Exit status: 0 success, 1 failure, 2 bad usage.")
		return
	}
	fmt.Fprintf(w, "Usage: porch %s %s\n\n%s.\n", cmd.name, cmd.args, upperFirst(cmd.short))
	if len(cmd.flags) > 0 {
		fmt.Fprintln(w, "\nFlags:")
		flagLines(cmd.flags)
		tw.Flush()
	}
	fmt.Fprintln(w, "\nFlags every command takes:")
	flagLines(globalFlags)
	tw.Flush()
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// defaults fills in the data and download folders.
func (o *options) defaults() error {
	o.dataDir = o.str("data", "")
	if o.dataDir == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return fmt.Errorf("no --data given and no config dir: %w", err)
		}
		o.dataDir = filepath.Join(dir, "porch")
	}
	o.downloads = o.str("downloads", "")
	if o.downloads == "" {
		o.downloads = peer.DefaultDownloadDir()
	}
	return nil
}

// engine builds the peer engine from the command line. clientOnly engines
// neither serve nor announce: they browse and download for one command.
func (o *options) engine(clientOnly bool) (*peer.Engine, error) {
	var maxUp int64
	if v := o.str("max-upload", ""); v != "" {
		r, err := ui.ParseRate(v)
		if err != nil {
			return nil, usageError("--max-upload: %v", err)
		}
		maxUp = r
	}
	return peer.New(peer.Options{
		DataDir:     o.dataDir,
		Name:        o.str("name", ""),
		Listen:      o.str("listen", ""),
		Ifaces:      o.list("iface"),
		StaticPeers: o.list("peer"),
		DownloadDir: o.downloads,
		MaxUpload:   maxUp,
		Hidden:      o.bool("hidden"),
		ClientOnly:  clientOnly,
		Logger:      o.log,
	})
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

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

func cmdShareAdd(o *options) error {
	if len(o.args) == 0 {
		return usageError("needs at least one PATH")
	}
	cat, err := share.OpenCatalog(o.dataDir)
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
	items, err := cat.Add(o.args...)
	if err != nil {
		return err
	}
	for _, it := range items {
		fmt.Fprintf(o.stdout, "sharing %s as %q\n", it.Path, it.Name)
	}
	return nil
}

func cmdShareRm(o *options) error {
	if len(o.args) == 0 {
		return usageError("needs at least one PATH")
	}
	cat, err := share.OpenCatalog(o.dataDir)
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
	items := cat.Items()
	if o.bool("json") {
		if items == nil {
			items = []share.Item{}
		}
		return o.printJSON(items)
	}
	if len(items) == 0 {
		fmt.Fprintln(o.stdout, "Nothing shared yet. Add files or folders with: porch share add PATH")
		return nil
	}
	tw := tabwriter.NewWriter(o.stdout, 2, 8, 2, ' ', 0)
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\n", it.Name, it.Path)
	}
	return tw.Flush()
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
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := eng.Run(runCtx); err != nil && runCtx.Err() == nil {
			o.log.Error("engine stopped", "err", err)
		}
	}()
	stop := func() { cancel(); <-done }
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if want != nil && want(eng) {
			break
		}
		select {
		case <-ctx.Done():
			stop()
			return nil, nil, errStopped
		case <-time.After(50 * time.Millisecond):
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
}

func cmdPeers(o *options) error {
	if len(o.args) > 0 {
		return usageError("takes no arguments")
	}
	ctx, cancelSig := signalContext()
	defer cancelSig()
	eng, stop, err := o.clientEngine(ctx, nil)
	if err != nil {
		return err
	}
	defer stop()
	peers := eng.Peers()
	if o.bool("json") {
		out := []peerJSON{}
		for _, p := range peers {
			out = append(out, peerJSON{p.ID, p.Name, p.Addrs, p.Port, p.Fingerprint, p.Online, p.Files, p.Bytes, p.KeyChanged})
		}
		return o.printJSON(out)
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
		state := fmt.Sprintf("%d files, %s", p.Files, humanBytes(p.Bytes))
		if p.KeyChanged {
			state = "KEY CHANGED: refused"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, p.ID[:8], addr, state)
	}
	return tw.Flush()
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
	eng, stop, err := o.clientEngine(ctx, func(e *peer.Engine) bool {
		_, err := e.Resolve(ref)
		return err == nil
	})
	if err != nil {
		return nil, peer.PeerInfo{}, nil, err
	}
	p, err := eng.Resolve(ref)
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
		fmt.Fprintf(tw, "%s\t  %s\t\n", humanBytes(e.Size), name)
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
		bar := newProgressBar(o.stderr, filepath.Base(path))
		res, err := eng.Get(ctx, p.ID, path, to, bar.update)
		bar.finish()
		stop()
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted; run the same command again to resume")
			}
			return err
		}
		fmt.Fprintf(o.stderr, "%s: %d files, %s into %s (%s skipped as already present), sources: %d\n",
			res.Target, res.Files, humanBytes(res.Bytes), to, humanBytes(res.SkippedBytes), res.Sources)
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
	ctx, cancelSig := signalContext()
	defer cancelSig()
	eng, stop, err := o.clientEngine(ctx, nil)
	if err != nil {
		return err
	}
	defer stop()
	results, err := eng.Search(ctx, text)
	if err != nil {
		return err
	}
	if o.bool("json") {
		out := []searchJSON{}
		for _, r := range results {
			out = append(out, searchJSON{r.Entry.Name, r.Entry.Path, r.Entry.Size, r.Entry.Dir, r.Entry.ContentID, r.Peers})
		}
		return o.printJSON(out)
	}
	if len(results) == 0 {
		fmt.Fprintf(o.stdout, "Nothing matches %q on %d neighbours.\n", text, len(eng.Peers()))
		return nil
	}
	tw := tabwriter.NewWriter(o.stdout, 2, 8, 2, ' ', 0)
	for _, r := range results {
		var names []string
		for _, p := range r.Peers {
			names = append(names, p.Name)
		}
		sort.Strings(names)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", humanBytes(r.Entry.Size), r.Entry.Path, strings.Join(names, ", "))
	}
	return tw.Flush()
}

// humanBytes formats a byte count as "12.3 MB".
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
