package localsend

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"porch/share"
	"porch/test/netns"
	"porch/test/wait"
)

// TestNodesFindEachOther runs two nodes on the loopback interface of a private network
// namespace (multicast never leaves it): each announces, hears the other, answers by register
// and lists the other, verified over HTTPS.
func TestNodesFindEachOther(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	start := func(alias string, cert *Cert) *Node {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		n, err := NewNode(NodeOptions{
			Cert: cert, Ifaces: []net.Interface{*lo}, Listeners: []net.Listener{ln},
			Server: ServerOptions{
				Self:  func() Info { return Info{Alias: alias, Port: port, Protocol: "https"} },
				Store: func() (*share.Store, error) { return share.OpenStore(t.TempDir()) },
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run: %v", alias, err)
			}
		})
		return n
	}
	other, err := LoadCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := start("alpha", testCert())
	b := start("beta", other)
	lists := func(n *Node, alias, fp string) bool {
		for _, d := range n.Devices() {
			if d.Alias == alias && d.Fingerprint == fp && d.Verified && d.DeviceType == DeviceType {
				return true
			}
		}
		return false
	}
	wait.Until(t, 10*time.Second, "alpha and beta list each other", func() bool {
		return lists(a, "beta", other.Fingerprint) && lists(b, "alpha", testCert().Fingerprint)
	})
	for _, n := range []*Node{a, b} {
		for _, d := range n.Devices() {
			if d.Fingerprint == n.Self().Fingerprint {
				t.Errorf("%s lists itself", n.Self().Alias)
			}
		}
	}
	if d, err := Resolve(a.Devices(), "BETA"); err != nil || d.Fingerprint != other.Fingerprint {
		t.Errorf("resolve by name: %v", err)
	}
	if _, err := Resolve(a.Devices(), other.Fingerprint[:6]); err != nil {
		t.Errorf("resolve by fingerprint prefix: %v", err)
	}
	if _, err := Resolve(a.Devices(), "127.0.0.1:"+strconv.Itoa(b.Self().Port)); err != nil {
		t.Errorf("resolve by address: %v (%+v)", err, a.Devices())
	}
}
