// Package netns is the real-network test harness: it runs processes in Linux network namespaces
// that the tests make and remove themselves, so that nothing a test sends (mDNS multicast
// included) can leave through the machine's own interfaces.
//
// It has two modes.
//
// A bridge of namespaces (New): several peers, each in a namespace of its own, joined by veth
// pairs to a bridge in a "hub" namespace. Addresses (10.213.0.0/24) exist only inside those
// namespaces, and no link is ever made in the namespace the tests run in. A package using it
// calls Main from its TestMain. As root, Main uses `ip netns` directly; as any other user it
// re-executes the test binary inside `unshare --user --map-root-user --net --mount` with a tmpfs
// on /run, where `ip netns` works without sudo.
//
//	func TestMain(m *testing.M) { os.Exit(netns.Main(m, nil)) }
//
//	n := netns.New(t, 3)                            // alice, bob, carol
//	p := n.Exec(t, 0, "server", nil, "/path/to/server", "--iface", netns.Iface)
//	out, errOut, code := n.Run(t, 1, nil, "/path/to/client", "ls")
//	netns.WaitFor(t, 10*time.Second, func() bool { … })
//
// A private namespace for one test (Isolate): the test binary re-runs that one test inside
// `unshare --net` (with a user namespace too when not root), where the only link is loopback,
// made up and multicast-capable. It needs no TestMain.
//
// Where namespaces cannot be made, both modes skip the test and say why; when $CI is set they
// fail it instead. The package knows nothing of porch: it starts whatever command it is given
// and leaves building, flags and output to its callers. It kills only processes it started (by
// PID) or that run inside namespaces it made, and removes every namespace it made.
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"porch/test/wait"
)

const (
	envUserns  = "PORCH_TEST_USERNS"  // set in the binary Main re-executed under unshare
	envHelper  = "PORCH_TEST_HELPER"  // run the test binary as a small network helper
	envIsolate = "PORCH_TEST_ISOLATE" // name of the one test Isolate re-executed the binary for

	// Iface is the name of each peer's veth inside its namespace.
	Iface = "porch0"

	subnet    = "10.213.0."   // /24; peer i is subnet+(10+i)
	mdnsGroup = "224.0.0.251" // mDNS
)

var (
	netnsSkip string // non-empty: why New cannot make namespaces here

	netSeq atomic.Int64 // numbers Nets and processes within this process, for unique names
)

// peerNames are the display names of a Net's first peers, in order; peer i from len(peerNames)
// on is "peerNN" (peer08, peer09, ...).
var peerNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}

// MaxPeers is the most peers New makes: addresses 10.213.0.10 to .109.
const MaxPeers = 100

// peerName is the display name of peer i.
func peerName(i int) string {
	if i < len(peerNames) {
		return peerNames[i]
	}
	return fmt.Sprintf("peer%02d", i)
}

// Main runs the tests of a package that uses New and returns the exit status for os.Exit.
//
// Run as a helper (see Helper), it runs the helper instead of the tests. Otherwise setup, if not
// nil, runs once in the process go test started, before anything is re-executed: work that
// needs the outside network (a build that may fetch modules) belongs there, and what it puts in
// the environment with os.Setenv reaches the tests even when they run re-executed. The teardown
// it returns (nil for none) runs in that same process after the tests.
func Main(m *testing.M, setup func() (teardown func())) int {
	if h := os.Getenv(envHelper); h != "" {
		return runHelper(h, os.Args[1:])
	}
	if os.Getenv(envUserns) != "" || os.Getenv(envIsolate) != "" {
		// Re-executed: the outer process ran setup.
		netnsSkip = checkTools()
		return m.Run()
	}
	if setup != nil {
		if teardown := setup(); teardown != nil {
			defer teardown()
		}
	}
	if os.Geteuid() != 0 {
		if reason := probeUserns(); reason != "" {
			netnsSkip = reason
			return m.Run()
		}
		return reexecUserns()
	}
	netnsSkip = checkTools()
	return m.Run()
}

// Offline reports whether this process runs inside a network namespace of the harness's making
// (re-executed by Main when not root, or by Isolate), where nothing outside can be reached.
func Offline() bool {
	return os.Getenv(envUserns) != "" || os.Getenv(envIsolate) != ""
}

// userns are the unshare(1) options that make the caller "root" of a fresh user namespace;
// root needs none.
func userns() []string {
	if os.Geteuid() == 0 {
		return nil
	}
	return []string{"--user", "--map-root-user"}
}

