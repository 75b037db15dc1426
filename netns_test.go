package main

// The real-network test harness: several peers, each in its own Linux network namespace, joined
// by a bridge in a "hub" namespace. Addresses (10.213.0.0/24) exist only inside those
// namespaces, and no link is ever created in the namespace the tests run in, so nothing the tests
// send (mDNS multicast included) can leave through the machine's own interfaces.
//
// As root the harness uses `ip netns` directly. As any other user, TestMain re-executes the test
// binary inside `unshare --user --map-root-user --net --mount` with a tmpfs on /run, where
// `ip netns` works without sudo; where that is unavailable the namespace tests skip and say why.
//
// Usage:
//
//	n := newTestNet(t, 3)                       // alice, bob, carol
//	n.Start(t, 0, "serve")                      // porch serve --data … --name alice --iface porch0 …
//	out, errOut, code := n.Run(t, 1, "peers", "--json", "--wait", "3s")
//	waitFor(t, 10*time.Second, func() bool { … })
//
// TestMain builds porch once (PORCH_E2E_RACE=1 builds it with -race; PORCH_E2E_BIN=path tests a
// prebuilt binary instead). If the build fails, every end-to-end test fails with its output.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	envUserns   = "PORCH_TEST_USERNS"    // set in the re-executed child: already inside unshare
	envBin      = "PORCH_TEST_BIN"       // path of the porch binary built by the parent
	envBuildErr = "PORCH_TEST_BUILD_ERR" // why building porch failed, passed to the child
	envHelper   = "PORCH_TEST_HELPER"    // run the test binary as a small network helper
	envRace     = "PORCH_E2E_RACE"       // "1": build the porch binary under test with -race
	envPrebuilt = "PORCH_E2E_BIN"        // test this porch binary instead of building one

	peerIface = "porch0"      // name of each peer's veth inside its namespace
	subnet    = "10.213.0."   // /24; peer i is subnet+(10+i)
	mdnsGroup = "224.0.0.251" // mDNS
)

var (
	netnsSkip string // non-empty: why namespace tests cannot run here
	porchBin  string // the porch binary for end-to-end tests
	porchErr  string // non-empty: building porch failed

	netSeq atomic.Int64 // numbers testNets within this process, for unique namespace names
)

// peerNames are the display names of a testNet's peers, in order.
var peerNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}

func TestMain(m *testing.M) {
	if h := os.Getenv(envHelper); h != "" {
		os.Exit(runHelper(h, os.Args[1:]))
	}
	code := testMain(m)
	os.Exit(code)
}

func testMain(m *testing.M) int {
	if os.Getenv(envUserns) != "" { // child: the parent built porch and set up the namespaces
		porchBin, porchErr = os.Getenv(envBin), os.Getenv(envBuildErr)
		netnsSkip = checkTools()
		defer removeFaultBinary()
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "porch-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "porch e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	buildPorch(dir) // before any unshare: the build may need the module proxy

	if os.Geteuid() != 0 {
		if reason := probeUserns(); reason != "" {
			netnsSkip = reason
		} else {
			return reexecUserns()
		}
	}
	if netnsSkip == "" {
		netnsSkip = checkTools()
	}
	defer removeFaultBinary()
	return m.Run()
}

// buildPorch builds the binary under test once, with the toolchain that built this test
// (or takes $PORCH_E2E_BIN as it is).
func buildPorch(dir string) {
	if p := os.Getenv(envPrebuilt); p != "" {
		abs, err := filepath.Abs(p)
		if _, serr := os.Stat(abs); err != nil || serr != nil {
			porchErr = fmt.Sprintf("%s=%s: not usable: %v %v", envPrebuilt, p, err, serr)
		}
		porchBin = abs
		return
	}
	porchBin = filepath.Join(dir, "porch")
	if out, err := goBuild(porchBin); err != nil {
		porchErr = fmt.Sprintf("go build failed: %v\n%s", err, out)
	}
}

// goBuild builds porch into out with the toolchain that built this test, adding extra flags.
func goBuild(out string, extra ...string) ([]byte, error) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	args := append([]string{"build", "-o", out}, extra...)
	if os.Getenv(envRace) == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool, append(args, ".")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if os.Getenv(envUserns) != "" {
		cmd.Env = append(cmd.Env, "GOPROXY=off") // offline in here: fail at once, not after timeouts
	}
	return cmd.CombinedOutput()
}

