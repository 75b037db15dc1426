package discovery

import (
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// netnsEnv tells a re-executed test binary which test to run inside the
// private network namespace it was started in.
const netnsEnv = "PORCH_DISCOVERY_NETNS_TEST"

// inNetns makes the calling top-level test run in a network namespace of its
// own, so mDNS never leaves through this machine's interfaces. In the parent
// it marks the test parallel, re-executes the test binary for just this test
// under unshare(1) (with a user namespace too when not root), reports the
// child's outcome and returns false; the caller must then return. In the
// child it brings up a multicast loopback and returns true.
//
// When no namespace can be made, the test is skipped with the reason.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) == t.Name() {
		setupNetns(t)
		return true
	}
	t.Parallel() // each test has a namespace, and a process, of its own
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skipf("skipping: needs unshare(1) to make a private network namespace: %v", err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--net"}
	if os.Geteuid() != 0 {
		args = []string{"--user", "--map-root-user", "--net"}
	}
	args = append(args, exe,
		"-test.run=^"+regexp.QuoteMeta(t.Name())+"$",
		"-test.v", "-test.count=1", "-test.timeout=3m")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, unshare, args...)
	cmd.Env = append(os.Environ(), netnsEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	text := string(out)
	switch {
	case !strings.Contains(text, "=== RUN   "+t.Name()):
		t.Skipf("skipping: cannot make a private network namespace with unshare %s (%v): %s",
			strings.Join(args[:len(args)-5], " "), err, strings.TrimSpace(text))
	case strings.Contains(text, "--- SKIP: "+t.Name()):
		t.Skipf("skipped inside the namespace:\n%s", text)
	case err != nil || !strings.Contains(text, "--- PASS: "+t.Name()):
		t.Fatalf("in a private network namespace: %v\n%s", err, text)
	case testing.Verbose():
		t.Logf("in a private network namespace:\n%s", text)
	}
	return false
}

// setupNetns runs in the child: it checks that the namespace is really a
// fresh one (only a loopback interface) and makes loopback carry multicast.
func setupNetns(t *testing.T) {
	t.Helper()
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifaces) != 1 || ifaces[0].Flags&net.FlagLoopback == 0 {
		t.Fatalf("refusing to run: expected a fresh network namespace with only loopback, found %v", ifaces)
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "set", "lo", "multicast", "on"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Skipf("skipping: ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
}
