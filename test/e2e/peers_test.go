package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"porch/test/netns"
)

// Environment of TestE2EManyPeers.
const (
	envPeers  = "PORCH_E2E_PEERS"  // how many peers (default 10)
	envWindow = "PORCH_E2E_WINDOW" // how long the quiet traffic is measured (default 20s)
)

// TestE2EManyPeers runs many `porch serve` peers on one bridge and measures what the README's
// table of many peers reports: how long until every peer sees every other, the mDNS datagrams
// and liveness requests each peer sends per minute once all are known, the datagrams the kernel
// dropped at full socket buffers, how many neighbours `porch peers` lists, and how long until
// a peer that vanishes silently (its link cut, as a machine that loses power) and one that
// stops cleanly are shown as gone by every other. It checks the limits: all seen within
// 5 s, no datagram dropped, a silent departure shown within 10 s, and liveness and mDNS traffic
// per peer bounded whatever the number of peers.
//
// It runs 10 peers in the normal suite; PORCH_E2E_PEERS=50 (at most netns.MaxPeers) and
// PORCH_E2E_WINDOW=60s give the README's figures.
func TestE2EManyPeers(t *testing.T) {
	needPorch(t)
	netns.Require(t)
	n := 10
	if v := os.Getenv(envPeers); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 3 || n > netns.MaxPeers {
			t.Fatalf("%s=%q: want 3..%d", envPeers, v, netns.MaxPeers)
		}
	}
	window := 20 * time.Second
	if v := os.Getenv(envWindow); v != "" {
		var err error
		if window, err = time.ParseDuration(v); err != nil || window < 5*time.Second {
			t.Fatalf("%s=%q: want a duration of 5s or more", envWindow, v)
		}
	}
	t0 := time.Now()
	tn := newTestNet(t, n)
	tn.PinNeighbours(t)
	t.Logf("%d namespaces ready in %v", n, time.Since(t0).Round(time.Millisecond))

	serve := make([]*netns.Proc, n)
	for i := range n {
		serve[i] = tn.Start(t, i, "serve", "--verbose")
	}
	started := time.Now()
	// Up: every serve has logged "serving" (its listener bound, discovery about to start).
	if !netns.WaitFor(t, 60*time.Second, func() bool {
		for _, p := range serve {
			if !strings.Contains(p.Stderr(), "msg=serving") {
				return false
			}
		}
		return true
	}) {
		t.Fatal("not every serve started within 60 s")
	}
	if !netns.WaitFor(t, 60*time.Second, func() bool {
		for i, p := range serve {
			if len(peersLogged(p.Stderr(), "peer added", tn.Name(i))) < n-1 {
				return false
			}
		}
		return true
	}) {
		for i, p := range serve {
			if got := len(peersLogged(p.Stderr(), "peer added", tn.Name(i))); got < n-1 {
				t.Logf("%s saw %d of %d", tn.Name(i), got, n-1)
			}
		}
		t.Fatal("not every peer saw every other within 60 s")
	}
	// From the logs' own clocks: the last serve up, and the last peer that completed its list.
	var up, allSeen time.Time
	for i, p := range serve {
		log := p.Stderr()
		if at, ok := logTime(log, "serving", ""); ok && at.After(up) {
			up = at
		}
		if at, ok := seenAllAt(log, tn.Name(i), n-1); ok && at.After(allSeen) {
			allSeen = at
		}
	}
	seeAll := allSeen.Sub(up)
	t.Logf("all %d serves up %v after the first start; every peer saw every other %v after the last was up",
		n, up.Sub(started).Round(time.Millisecond), seeAll.Round(time.Millisecond))

	// The quiet traffic: every peer knows every other; counters before and after window.
	time.Sleep(3 * time.Second) // the last announcements and verifications settle
	before := snmpAll(t, tn.Net, n)
	windowStart := time.Now()
	time.Sleep(window)
	after := snmpAll(t, tn.Net, n)
	windowEnd := time.Now()
	perMin := func(f func(snmp) int64) (avg float64, max int64) {
		var sum int64
		for i := range n {
			d := f(after[i]) - f(before[i])
			sum += d
			max = maxInt(max, d)
		}
		scale := float64(time.Minute) / float64(window)
		return float64(sum) / float64(n) * scale, int64(float64(max) * scale)
	}
	udpOut, udpOutMax := perMin(func(s snmp) int64 { return s.udpOut })
	udpIn, _ := perMin(func(s snmp) int64 { return s.udpIn })
	tcpOut, tcpOutMax := perMin(func(s snmp) int64 { return s.tcpOut })
	dropped, _ := perMin(func(s snmp) int64 { return s.rcvbufErrors })
	var droppedRun int64
	for i := range n {
		droppedRun += after[i].rcvbufErrors
	}
	// Liveness requests: the /v1/info requests each serve answered in the window, from the
	// counters it logs every 10 s at --verbose (absent from builds before they were added).
	infoServed, infoOK := 0.0, true
	for _, p := range serve {
		rate, ok := infoServedRate(p.Stderr(), windowStart, windowEnd)
		if !ok {
			infoOK = false
			break
		}
		infoServed += rate
	}
	infoServed /= float64(n)
	liveness := "-"
	if infoOK {
		liveness = fmt.Sprintf("%.0f", infoServed)
	}
	t.Logf("per peer per minute over %v: mDNS datagrams sent %.0f (most %d), delivered to its sockets %.0f; "+
		"TCP segments sent %.0f (most %d); /v1/info requests answered %s; datagrams dropped at full buffers %.0f (whole run, all peers: %d)",
		window, udpOut, udpOutMax, udpIn, tcpOut, tcpOutMax, liveness, dropped, droppedRun)

	// porch peers, a browse-only engine of its own, with its default wait.
	out, _, code := tn.Net.Run(t, 1, nil, needPorch(t), "peers", "--json", "--data", tn.CLIData(1), "--iface", netns.Iface)
	listed := -1
	if code == 0 {
		var peers []e2ePeer
		decodeArray(t, out, "peers", &peers)
		listed = len(peers)
	}
	t.Logf("porch peers (default wait) in %s's namespace listed %d of %d", tn.Name(1), listed, n)

	// A silent departure: the last peer's link goes down, as when a machine loses power.
	gone := n - 1
	cut := time.Now()
	if out, err := exec.Command("ip", "-n", tn.NS(gone), "link", "set", netns.Iface, "down").CombinedOutput(); err != nil {
		t.Fatalf("link down in %s: %v %s", tn.NS(gone), err, out)
	}
	silent := waitRemoved(t, tn, serve, gone, cut, 30*time.Second)
	// A clean departure: SIGTERM, the peer says goodbye.
	left := n - 2
	stop := time.Now()
	if err := serve[left].Stop(); err != nil {
		t.Errorf("%s's serve did not exit cleanly: %v", tn.Name(left), err)
	}
	clean := waitRemoved(t, tn, serve[:left], left, stop, 30*time.Second)
	t.Logf("shown as gone by every other peer: silent departure (link down) after %v, clean stop after %v",
		silent.Round(time.Millisecond), clean.Round(time.Millisecond))

	fmt.Printf("many-peers: n=%d see-all=%.1fs mdns-out/peer/min=%.0f mdns-in/peer/min=%.0f tcp-out/peer/min=%.0f "+
		"info/peer/min=%s dropped/peer/min=%.0f dropped-run=%d peers-listed=%d silent-gone=%.1fs clean-gone=%.1fs\n",
		n, seeAll.Seconds(), udpOut, udpIn, tcpOut, liveness, dropped, droppedRun, listed, silent.Seconds(), clean.Seconds())

	// The limits.
	if seeAll > 5*time.Second {
		t.Errorf("every peer saw every other only %v after all were up, want within 5 s", seeAll.Round(time.Millisecond))
	}
	if droppedRun > 0 {
		t.Errorf("%d datagrams dropped at full socket buffers, want none", droppedRun)
		for i := range n {
			// The UDP sockets that dropped: local address, inode, drops.
			b, _ := exec.Command("ip", "netns", "exec", tn.NS(i), "awk", `FNR > 1 && $NF > 0 { print FILENAME, $2, $10, $NF }`, "/proc/net/udp", "/proc/net/udp6").Output()
			if len(b) > 0 {
				t.Logf("%s: %s", tn.Name(i), b)
			}
		}
	}
	if silent > 10*time.Second {
		t.Errorf("a silent departure was shown after %v, want within 10 s", silent.Round(time.Millisecond))
	}
	if listed != n { // every serve, bob's own included: the command has an identity of its own
		t.Errorf("porch peers listed %d neighbours, want %d", listed, n)
	}
	// Bounded whatever n: a probe budget per peer (see peer/liveness.go) and mDNS that queries
	// about once a minute. The bounds leave room for a loaded machine, not for growth with n.
	if infoOK && infoServed > 90 {
		t.Errorf("%.0f /v1/info requests answered per peer per minute, want at most 90 whatever the number of peers", infoServed)
	}
	if udpOut > 20 {
		t.Errorf("%.0f mDNS datagrams sent per peer per minute, want at most 20", udpOut)
	}
}