var (
	faultOnce sync.Once
	faultDir  string // holds faultBin; removed when the tests end
	faultBin  string // porch built with -tags porchfault (test-only fault hooks, see peer/wire/fault_*.go)
	faultErr  string
)

// faultBinary is a porch binary built with -tags porchfault, built on first use. It runs where
// the tests run (inside the namespace, offline): GOPROXY=off, the modules are already in the
// cache from building porchBin. Tests that need it fail if it cannot be built.
func faultBinary(t *testing.T) string {
	t.Helper()
	needPorch(t)
	faultOnce.Do(func() {
		dir, err := os.MkdirTemp("", "porch-fault-")
		if err != nil {
			faultErr = err.Error()
			return
		}
		faultDir = dir
		bin := filepath.Join(dir, "porch")
		t0 := time.Now()
		out, err := goBuild(bin, "-tags", "porchfault")
		if err != nil {
			faultErr = fmt.Sprintf("go build -tags porchfault failed: %v\n%s", err, out)
			return
		}
		t.Logf("built %s with -tags porchfault in %v", bin, time.Since(t0).Round(time.Millisecond))
		faultBin = bin
	})
	if faultErr != "" {
		t.Fatal(faultErr)
	}
	return faultBin
}

func removeFaultBinary() {
	if faultDir != "" {
		os.RemoveAll(faultDir)
	}
}

// probeUserns reports why an unprivileged user+net+mount namespace cannot be made, or "".
func probeUserns() string {
	if _, err := exec.LookPath("unshare"); err != nil {
		return "not root and unshare(1) is missing (util-linux); run as root or install it"
	}
	out, err := exec.Command("unshare", "--user", "--map-root-user", "--net", "--mount",
		"--propagation", "private", "true").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("not root and unprivileged user namespaces are unavailable "+
			"(unshare: %v: %s); run as root to test with network namespaces",
			err, strings.TrimSpace(string(out)))
	}
	return ""
}

// reexecUserns runs this test binary again as "root" of a fresh user, mount and network
// namespace, with private tmpfs on /run (and /var/run) so `ip netns` can keep its mounts there.
func reexecUserns() int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "porch e2e:", err)
		return 1
	}
	script := `mount -t tmpfs porch-run /run && ` +
		`{ [ -L /var/run ] || mount -t tmpfs porch-varrun /var/run; } && exec "$0" "$@"`
	args := append([]string{"--user", "--map-root-user", "--net", "--mount", "--propagation",
		"private", "--", "/bin/sh", "-c", script, exe}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envUserns+"=1", envBin+"="+porchBin, envBuildErr+"="+porchErr)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() >= 0 {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "porch e2e: re-exec under unshare:", err)
		return 1
	}
	return 0
}

// checkTools reports a missing tool the harness needs, or "".
func checkTools() string {
	if _, err := exec.LookPath("ip"); err != nil {
		return "ip(8) is missing (install iproute2, e.g. scripts/deps.sh test)"
	}
	return ""
}

// requireNetns skips t when namespaces cannot be made here (never in CI, where it fails).
func requireNetns(t *testing.T) {
	t.Helper()
	if netnsSkip == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("network namespaces unavailable in CI: %s", netnsSkip)
	}
	t.Skip("network namespaces unavailable: " + netnsSkip)
}

// needPorch fails t if the porch binary could not be built.
func needPorch(t *testing.T) {
	t.Helper()
	if porchErr != "" {
		t.Fatal(porchErr)
	}
}

// testNet is a hub namespace holding bridge br0 and one namespace per peer, joined to the
// bridge by a veth pair whose peer end is named porch0 inside the peer's namespace.
// Its methods must be called from the test goroutine (Start, Run call t.Fatal).
type testNet struct {
	id    string // "porch-<pid>-<n>": prefix of every namespace name
	hub   string
	nodes []*node
	logs  string // stdout/stderr files of every process started
}