// probeUserns reports why an unprivileged user+net+mount namespace cannot be made, or "".
func probeUserns() string {
	if _, err := exec.LookPath("unshare"); err != nil {
		return "not root and unshare(1) is missing (util-linux); run as root or install it"
	}
	args := append(userns(), "--net", "--mount", "--propagation", "private", "true")
	out, err := exec.Command("unshare", args...).CombinedOutput()
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
		fmt.Fprintln(os.Stderr, "netns:", err)
		return 1
	}
	script := `mount -t tmpfs porch-run /run && ` +
		`{ [ -L /var/run ] || mount -t tmpfs porch-varrun /var/run; } && exec "$0" "$@"`
	args := append(userns(), "--net", "--mount", "--propagation",
		"private", "--", "/bin/sh", "-c", script, exe)
	cmd := exec.Command("unshare", append(args, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envUserns+"=1")
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() >= 0 {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "netns: re-exec under unshare:", err)
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

// unavailable skips t because namespaces cannot be made here, or fails it when $CI is set
// (CI runs as root and must run every namespace test).
func unavailable(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("network namespaces unavailable in CI: %s", reason)
	}
	t.Skip("network namespaces unavailable: " + reason)
}

// Require skips t (fails it in CI) when New cannot make namespaces here. New calls it; tests
// call it to skip before costly preparation.
func Require(t *testing.T) {
	t.Helper()
	if netnsSkip != "" {
		unavailable(t, netnsSkip)
	}
}

// Net is a hub namespace holding bridge br0 and one namespace per peer, joined to the bridge by
// a veth pair whose peer end is named Iface inside the peer's namespace. Its methods must be
// called from the test goroutine (Exec, Run call t.Fatal).
type Net struct {
	id     string // "porch-<pid>-<n>": prefix of every namespace name
	hub    string
	router string // the router's namespace once Route made it; "" before
	nodes  []*node
	logs   string // stdout/stderr files of every process started
}

// node is one peer's namespace and directories.
type node struct {
	ns   string
	name string   // display name: alice, bob, ...
	addr string   // 10.213.0.(10+i)
	dir  string   // the peer's own temporary folder
	home string   // HOME and XDG dirs, under dir: keeps everything off the real home
	via  []string // the route to the other subnet, once Route made one: "10.214.0.0/24 via 10.213.0.1"
}

