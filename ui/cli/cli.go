package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"

	"porch/peer"
	"porch/ui/human"
)

// defaultPort is the fixed, documented port Porch listens on (a firewall rule
// can name it); when it is taken Porch falls back to a free port.
const defaultPort = peer.DefaultPort

// memoryLimit is the soft memory limit of a porch process (GOMEMLIMIT
// overrides it). It is not a cap: the heap may pass it when that much is
// live.
const memoryLimit = 256 << 20

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
			{"hidden", flagBool, "", "do not announce on the network (neighbours can still be added by address)"},
			acceptFlag},
		cmdServe},
	{"share add", "PATH...", "share files or folders", []flagSpec{toFlag, waitFlag}, cmdShareAdd},
	{"share set", "PATH...", "change who may see shared items (by path or shared name)", []flagSpec{toFlag, waitFlag}, cmdShareSet},
	{"share rm", "PATH...", "stop sharing files or folders (by path or shared name)", nil, cmdShareRm},
	{"share ls", "", "list what this machine shares", []flagSpec{jsonFlag}, cmdShareLs},
	{"share rescan", "", "ask the running Porch to look through every share now", nil, cmdShareRescan},
	{"share secrets", "[release|keep PATH...]", "list the shared files held back because they look like secrets; release shares one after all, keep keeps it private",
		[]flagSpec{jsonFlag}, cmdShareSecrets},
	{"peers", "", "list neighbours seen on the network", []flagSpec{waitFlag, jsonFlag}, cmdPeers},
	{"ls", "PEER[/PATH]", "browse a neighbour's shares", []flagSpec{waitFlag, jsonFlag}, cmdLs},
	{"get", "PEER/PATH...", "download files or folders (resumes, verifies, uses every source)",
		[]flagSpec{waitFlag, {"to", flagString, "DIR", "destination folder (default: --downloads)"}}, cmdGet},
	{"search", "TEXT", "search every neighbour's shares at once (words, \"a phrase\", -word, ext:flac, size>100MB, type:folder)", []flagSpec{waitFlag, jsonFlag}, cmdSearch},
	{"trust", "PEER", "pair with a neighbour: compare the code both machines show, then confirm",
		[]flagSpec{waitFlag, {"yes", flagBool, "", "trust without asking (after comparing the code)"}}, cmdTrust},
	{"trust ls", "", "list the trusted neighbours", []flagSpec{jsonFlag}, cmdTrustLs},
	{"untrust", "PEER", "stop trusting a neighbour (by name or id prefix)", nil, cmdUntrust},
	{"forget", "PEER", "forget the old key of a neighbour refused for a changed key, so its new key is accepted", []flagSpec{waitFlag}, cmdForget},
	{"send", "PEER PATH...", "offer files or folders to a neighbour; it accepts or declines, then fetches them (exit 0 once it has them all); or send them to a LocalSend device",
		[]flagSpec{waitFlag, pinFlag}, cmdSend},
	{"fetch", "DEVICE", "download what a LocalSend device offers for download (LocalSend: Send → Share via link)",
		[]flagSpec{waitFlag, pinFlag, {"to", flagString, "DIR", "destination folder (default: --downloads)"}}, cmdFetch},
}

var (
	jsonFlag = flagSpec{"json", flagBool, "", "print one JSON document"}
	waitFlag = flagSpec{"wait", flagString, "DUR", "how long to look for neighbours (default 2s; ls and get stop as soon as PEER answers, within 5s)"}
)

// options is a parsed command line with the I/O a command uses.
type options struct {
	parsed
	cmd       *command
	window    WindowFunc
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	log       *slog.Logger
	dataDir   string
	downloads string
}

// WindowFunc opens the window over eng and blocks until it is closed; the
// engine runs on ctx meanwhile. The command line never imports Fyne: main
// passes ui.Run.
type WindowFunc func(ctx context.Context, eng *peer.Engine) error

// Main executes the command line argv (without the program name) and returns
// the exit status: 0 success, 1 failure (one line on stderr), 2 bad usage.
// With no command it opens the window through window, which may be nil in a
// build without one.
func Main(argv []string, stdout, stderr io.Writer, window WindowFunc) int {
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
	o := &options{parsed: p, cmd: cmd, stdin: os.Stdin, stdout: stdout, stderr: stderr, window: window}
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
	// What the standard library logs on its own (net/http's "Unsolicited
	// response" for bytes a peer sent unasked, among others) is about a
	// peer's misbehaviour, which is handled: it goes to the debug log, not
	// to the terminal as it is.
	log.SetFlags(0)
	log.SetOutput(debugWriter{o.log})
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit: the collector works harder as the heap nears it
		// instead of letting it grow to twice what is live, so a big index
		// or a long listing costs what it holds, not double.
		debug.SetMemoryLimit(memoryLimit)
	}
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

// defaults fills in the data folder and reads --downloads (when it is not
// given, the engine's settings say where downloads land).
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
	return nil
}

// engine builds the peer engine from the command line. clientOnly engines
// neither serve nor announce: they browse and download for one command.
func (o *options) engine(clientOnly bool) (*peer.Engine, error) {
	var maxUp int64
	if v := o.str("max-upload", ""); v != "" {
		r, err := human.ParseRate(v)
		if err != nil {
			return nil, usageError("--max-upload: %v", err)
		}
		maxUp = r
	}
	accept, err := o.acceptPolicy()
	if err != nil {
		return nil, err
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
		Accept:      accept,
		Prompt:      o.cmd == nil, // the window asks about offers
		Logger:      o.log,

		LocalSend:    o.localSend(),
		LocalSendPIN: o.str("localsend-pin", ""),
	})
}

// signalContext is cancelled by SIGINT or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// runWindow opens the window over an engine that serves and announces.
func runWindow(o *options) error {
	if o.window == nil {
		return errors.New("this build of porch has no window; run 'porch --help' for the commands")
	}
	eng, err := o.engine(false)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	return o.window(ctx, eng)
}

// debugWriter passes what is written to it to a logger at debug level, a
// line at a time, cut to 200 bytes.
type debugWriter struct{ log *slog.Logger }

func (d debugWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	d.log.Debug("net/http", "msg", line)
	return len(p), nil
}