// node is one peer's namespace and directories.
type node struct {
	ns        string
	name      string // display name: alice, bob, ...
	addr      string // 10.213.0.(10+i)
	data      string // --data of the peer's serve/window process
	cliData   string // --data of one-shot CLI commands run in this namespace (its own identity)
	downloads string
	home      string // HOME, XDG dirs: keeps Fyne and everything else off the real home
}

// newTestNet makes n peers, named alice, bob, carol... Everything is removed in t.Cleanup,
// after the processes started on it have been stopped.
func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	requireNetns(t)
	if n < 1 || n > len(peerNames) {
		t.Fatalf("newTestNet: %d peers, want 1..%d", n, len(peerNames))
	}
	id := fmt.Sprintf("porch-%d-%d", os.Getpid(), netSeq.Add(1))
	tn := &testNet{id: id, hub: id + "-hub", logs: t.TempDir()}
	t.Cleanup(func() { tn.destroy(t) }) // registered first, so it runs after the processes' cleanups

	ip(t, "netns", "add", tn.hub)
	ip(t, "-n", tn.hub, "link", "set", "lo", "up")
	// Snooping off: mDNS (224.0.0.251) must flood to every port, whatever IGMP the peers send.
	ip(t, "-n", tn.hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	ip(t, "-n", tn.hub, "link", "set", "br0", "up")
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		nd := &node{
			ns:        fmt.Sprintf("%s-%d", id, i),
			name:      peerNames[i],
			addr:      subnet + strconv.Itoa(10+i),
			data:      filepath.Join(dir, "data"),
			cliData:   filepath.Join(dir, "cli"),
			downloads: filepath.Join(dir, "downloads"),
			home:      filepath.Join(dir, "home"),
		}
		for _, d := range []string{nd.data, nd.cliData, nd.downloads, nd.home} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		tn.nodes = append(tn.nodes, nd)
		ip(t, "netns", "add", nd.ns)
		// No duplicate address detection: link-local IPv6 is usable at once.
		if out, err := exec.Command("ip", "netns", "exec", nd.ns, "sysctl", "-qw",
			"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0").CombinedOutput(); err != nil {
			t.Logf("sysctl accept_dad in %s: %v %s", nd.ns, err, out)
		}
		veth := "vh" + strconv.Itoa(i)
		// Created inside the hub namespace, its other end moved straight into the peer's.
		ip(t, "-n", tn.hub, "link", "add", veth, "type", "veth", "peer", "name", peerIface, "netns", nd.ns)
		ip(t, "-n", tn.hub, "link", "set", veth, "master", "br0", "up")
		ip(t, "-n", nd.ns, "link", "set", "lo", "up", "multicast", "on")
		ip(t, "-n", nd.ns, "addr", "add", nd.addr+"/24", "dev", peerIface)
		ip(t, "-n", nd.ns, "link", "set", peerIface, "up", "multicast", "on")
		ip(t, "-n", nd.ns, "route", "add", "224.0.0.0/4", "dev", peerIface)
	}
	return tn
}

