package netns

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"porch/test/wait"
)

// PinNeighbours gives every peer a permanent neighbour entry (IPv4 and IPv6 link-local) for
// every other peer, so that no ARP or neighbour discovery runs between them. Namespaces share
// the kernel's neighbour-table limits (net.ipv4.neigh.default.gc_thresh3, 1,024 entries by
// default, across every namespace); permanent entries are not counted against them, and a net
// of 50 peers would otherwise need 2,450 dynamic entries. It changes nothing outside the Net's
// namespaces.
func (tn *Net) PinNeighbours(t *testing.T) {
	t.Helper()
	type hw struct{ mac, ll string }
	hws := make([]hw, len(tn.nodes))
	for i, nd := range tn.nodes {
		ifi, err := exec.Command("ip", "-n", nd.ns, "-o", "link", "show", "dev", Iface).Output()
		if err != nil {
			t.Fatalf("ip link show in %s: %v", nd.ns, err)
		}
		f := strings.Fields(string(ifi))
		for k := range f {
			if f[k] == "link/ether" && k+1 < len(f) {
				hws[i].mac = f[k+1]
			}
		}
		// The link-local address may take a moment to appear after the link came up.
		wait.For(5*time.Second, func() bool {
			out, _ := exec.Command("ip", "-n", nd.ns, "-o", "-6", "addr", "show", "dev", Iface, "scope", "link").Output()
			for _, w := range strings.Fields(string(out)) {
				if strings.HasPrefix(w, "fe80:") {
					hws[i].ll, _, _ = strings.Cut(w, "/")
					return true
				}
			}
			return false
		})
		if hws[i].mac == "" {
			t.Fatalf("no MAC address for %s in %s", Iface, nd.ns)
		}
	}
	for i, nd := range tn.nodes {
		var b strings.Builder
		for j, o := range tn.nodes {
			if j == i {
				continue
			}
			fmt.Fprintf(&b, "neigh replace %s lladdr %s dev %s nud permanent\n", o.addr, hws[j].mac, Iface)
			if hws[j].ll != "" {
				fmt.Fprintf(&b, "neigh replace %s lladdr %s dev %s nud permanent\n", hws[j].ll, hws[j].mac, Iface)
			}
		}
		cmd := exec.Command("ip", "-n", nd.ns, "-batch", "-")
		cmd.Stdin = strings.NewReader(b.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ip -n %s -batch (neighbours): %v\n%s", nd.ns, err, out)
		}
	}
}

// subnet2 is the second subnet Route puts peers on, behind the router.
const subnet2 = "10.214.0."

// Route puts peers right on a second subnet (10.214.0.0/24, on a bridge of
// its own in the hub) joined to the first by a router namespace that
// forwards unicast and nothing else, so no multicast (mDNS) crosses between
// the two: peers on different sides reach each other only by address. Each
// moved peer keeps its number (peer i is 10.214.0.(10+i)). Route may be
// called once, before any process starts.
func (tn *Net) Route(t *testing.T, right ...int) {
	t.Helper()
	if tn.router != "" {
		t.Fatal("netns: Route called twice")
	}
	tn.router = tn.id + "-rtr"
	ip(t, "netns", "add", tn.router)
	ip(t, "-n", tn.router, "link", "set", "lo", "up")
	ip(t, "-n", tn.hub, "link", "add", "br1", "type", "bridge", "mcast_snooping", "0")
	ip(t, "-n", tn.hub, "link", "set", "br1", "up")
	for k, side := range []struct{ br, addr string }{{"br0", subnet + "1"}, {"br1", subnet2 + "1"}} {
		veth := "vr" + strconv.Itoa(k)
		ip(t, "-n", tn.hub, "link", "add", veth, "type", "veth", "peer", "name", "r"+strconv.Itoa(k), "netns", tn.router)
		ip(t, "-n", tn.hub, "link", "set", veth, "master", side.br, "up")
		ip(t, "-n", tn.router, "addr", "add", side.addr+"/24", "dev", "r"+strconv.Itoa(k))
		ip(t, "-n", tn.router, "link", "set", "r"+strconv.Itoa(k), "up")
	}
	if out, err := exec.Command("ip", "netns", "exec", tn.router, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		t.Fatalf("ip_forward in the router: %v %s", err, out)
	}
	moved := map[int]bool{}
	for _, i := range right {
		moved[i] = true
		nd := tn.nodes[i]
		ip(t, "-n", tn.hub, "link", "set", "vh"+strconv.Itoa(i), "master", "br1")
		ip(t, "-n", nd.ns, "addr", "del", nd.addr+"/24", "dev", Iface)
		nd.addr = subnet2 + strconv.Itoa(10+i)
		ip(t, "-n", nd.ns, "addr", "add", nd.addr+"/24", "dev", Iface)
	}
	for i, nd := range tn.nodes {
		other, via := subnet2+"0/24", subnet+"1"
		if moved[i] {
			other, via = subnet+"0/24", subnet2+"1"
		}
		nd.via = []string{other, "via", via}
		ip(t, append([]string{"-n", nd.ns, "route", "add"}, nd.via...)...)
	}
}

// SetAddr gives peer i another address on its subnet (last byte last), as a
// machine that gets a new lease does; its old address is gone.
func (tn *Net) SetAddr(t *testing.T, i int, last int) {
	t.Helper()
	nd := tn.nodes[i]
	prefix := nd.addr[:strings.LastIndexByte(nd.addr, '.')+1]
	ip(t, "-n", nd.ns, "addr", "del", nd.addr+"/24", "dev", Iface)
	nd.addr = prefix + strconv.Itoa(last)
	ip(t, "-n", nd.ns, "addr", "add", nd.addr+"/24", "dev", Iface)
	// Routes that went with the old address come back.
	ip(t, "-n", nd.ns, "route", "replace", "224.0.0.0/4", "dev", Iface)
	if nd.via != nil {
		ip(t, append([]string{"-n", nd.ns, "route", "replace"}, nd.via...)...)
	}
}