// waitRemoved waits until every serve but gone's own has logged "peer removed" for peer gone
// and returns how long after since that took (the whole timeout if it did not happen).
func waitRemoved(t *testing.T, tn *testNet, serve []*netns.Proc, gone int, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	name := tn.Name(gone)
	var at time.Time
	ok := netns.WaitFor(t, timeout, func() bool {
		for i, p := range serve {
			if i == gone || p.Exited() {
				continue
			}
			if !peersLogged(p.Stderr(), "peer removed", "")[name] {
				return false
			}
		}
		at = time.Now()
		return true
	})
	if !ok {
		var still []string
		for i, p := range serve {
			if i != gone && !p.Exited() && !peersLogged(p.Stderr(), "peer removed", "")[name] {
				still = append(still, tn.Name(i))
			}
		}
		t.Errorf("%s not shown as gone within %v by %v", name, timeout, still)
		return timeout
	}
	return at.Sub(since)
}

var logTimeField = regexp.MustCompile(`^time=(\S+) `)

// logTime returns the time of the first line of log with msg (about the peer name, if not "").
func logTime(log, msg, name string) (time.Time, bool) {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg=\""+msg+"\"") && !strings.Contains(line, "msg="+msg+" ") {
			continue
		}
		if name != "" && !strings.Contains(line, " name="+name+" ") && !strings.HasSuffix(line, " name="+name) {
			continue
		}
		if m := logTimeField.FindStringSubmatch(line); m != nil {
			if at, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
				return at, true
			}
		}
	}
	return time.Time{}, false
}