// ip runs ip(8) and fails t if it fails.
func ip(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// destroy kills whatever still runs in the namespaces (only processes this test started can be
// there) and deletes them.
func (tn *testNet) destroy(t *testing.T) {
	nss := []string{tn.hub}
	for _, nd := range tn.nodes {
		nss = append(nss, nd.ns)
	}
	for _, ns := range nss {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				t.Logf("netns %s: killing leftover process %d", ns, pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for i := len(nss) - 1; i >= 0; i-- {
		if out, err := exec.Command("ip", "netns", "del", nss[i]).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v %s", nss[i], err, out)
		}
	}
}

// Name, Addr, Data, CLIData, Downloads, NS: peer i's display name, address, directories and
// namespace.
func (tn *testNet) Name(i int) string      { return tn.nodes[i].name }
func (tn *testNet) Addr(i int) string      { return tn.nodes[i].addr }
func (tn *testNet) Data(i int) string      { return tn.nodes[i].data }
func (tn *testNet) CLIData(i int) string   { return tn.nodes[i].cliData }
func (tn *testNet) Downloads(i int) string { return tn.nodes[i].downloads }
func (tn *testNet) NS(i int) string        { return tn.nodes[i].ns }

// env is the environment of every process started in peer i's namespace.
func (tn *testNet) env(i int, extra []string) []string {
	h := tn.nodes[i].home
	env := append(os.Environ(), "HOME="+h, "XDG_CONFIG_HOME="+filepath.Join(h, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(h, ".cache"), "XDG_DATA_HOME="+filepath.Join(h, ".local/share"))
	return append(env, extra...)
}

// porchArgs appends the default flags a peer's porch gets, unless args already name them.
func (tn *testNet) porchArgs(i int, data string, withName bool, args []string) []string {
	nd := tn.nodes[i]
	out := append([]string(nil), args...)
	add := func(flag, val string) {
		if !hasFlag(args, flag) {
			out = append(out, flag, val)
		}
	}
	add("--data", data)
	if withName {
		add("--name", nd.name)
	}
	add("--iface", peerIface)
	add("--downloads", nd.downloads)
	return out
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// Start runs `porch ARGS...` in peer i's namespace in the background, with --data Data(i),
// --name Name(i), --iface porch0 and --downloads Downloads(i) unless ARGS name them. It is
// stopped (SIGTERM, SIGKILL after 5 s) in t.Cleanup; on failure its stderr tail is logged.
func (tn *testNet) Start(t *testing.T, i int, args ...string) *proc {
	t.Helper()
	return tn.StartEnv(t, i, nil, args...)
}

// StartEnv is Start with extra environment variables ("K=V").
func (tn *testNet) StartEnv(t *testing.T, i int, env []string, args ...string) *proc {
	t.Helper()
	needPorch(t)
	return tn.StartBin(t, i, porchBin, env, args...)
}

// StartBin is StartEnv running another build of porch (e.g. faultBinary(t)).
func (tn *testNet) StartBin(t *testing.T, i int, bin string, env []string, args ...string) *proc {
	t.Helper()
	label := tn.nodes[i].name + " " + filepath.Base(bin) + " " + strings.Join(args, " ")
	if bin != porchBin {
		label += " [" + bin + "]"
	}
	argv := append([]string{bin}, tn.porchArgs(i, tn.nodes[i].data, true, args)...)
	return tn.Exec(t, i, label, env, argv...)
}

// Exec runs any command in peer i's namespace in the background, like Start.
func (tn *testNet) Exec(t *testing.T, i int, label string, env []string, argv ...string) *proc {
	t.Helper()
	seq := netSeq.Add(1)
	p := &proc{
		label:   label,
		outPath: filepath.Join(tn.logs, fmt.Sprintf("%d.stdout", seq)),
		errPath: filepath.Join(tn.logs, fmt.Sprintf("%d.stderr", seq)),
		done:    make(chan struct{}),
	}
	stdout, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(p.errPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", tn.nodes[i].ns}, argv...)...)
	p.cmd.Env = tn.env(i, env)
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	err = p.cmd.Start()
	stdout.Close()
	stderr.Close()
	if err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- %s (pid %d, %s) stderr tail:\n%s", p.label, p.Pid(), p.state(), tail(p.Stderr(), 40))
		}
	})
	return p
}

// Run runs one `porch ARGS...` command in peer i's namespace to completion (at most 3 minutes)
// with --data CLIData(i) (an identity of its own), --iface porch0 and --downloads Downloads(i)
// unless ARGS name them. exit is the exit status (-1 if killed by a signal).
func (tn *testNet) Run(t *testing.T, i int, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	needPorch(t)
	argv := append([]string{porchBin}, tn.porchArgs(i, tn.nodes[i].cliData, false, args)...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", tn.nodes[i].ns}, argv...)...)
	cmd.Env = tn.env(i, nil)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	exit = 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: porch %s: %v", tn.nodes[i].name, strings.Join(args, " "), err)
		}
		exit = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: porch %s: still running after 3 minutes\nstderr:\n%s",
			tn.nodes[i].name, strings.Join(args, " "), tail(e.String(), 40))
	}
	t.Logf("%s$ porch %s → exit %d\n%s", tn.nodes[i].name, strings.Join(args, " "), exit, tail(e.String(), 5))
	return o.String(), e.String(), exit
}

