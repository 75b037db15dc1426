package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Isolate makes the calling top-level test run in a network namespace of its own, where the only
// link is loopback, up and multicast-capable, so that what it sends (mDNS included) never leaves
// through this machine's interfaces.
//
// In the process go test started it marks t parallel, re-executes the test binary for just this
// test under unshare(1) (--net, with --user --map-root-user too when not root), reports the
// child's outcome as t's and returns false: the caller must then return. In the re-executed
// child it checks that the namespace is a fresh one, brings up loopback and returns true.
//
//	func TestX(t *testing.T) {
//		if !netns.Isolate(t) {
//			return
//		}
//		… // runs inside the private namespace
//	}
//
// Where no namespace can be made, t is skipped with the reason (failed when $CI is set).
func Isolate(t *testing.T) bool {
	t.Helper()
	return isolate(t, userns())
}

// IsolateUser is Isolate with a user namespace of the test's own too, even for root, so that the
// test may lower the limits a user namespace keeps for itself (/proc/sys/user/*, such as
// max_inotify_watches) without touching the machine's.
func IsolateUser(t *testing.T) bool {
	t.Helper()
	return isolate(t, []string{"--user", "--map-root-user"})
}

func isolate(t *testing.T, user []string) bool {
	t.Helper()
	if os.Getenv(envIsolate) == t.Name() {
		setupIsolated(t)
		return true
	}
	t.Parallel() // each test has a namespace, and a process, of its own
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		unavailable(t, "needs unshare(1) (util-linux) to make a private network namespace: "+err.Error())
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	opts := append(user, "--net")
	args := append(opts, exe,
		"-test.run=^"+regexp.QuoteMeta(t.Name())+"$",
		"-test.v", "-test.count=1", "-test.timeout=3m")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, args...)
	cmd.Env = append(os.Environ(), envIsolate+"="+t.Name())
	out, err := cmd.CombinedOutput()
	text := string(out)
	switch {
	case !strings.Contains(text, "=== RUN   "+t.Name()):
		unavailable(t, fmt.Sprintf("cannot make a private network namespace with unshare %s (%v): %s",
			strings.Join(opts, " "), err, strings.TrimSpace(text)))
	case strings.Contains(text, "--- SKIP: "+t.Name()):
		t.Skipf("skipped inside the namespace:\n%s", text)
	case err != nil || !strings.Contains(text, "--- PASS: "+t.Name()):
		t.Fatalf("in a private network namespace: %v\n%s", err, text)
	case testing.Verbose():
		t.Logf("in a private network namespace:\n%s", text)
	}
	return false
}

// setupIsolated runs in the child: it refuses to go on unless the namespace is a fresh one (only
// a loopback interface), then makes loopback carry multicast.
func setupIsolated(t *testing.T) {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifaces) != 1 || ifaces[0].Flags&net.FlagLoopback == 0 {
		t.Fatalf("refusing to run: expected a fresh network namespace with only loopback, found %v", ifaces)
	}
	if reason := checkTools(); reason != "" {
		unavailable(t, reason)
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "set", "lo", "multicast", "on"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			unavailable(t, "ip "+strings.Join(args, " ")+": "+err.Error()+": "+string(out))
		}
	}
}