// seenAllAt returns the time of the "peer added" line of a serve's log that made its count of
// distinct neighbours (self left out) reach want.
func seenAllAt(log, self string, want int) (time.Time, bool) {
	seen := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="peer added"`) {
			continue
		}
		m := nameField.FindStringSubmatch(line)
		if m == nil || strings.Trim(m[1], `"`) == self {
			continue
		}
		seen[strings.Trim(m[1], `"`)] = true
		if len(seen) == want {
			if t := logTimeField.FindStringSubmatch(line); t != nil {
				at, err := time.Parse(time.RFC3339Nano, t[1])
				return at, err == nil
			}
		}
	}
	return time.Time{}, false
}

var nameField = regexp.MustCompile(` name=("[^"]*"|\S+)`)

// peersLogged returns the names of the peers a serve's log has a msg line about ("peer added",
// "peer removed"), leaving out self.
func peersLogged(log, msg, self string) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "msg=\""+msg+"\"") && !strings.Contains(line, "msg="+msg+" ") {
			continue
		}
		if m := nameField.FindStringSubmatch(line); m != nil {
			name := strings.Trim(m[1], `"`)
			if name != self {
				out[name] = true
			}
		}
	}
	return out
}

var infoServedField = regexp.MustCompile(`(?m)^time=(\S+) .*msg="liveness counters".* info_served=(\d+)`)

// infoServedRate is the rate per minute of /v1/info requests a serve answered between the
// first and the last of its counter lines logged from start to end.
func infoServedRate(log string, start, end time.Time) (float64, bool) {
	var t0, t1 time.Time
	var v0, v1 int64
	for _, m := range infoServedField.FindAllStringSubmatch(log, -1) {
		at, err := time.Parse(time.RFC3339Nano, m[1])
		v, err2 := strconv.ParseInt(m[2], 10, 64)
		if err != nil || err2 != nil || at.Before(start) || at.After(end) {
			continue
		}
		if t0.IsZero() {
			t0, v0 = at, v
		}
		t1, v1 = at, v
	}
	if !t1.After(t0) {
		return 0, false
	}
	return float64(v1-v0) * float64(time.Minute) / float64(t1.Sub(t0)), true
}

// snmp holds the counters of one namespace that TestE2EManyPeers reads: UDP (IPv4 and IPv6
// together; all of it is mDNS there) and TCP segments sent.
type snmp struct {
	udpOut, udpIn, rcvbufErrors, tcpOut int64
}

// snmpAll reads the counters of every peer's namespace, in parallel.
func snmpAll(t *testing.T, tn *netns.Net, n int) []snmp {
	t.Helper()
	out := make([]snmp, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i], errs[i] = readSNMP(tn.NS(i)) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("counters of %s: %v", tn.NS(i), err)
		}
	}
	return out
}

func readSNMP(ns string) (snmp, error) {
	b, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/snmp", "/proc/net/snmp6").Output()
	if err != nil {
		return snmp{}, err
	}
	var s snmp
	lines := strings.Split(string(b), "\n")
	table := func(proto, field string) int64 {
		for k := 0; k+1 < len(lines); k++ {
			if !strings.HasPrefix(lines[k], proto+": ") || !strings.HasPrefix(lines[k+1], proto+": ") {
				continue
			}
			names, vals := strings.Fields(lines[k]), strings.Fields(lines[k+1])
			for j := range names {
				if names[j] == field && j < len(vals) {
					v, _ := strconv.ParseInt(vals[j], 10, 64)
					return v
				}
			}
		}
		return 0
	}
	v6 := func(field string) int64 {
		for _, l := range lines {
			if f := strings.Fields(l); len(f) == 2 && f[0] == field {
				v, _ := strconv.ParseInt(f[1], 10, 64)
				return v
			}
		}
		return 0
	}
	s.udpOut = table("Udp", "OutDatagrams") + v6("Udp6OutDatagrams")
	s.udpIn = table("Udp", "InDatagrams") + v6("Udp6InDatagrams")
	s.rcvbufErrors = table("Udp", "RcvbufErrors") + v6("Udp6RcvbufErrors")
	s.tcpOut = table("Tcp", "OutSegs")
	return s, nil
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