// New makes n peers (1..MaxPeers), named alice, bob, carol... Everything is removed in t.Cleanup, after the
// processes started on it have been stopped. The package's TestMain must call Main.
func New(t *testing.T, n int) *Net {
	t.Helper()
	Require(t)
	if n < 1 || n > MaxPeers {
		t.Fatalf("netns.New: %d peers, want 1..%d", n, MaxPeers)
	}
	id := fmt.Sprintf("porch-%d-%d", os.Getpid(), netSeq.Add(1))
	tn := &Net{id: id, hub: id + "-hub", logs: t.TempDir()}
	t.Cleanup(func() { tn.destroy(t) }) // registered first, so it runs after the processes' cleanups

	ip(t, "netns", "add", tn.hub)
	ip(t, "-n", tn.hub, "link", "set", "lo", "up")
	// Snooping off: mDNS (224.0.0.251) must flood to every port, whatever IGMP the peers send.
	ip(t, "-n", tn.hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	ip(t, "-n", tn.hub, "link", "set", "br0", "up")
	for i := 0; i < n; i++ {
		dir := t.TempDir()
		nd := &node{
			ns:   fmt.Sprintf("%s-%d", id, i),
			name: peerName(i),
			addr: subnet + strconv.Itoa(10+i),
			dir:  dir,
			home: filepath.Join(dir, "home"),
		}
		if err := os.MkdirAll(nd.home, 0o755); err != nil {
			t.Fatal(err)
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
		ip(t, "-n", tn.hub, "link", "add", veth, "type", "veth", "peer", "name", Iface, "netns", nd.ns)
		ip(t, "-n", tn.hub, "link", "set", veth, "master", "br0", "up")
		ip(t, "-n", nd.ns, "link", "set", "lo", "up", "multicast", "on")
		ip(t, "-n", nd.ns, "addr", "add", nd.addr+"/24", "dev", Iface)
		ip(t, "-n", nd.ns, "link", "set", Iface, "up", "multicast", "on")
		ip(t, "-n", nd.ns, "route", "add", "224.0.0.0/4", "dev", Iface)
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
func (tn *Net) destroy(t *testing.T) {
	nss := []string{tn.hub}
	if tn.router != "" {
		nss = append(nss, tn.router)
	}
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

// Name, Addr, Dir, NS: peer i's display name, address, temporary folder (its own, removed at
// the end; HOME is Dir(i)/home) and namespace.
func (tn *Net) Name(i int) string { return tn.nodes[i].name }
func (tn *Net) Addr(i int) string { return tn.nodes[i].addr }
func (tn *Net) Dir(i int) string  { return tn.nodes[i].dir }
func (tn *Net) NS(i int) string   { return tn.nodes[i].ns }

// Env is the environment of every process started in peer i's namespace: this process's, with
// HOME and the XDG folders moved under Dir(i), and extra ("K=V") last.
func (tn *Net) Env(i int, extra []string) []string {
	h := tn.nodes[i].home
	env := append(os.Environ(), "HOME="+h, "XDG_CONFIG_HOME="+filepath.Join(h, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(h, ".cache"), "XDG_DATA_HOME="+filepath.Join(h, ".local/share"))
	return append(env, extra...)
}

// Command is an unstarted command that runs argv in peer i's namespace with Env(i, nil).
func (tn *Net) Command(ctx context.Context, i int, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", tn.nodes[i].ns}, argv...)...)
	cmd.Env = tn.Env(i, nil)
	return cmd
}

// Exec runs argv in peer i's namespace in the background, with Env(i, env). It is stopped
// (SIGTERM, SIGKILL after 5 s) in t.Cleanup; if t failed, its stderr tail is logged under label.
func (tn *Net) Exec(t *testing.T, i int, label string, env []string, argv ...string) *Proc {
	t.Helper()
	seq := netSeq.Add(1)
	p := &Proc{
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
	p.cmd = tn.Command(context.Background(), i, argv...)
	p.cmd.Env = tn.Env(i, env)
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
			t.Logf("--- %s (pid %d, %s) stderr tail:\n%s", p.label, p.Pid(), p.state(), Tail(p.Stderr(), 40))
		}
	})
	return p
}

// RunTimeout is how long Run lets a command run.
const RunTimeout = 3 * time.Minute

// Run runs argv in peer i's namespace to completion, with Env(i, env), and fails t if it cannot
// be started or still runs after RunTimeout. exit is its exit status (-1 if killed by a signal).
func (tn *Net) Run(t *testing.T, i int, env []string, argv ...string) (stdout, stderr string, exit int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	cmd := tn.Command(ctx, i, argv...)
	cmd.Env = tn.Env(i, env)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: %s: %v", tn.nodes[i].name, strings.Join(argv, " "), err)
		}
		exit = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s: %s: still running after %v\nstderr:\n%s",
			tn.nodes[i].name, strings.Join(argv, " "), RunTimeout, Tail(e.String(), 40))
	}
	return o.String(), e.String(), exit
}

// Proc is a process started by Exec.
type Proc struct {
	label            string
	cmd              *exec.Cmd
	outPath, errPath string
	done             chan struct{} // closed when the process has been waited for
	err              error         // Wait's result, valid after done
}

// Pid is the process id (ip netns exec execs the command, so it is the command itself).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM and waits for the process to exit, sending SIGKILL after 5 s. It returns
// Wait's error (nil for exit status 0). Safe to call more than once.
func (p *Proc) Stop() error {
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
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Wait waits up to d for the process to exit by itself; ok is false if it is still running.
func (p *Proc) Wait(d time.Duration) (exit int, ok bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(d):
		return 0, false
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *Proc) state() string {
	if !p.Exited() {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// Stdout and Stderr are everything the process has written so far.
func (p *Proc) Stdout() string { b, _ := os.ReadFile(p.outPath); return string(b) }
func (p *Proc) Stderr() string { b, _ := os.ReadFile(p.errPath); return string(b) }

// Tail is the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitFor polls cond until it is true (returns true) or timeout passes (false); see package wait.
func WaitFor(t *testing.T, timeout time.Duration, cond func() bool) bool {
	t.Helper()
	return wait.For(timeout, cond)
}

// Helper is the environment and command line that run this test binary as the helper name
// (inside a namespace, with Exec); the package's TestMain must call Main. The helpers:
//
//	mcast-recv IFACE     waits up to 10 s for a datagram on mDNS's group and port, prints its sender
//	mcast-send IFACE     sends "porch-test" to mDNS's group and port every 100 ms for 10 s
func Helper(t *testing.T, name string, args ...string) (env []string, argv []string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{envHelper + "=" + name}, append([]string{exe}, args...)
}

// runHelper runs the test binary as the helper name (see Helper).
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
