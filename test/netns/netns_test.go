package netns_test

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"porch/test/netns"
)

func TestMain(m *testing.M) { os.Exit(netns.Main(m, nil)) }

// TestNetnsHarness checks the bridge of namespaces itself: unicast across the bridge, mDNS
// multicast from one peer reaching the others, and no test link in the tests' own namespace.
func TestNetnsHarness(t *testing.T) {
	n := netns.New(t, 3)
	for _, to := range []int{1, 2} {
		out, err := exec.Command("ip", "netns", "exec", n.NS(0), "ping", "-c1", "-W2", n.Addr(to)).CombinedOutput()
		if err != nil {
			t.Fatalf("ping %s from %s: %v\n%s", n.Addr(to), n.Name(0), err, out)
		}
	}

	var recv []*netns.Proc
	for _, i := range []int{1, 2} {
		env, argv := netns.Helper(t, "mcast-recv", netns.Iface)
		recv = append(recv, n.Exec(t, i, n.Name(i)+" mcast-recv", env, argv...))
	}
	time.Sleep(300 * time.Millisecond) // let the receivers join the group
	env, argv := netns.Helper(t, "mcast-send", netns.Iface)
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
		if ifi.Name == netns.Iface || ifi.Name == "br0" || strings.HasPrefix(ifi.Name, "vh") {
			t.Errorf("link %s leaked into the tests' own namespace", ifi.Name)
		}
	}
}

// TestIsolate checks the private namespace of one test: loopback is its only link, up and
// multicast-capable, and an address added to it in there is not on the tests' own loopback.
func TestIsolate(t *testing.T) {
	const added = "10.77.0.9"
	if !netns.Isolate(t) {
		// Back in the tests' own namespace, after the child passed.
		lo, err := net.InterfaceByName("lo")
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := lo.Addrs()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if strings.HasPrefix(a.String(), added+"/") {
				t.Errorf("%s, added inside the private namespace, is on the tests' own loopback", added)
			}
		}
		return
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	if len(ifs) != 1 || ifs[0].Name != "lo" {
		t.Fatalf("links in the private namespace: %v, want only lo", ifs)
	}
	if want := net.FlagUp | net.FlagLoopback | net.FlagMulticast; ifs[0].Flags&want != want {
		t.Errorf("lo has flags %v, want %v among them", ifs[0].Flags, want)
	}
	if out, err := exec.Command("ip", "addr", "add", added+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
}