// proc is a process started by the harness.
type proc struct {
	label            string
	cmd              *exec.Cmd
	outPath, errPath string
	done             chan struct{} // closed when the process has been waited for
	err              error         // Wait's result, valid after done
}

// Pid is the process id (ip netns exec execs the command, so it is porch itself).
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits for the process to exit, sending SIGKILL after 5 s. It returns
// Wait's error (nil for exit status 0). Safe to call more than once.
func (p *proc) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Wait waits up to d for the process to exit by itself; ok is false if it is still running.
func (p *proc) Wait(d time.Duration) (exit int, ok bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(d):
		return 0, false
	}
}

// Exited reports whether the process has ended.
func (p *proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) state() string {
	if !p.Exited() {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// Stdout and Stderr are everything the process has written so far.
func (p *proc) Stdout() string { b, _ := os.ReadFile(p.outPath); return string(b) }
func (p *proc) Stderr() string { b, _ := os.ReadFile(p.errPath); return string(b) }

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond every 100 ms until it is true (returns true) or timeout passes (false).
func waitFor(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// helperArgv is the command line that runs this test binary as helper name inside a namespace.
func helperArgv(t *testing.T, name string, args ...string) (env []string, argv []string) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{envHelper + "=" + name}, append([]string{exe}, args...)
}

// runHelper runs the test binary as a small network tool (inside a namespace):
//
//	mcast-recv IFACE     waits up to 10 s for a datagram on mDNS's group and port, prints its sender
//	mcast-send IFACE     sends "porch-test" to mDNS's group and port every 100 ms for 10 s
func runHelper(name string, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "helper: want one argument, the interface")
		return 2
	}
	ifi, err := net.InterfaceByName(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	group := &net.UDPAddr{IP: net.ParseIP(mdnsGroup), Port: 5353}
	switch name {
	case "mcast-recv":
		c, err := net.ListenMulticastUDP("udp4", ifi, group)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				return 1
			}
			if string(buf[:n]) == "porch-test" {
				fmt.Println(from.IP)
				return 0
			}
		}
	case "mcast-send":
		c, err := net.DialUDP("udp4", nil, group)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		defer c.Close()
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			if _, err := c.Write([]byte("porch-test")); err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				return 1
			}
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "helper: unknown", name)
	return 2
}

// TestNetnsHarness checks the harness itself, without porch: unicast across the bridge, mDNS
// multicast from one peer reaching the others, and no test link in the tests' own namespace.
func TestNetnsHarness(t *testing.T) {
	n := newTestNet(t, 3)
	for _, to := range []int{1, 2} {
		out, err := exec.Command("ip", "netns", "exec", n.NS(0), "ping", "-c1", "-W2", n.Addr(to)).CombinedOutput()
		if err != nil {
			t.Fatalf("ping %s from %s: %v\n%s", n.Addr(to), n.Name(0), err, out)
		}
	}

	var recv []*proc
	for _, i := range []int{1, 2} {
		env, argv := helperArgv(t, "mcast-recv", peerIface)
		recv = append(recv, n.Exec(t, i, n.Name(i)+" mcast-recv", env, argv...))
	}
	time.Sleep(300 * time.Millisecond) // let the receivers join the group
	env, argv := helperArgv(t, "mcast-send", peerIface)
	send := n.Exec(t, 0, n.Name(0)+" mcast-send", env, argv...)
	for k, r := range recv {
		code, ok := r.Wait(15 * time.Second)
		if !ok || code != 0 {
			t.Errorf("%s received no mDNS multicast from %s (exit %d): %s", n.Name(k+1), n.Name(0), code, r.Stderr())
		} else if got := strings.TrimSpace(r.Stdout()); got != n.Addr(0) {
			t.Errorf("%s: multicast came from %q, want %s", n.Name(k+1), got, n.Addr(0))
		}
	}
	send.Kill()

	// The tests' own namespace has none of the harness's links.
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifs {
		if ifi.Name == peerIface || ifi.Name == "br0" || strings.HasPrefix(ifi.Name, "vh") {
			t.Errorf("link %s leaked into the tests' own namespace", ifi.Name)
		}
	}
}
