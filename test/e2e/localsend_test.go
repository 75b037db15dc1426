package e2e

// LocalSend end to end: the real porch binary against a LocalSend test peer of our own
// (test/localsendpeer, written from LocalSend's protocol) that behaves like LocalSend 1.17 or
// 1.18, each in a namespace of its own on the bridge; and hostile LocalSend input against
// porch serve in a private namespace.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"porch/test/netns"
)

var (
	lsPeerOnce sync.Once
	lsPeerDir  string
	lsPeerBin  string
	lsPeerErr  string
)

// lsPeerBinary builds test/localsendpeer once (stdlib only, so it builds offline).
func lsPeerBinary(t *testing.T) string {
	t.Helper()
	lsPeerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "porch-lspeer-")
		if err != nil {
			lsPeerErr = err.Error()
			return
		}
		lsPeerDir = dir
		goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
		cmd := exec.Command(goTool, "build", "-o", filepath.Join(dir, "localsendpeer"), "./test/localsendpeer")
		cmd.Dir = moduleRoot
		cmd.Env = append(os.Environ(), "GOPROXY=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			lsPeerErr = fmt.Sprintf("building the LocalSend test peer: %v\n%s", err, out)
			return
		}
		lsPeerBin = filepath.Join(dir, "localsendpeer")
	})
	if lsPeerErr != "" {
		t.Fatal(lsPeerErr)
	}
	return lsPeerBin
}

func removeLSPeer() {
	if lsPeerDir != "" {
		os.RemoveAll(lsPeerDir)
	}
}

// lsEvents are the JSON lines a localsendpeer printed so far.
func lsEvents(out string) []map[string]any {
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev map[string]any
		if json.Unmarshal(sc.Bytes(), &ev) == nil {
			evs = append(evs, ev)
		}
	}
	return evs
}

// lsEvent returns the first event for which match is true.
func lsEvent(out string, match func(map[string]any) bool) (map[string]any, bool) {
	for _, ev := range lsEvents(out) {
		if match(ev) {
			return ev, true
		}
	}
	return nil, false
}

// lsDevice is an entry of `porch peers --json` with LocalSend's fields.
type lsDevice struct {
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	Fingerprint string   `json:"fingerprint"`
	DeviceType  string   `json:"deviceType"`
	DeviceModel string   `json:"deviceModel"`
	Addrs       []string `json:"addrs"`
	Download    bool     `json:"download"`
}

// TestE2ELocalSend runs alice as porch serve and bob as a LocalSend 1.17 and a LocalSend 1.18:
// discovery both ways, receiving files, folders and a text message, sending, the reverse
// transfer, and PINs both ways.
func TestE2ELocalSend(t *testing.T) {
	needPorch(t)
	for _, mode := range []string{"1.17", "1.18"} {
		t.Run(mode, func(t *testing.T) { testLocalSend(t, mode) })
	}
}

func testLocalSend(t *testing.T, mode string) {
	lsBin := lsPeerBinary(t)
	n := newTestNet(t, 2)
	root := t.TempDir()
	offered := filepath.Join(root, "offered.bin")
	writeBytes(t, offered, 300<<10)
	bobDir := filepath.Join(n.Dir(1), "received")
	os.MkdirAll(bobDir, 0o755)

	startBob := func() *netns.Proc {
		return n.Exec(t, 1, "localsendpeer "+mode, nil, lsBin, "serve", "--mode", mode, "--iface", netns.Iface,
			"--alias", "LS Bob", "--dir", bobDir, "--offer", offered)
	}
	var alice, bob *netns.Proc
	if mode == "1.17" {
		// Bob first, done announcing before alice starts: alice can learn of him only from his
		// UDP answer to her announcement, the way 1.17 answers.
		bob = startBob()
		if !netns.WaitFor(t, 10*time.Second, func() bool {
			_, ok := lsEvent(bob.Stdout(), func(ev map[string]any) bool { return ev["event"] == "announced" && ev["n"] == 3.0 })
			return ok
		}) {
			t.Fatalf("the LocalSend peer never announced itself three times:\n%s", bob.Stdout())
		}
		alice = n.Start(t, 0, "serve", "--accept", "all")
	} else {
		alice = n.Start(t, 0, "serve", "--accept", "all")
		bob = startBob()
	}

	// Porch on LocalSend's network: bob lists alice as a desktop, by her Porch name.
	var aliceFP string
	if !netns.WaitFor(t, 20*time.Second, func() bool {
		ev, ok := lsEvent(bob.Stdout(), func(ev map[string]any) bool {
			return ev["event"] == "device" && ev["alias"] == "alice"
		})
		if ok {
			aliceFP, _ = ev["fingerprint"].(string)
			if ev["via"] != "register-in" && ev["deviceType"] != "desktop" {
				t.Errorf("alice listed as %v, want desktop: %v", ev["deviceType"], ev)
			}
		}
		return ok && aliceFP != ""
	}) {
		t.Fatalf("the LocalSend peer never listed alice:\n%s\nalice:\n%s", bob.Stdout(), netns.Tail(alice.Stderr(), 20))
	}
	if len(aliceFP) != 64 || strings.ToUpper(aliceFP) != aliceFP {
		t.Errorf("alice's LocalSend fingerprint %q is not 64 uppercase hex digits", aliceFP)
	}

	// LocalSend devices in porch peers, marked, with type and model.
	var dev lsDevice
	if !netns.WaitFor(t, 20*time.Second, func() bool {
		out, _, code := n.Run(t, 0, "peers", "--json", "--wait", "1s", "--data", n.Data(0))
		if code != 0 {
			return false
		}
		var all []lsDevice
		decodeArray(t, out, "peers", &all)
		for _, d := range all {
			if d.Name == "LS Bob" {
				dev = d
				return true
			}
		}
		return false
	}) {
		t.Fatalf("porch peers never listed the LocalSend peer\nalice:\n%s", netns.Tail(alice.Stderr(), 20))
	}
	if dev.Kind != "localsend" || dev.DeviceType != "mobile" || dev.DeviceModel != "TestPeer "+mode || !dev.Download ||
		len(dev.Addrs) != 1 || dev.Addrs[0] != n.Addr(1) {
		t.Errorf("porch peers lists the LocalSend peer as %+v", dev)
	}
	if text, _, _ := n.Run(t, 0, "peers", "--data", n.Data(0), "--wait", "1s"); !strings.Contains(text, "LS Bob") || !strings.Contains(text, "LocalSend") {
		t.Errorf("porch peers (text) does not show the LocalSend peer:\n%s", text)
	}

	to := n.Addr(0) + ":53317"
	lsSend := func(args ...string) map[string]any {
		t.Helper()
		argv := append([]string{lsBin, "send", "--mode", mode, "--to", to, "--fp", aliceFP}, args...)
		out, errOut, _ := n.Net.Run(t, 1, nil, argv...)
		ev, ok := lsEvent(out, func(ev map[string]any) bool { return ev["event"] == "sent" })
		if !ok {
			t.Fatalf("localsendpeer send %v printed no result:\n%s\n%s", args, out, errOut)
		}
		return ev
	}

	t.Run("receive", func(t *testing.T) {
		one, two := filepath.Join(root, "one.txt"), filepath.Join(root, "two.bin")
		writeBytes(t, one, 1000)
		writeBytes(t, two, 2<<20+7)
		ev := lsSend(one, "album/cd1/01.flac="+two)
		if ev["status"] != 200.0 {
			t.Fatalf("sending to alice: %v\nalice:\n%s", ev, netns.Tail(alice.Stderr(), 20))
		}
		sameFile(t, one, filepath.Join(n.Downloads(0), "one.txt"))
		sameFile(t, two, filepath.Join(n.Downloads(0), "album", "cd1", "01.flac"))
		assertNoExecBits(t, n.Downloads(0))
		assertNoPartials(t, n.Downloads(0))
		// The same name again is kept beside, not over, the first.
		if ev := lsSend(one); ev["status"] != 200.0 {
			t.Fatalf("sending again: %v", ev)
		}
		sameFile(t, one, filepath.Join(n.Downloads(0), "one (1).txt"))
	})

	t.Run("text", func(t *testing.T) {
		if ev := lsSend("--text", "hello from LocalSend"); ev["status"] != 204.0 {
			t.Fatalf("text message: %v", ev)
		}
		if !netns.WaitFor(t, 5*time.Second, func() bool {
			return strings.Contains(alice.Stderr(), "hello from LocalSend")
		}) {
			t.Errorf("alice did not show the text message:\n%s", netns.Tail(alice.Stderr(), 10))
		}
	})

	t.Run("send", func(t *testing.T) {
		folder := filepath.Join(root, "photos")
		makeTree(t, folder, map[string]int64{"photos/a.jpg": 70000, "photos/sub/b.jpg": 1 << 20})
		file := filepath.Join(root, "notes.txt")
		writeBytes(t, file, 4321)
		out, errOut, code := n.Run(t, 0, "send", "LS Bob", file, filepath.Join(folder, "photos"), "--data", n.Data(0))
		if code != 0 {
			t.Fatalf("porch send to the LocalSend peer: exit %d\n%s\n%s", code, out, errOut)
		}
		sameFile(t, file, filepath.Join(bobDir, "notes.txt"))
		sameFile(t, filepath.Join(folder, "photos", "sub", "b.jpg"), filepath.Join(bobDir, "photos", "sub", "b.jpg"))
		ev, ok := lsEvent(bob.Stdout(), func(ev map[string]any) bool { return ev["event"] == "received" && ev["name"] == "notes.txt" })
		if !ok || ev["announcedSha256"] != ev["sha256"] {
			t.Errorf("the sha256 porch announced is not the file's: %v", ev)
		}
	})

	t.Run("only on --iface", func(t *testing.T) {
		// alice runs with --iface porch0: LocalSend's port is not open on her loopback.
		out, _, _ := n.Net.Run(t, 0, nil, lsBin, "send", "--to", "127.0.0.1:53317", "--fp", aliceFP, "--text", "hi")
		ev, _ := lsEvent(out, func(ev map[string]any) bool { return ev["event"] == "sent" })
		if msg, _ := ev["err"].(string); ev["status"] != 0.0 || !strings.Contains(msg, "refused") {
			t.Errorf("LocalSend answered on alice's loopback, outside --iface: %v", ev)
		}
	})

	t.Run("fetch", func(t *testing.T) {
		dir := filepath.Join(n.Dir(0), "fetched")
		out, errOut, code := n.Run(t, 0, "fetch", "LS Bob", "--to", dir, "--data", n.Data(0))
		if code != 0 {
			t.Fatalf("porch fetch: exit %d\n%s\n%s", code, out, errOut)
		}
		sameFile(t, offered, filepath.Join(dir, "offered.bin"))
		assertNoExecBits(t, dir)
	})
}

// TestE2ELocalSendPIN: a PIN on either side.
func TestE2ELocalSendPIN(t *testing.T) {
	needPorch(t)
	lsBin := lsPeerBinary(t)
	n := newTestNet(t, 2)
	root := t.TempDir()
	file := filepath.Join(root, "pinned.txt")
	writeBytes(t, file, 2000)
	bobDir := filepath.Join(n.Dir(1), "received")
	os.MkdirAll(bobDir, 0o755)
	alice := n.Start(t, 0, "serve", "--accept", "all", "--localsend-pin", "4321")
	n.Exec(t, 1, "localsendpeer", nil, lsBin, "serve", "--mode", "1.18", "--iface", netns.Iface,
		"--alias", "LS Bob", "--dir", bobDir, "--pin", "9999")
	var fp string
	netns.WaitFor(t, 20*time.Second, func() bool {
		out, _, _ := n.Run(t, 0, "peers", "--json", "--wait", "1s", "--data", n.Data(0))
		return strings.Contains(out, "LS Bob")
	})
	netns.WaitFor(t, 5*time.Second, func() bool {
		fp = lsFingerprintOf(alice.Stderr())
		return fp != ""
	})
	if fp == "" {
		t.Fatalf("alice logged no LocalSend fingerprint:\n%s", netns.Tail(alice.Stderr(), 20))
	}
	send := func(pin string) float64 {
		argv := []string{lsBin, "send", "--mode", "1.18", "--to", n.Addr(0) + ":53317", "--fp", fp}
		if pin != "" {
			argv = append(argv, "--pin", pin)
		}
		argv = append(argv, file)
		out, _, _ := n.Net.Run(t, 1, nil, argv...)
		ev, _ := lsEvent(out, func(ev map[string]any) bool { return ev["event"] == "sent" })
		code, _ := ev["status"].(float64)
		return code
	}
	if code := send(""); code != 401 {
		t.Errorf("no PIN: %v, want 401", code)
	}
	if code := send("4321"); code != 200 {
		t.Errorf("the right PIN: %v, want 200", code)
	}
	sameFile(t, file, filepath.Join(n.Downloads(0), "pinned.txt"))
	for i := 0; i < 3; i++ {
		if code := send("0000"); code != 401 {
			t.Errorf("wrong PIN %d: %v, want 401", i+1, code)
		}
	}
	if code := send("4321"); code != 429 {
		t.Errorf("after three wrong PINs: %v, want 429", code)
	}

	// Porch sending to a device that asks for a PIN.
	_, errOut, code := n.Run(t, 0, "send", "LS Bob", file, "--data", n.Data(0))
	if code != 1 || !strings.Contains(errOut, "PIN") {
		t.Errorf("porch send without the device's PIN: exit %d, want 1 with a word about the PIN:\n%s", code, errOut)
	}
	if _, errOut, code := n.Run(t, 0, "send", "LS Bob", file, "--pin", "9999", "--data", n.Data(0)); code != 0 {
		t.Errorf("porch send with the device's PIN: exit %d\n%s", code, errOut)
	}
	sameFile(t, file, filepath.Join(bobDir, "pinned.txt"))
}

// TestE2ELocalSendCancel stops porch send halfway: the session is cancelled on the device and
// nothing is kept there.
func TestE2ELocalSendCancel(t *testing.T) {
	needPorch(t)
	lsBin := lsPeerBinary(t)
	n := newTestNet(t, 2)
	file := filepath.Join(t.TempDir(), "big.bin")
	writeBytes(t, file, 8<<20)
	bobDir := filepath.Join(n.Dir(1), "received")
	os.MkdirAll(bobDir, 0o755)
	n.Start(t, 0, "serve")
	bob := n.Exec(t, 1, "localsendpeer", nil, lsBin, "serve", "--mode", "1.18", "--iface", netns.Iface,
		"--alias", "LS Bob", "--dir", bobDir, "--slow", "512")
	if !netns.WaitFor(t, 20*time.Second, func() bool {
		out, _, _ := n.Run(t, 0, "peers", "--json", "--wait", "1s", "--data", n.Data(0))
		return strings.Contains(out, "LS Bob")
	}) {
		t.Fatal("porch peers never listed the LocalSend peer")
	}
	send := n.Start(t, 0, "send", "LS Bob", file)
	if !netns.WaitFor(t, 20*time.Second, func() bool {
		_, ok := lsEvent(bob.Stdout(), func(ev map[string]any) bool { return ev["event"] == "prepare" })
		return ok
	}) {
		t.Fatalf("porch send never prepared the upload:\n%s", send.Stderr())
	}
	send.Stop() // SIGTERM, as Ctrl-C
	if exit, _ := send.Wait(time.Second); exit != 1 || !strings.Contains(send.Stderr(), "cancelled on LS Bob") {
		t.Errorf("porch send stopped: exit %d, want 1 saying the transfer was cancelled:\n%s", exit, send.Stderr())
	}
	if !netns.WaitFor(t, 10*time.Second, func() bool {
		_, ok := lsEvent(bob.Stdout(), func(ev map[string]any) bool { return ev["event"] == "cancelled" })
		return ok
	}) {
		t.Errorf("the device never heard the cancel:\n%s", bob.Stdout())
	}
	if _, err := os.Stat(filepath.Join(bobDir, "big.bin")); err == nil {
		t.Error("the device kept the file of a cancelled transfer")
	}
}

// TestE2ELocalSendLarge moves one large file each way between porch and a LocalSend 1.18 peer
// (64 MiB, or PORCH_E2E_LS_MB) and logs the speeds; the bytes must arrive identical.
func TestE2ELocalSendLarge(t *testing.T) {
	needPorch(t)
	lsBin := lsPeerBinary(t)
	mb := 64
	if v := os.Getenv("PORCH_E2E_LS_MB"); v != "" {
		fmt.Sscan(v, &mb)
	}
	n := newTestNet(t, 2)
	file := filepath.Join(t.TempDir(), "large.bin")
	writeBytes(t, file, mb<<20)
	bobDir := filepath.Join(n.Dir(1), "received")
	os.MkdirAll(bobDir, 0o755)
	alice := n.Start(t, 0, "serve", "--accept", "all")
	n.Exec(t, 1, "localsendpeer", nil, lsBin, "serve", "--mode", "1.18", "--iface", netns.Iface, "--alias", "LS Bob", "--dir", bobDir)
	if !netns.WaitFor(t, 20*time.Second, func() bool {
		out, _, _ := n.Run(t, 0, "peers", "--json", "--wait", "1s", "--data", n.Data(0))
		return strings.Contains(out, "LS Bob")
	}) {
		t.Fatal("porch peers never listed the LocalSend peer")
	}
	var fp string
	if !netns.WaitFor(t, 10*time.Second, func() bool { fp = lsFingerprintOf(alice.Stderr()); return fp != "" }) {
		t.Fatalf("alice logged no LocalSend fingerprint:\n%s", netns.Tail(alice.Stderr(), 10))
	}
	t0 := time.Now()
	if _, errOut, code := n.Run(t, 0, "send", "LS Bob", file, "--data", n.Data(0)); code != 0 {
		t.Fatalf("porch send: exit %d\n%s", code, errOut)
	}
	sendTook := time.Since(t0)
	sameFile(t, file, filepath.Join(bobDir, "large.bin"))
	t0 = time.Now()
	out, _, _ := n.Net.Run(t, 1, nil, lsBin, "send", "--mode", "1.18", "--to", n.Addr(0)+":53317", "--fp", fp, file)
	recvTook := time.Since(t0)
	if ev, _ := lsEvent(out, func(ev map[string]any) bool { return ev["event"] == "sent" }); ev["status"] != 200.0 {
		t.Fatalf("sending to porch: %v", ev)
	}
	sameFile(t, file, filepath.Join(n.Downloads(0), "large.bin"))
	t.Logf("%d MiB: porch send (hashing included) %v, %.0f MB/s; received by porch serve %v, %.0f MB/s (the peer reads the file whole first)",
		mb, sendTook.Round(time.Millisecond), float64(mb<<20)/sendTook.Seconds()/1e6,
		recvTook.Round(time.Millisecond), float64(mb<<20)/recvTook.Seconds()/1e6)
}

// TestE2ELocalSendOneShot: with no porch serve running, porch peers and porch send take part on
// LocalSend's network themselves for the time they run.
func TestE2ELocalSendOneShot(t *testing.T) {
	needPorch(t)
	lsBin := lsPeerBinary(t)
	n := newTestNet(t, 2)
	file := filepath.Join(t.TempDir(), "note.txt")
	writeBytes(t, file, 1234)
	bobDir := filepath.Join(n.Dir(1), "received")
	os.MkdirAll(bobDir, 0o755)
	bob := n.Exec(t, 1, "localsendpeer", nil, lsBin, "serve", "--mode", "1.18", "--iface", netns.Iface, "--alias", "LS Bob", "--dir", bobDir)
	if !netns.WaitFor(t, 10*time.Second, func() bool {
		_, ok := lsEvent(bob.Stdout(), func(ev map[string]any) bool { return ev["event"] == "announced" && ev["n"] == 3.0 })
		return ok
	}) {
		t.Fatalf("the LocalSend peer never announced itself:\n%s", bob.Stdout())
	}
	out, _, code := n.Run(t, 0, "peers", "--json", "--wait", "3s")
	var all []lsDevice
	decodeArray(t, out, "peers", &all)
	if code != 0 || len(all) != 1 || all[0].Name != "LS Bob" || all[0].Kind != "localsend" {
		t.Fatalf("porch peers alone: exit %d, %+v", code, all)
	}
	if _, errOut, code := n.Run(t, 0, "send", "LS Bob", file); code != 0 {
		t.Fatalf("porch send alone: exit %d\n%s", code, errOut)
	}
	sameFile(t, file, filepath.Join(bobDir, "note.txt"))
	// While they ran, the LocalSend peer listed the one-shot porch, as a desktop.
	ev, ok := lsEvent(bob.Stdout(), func(ev map[string]any) bool { return ev["event"] == "device" && ev["via"] == "register" })
	if !ok || ev["deviceType"] != "desktop" {
		t.Errorf("the LocalSend peer did not list the one-shot porch: %v", ev)
	}
}

// lsFingerprintOf reads the fingerprint porch serve logs when LocalSend starts.
func lsFingerprintOf(log string) string {
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "LocalSend on") {
			continue
		}
		if i := strings.Index(line, "fingerprint="); i >= 0 {
			f := strings.Fields(line[i+len("fingerprint="):])
			if len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

// TestE2ELocalSendOff: --localsend=false leaves the port alone and Porch's own discovery works.
func TestE2ELocalSendOff(t *testing.T) {
	needPorch(t)
	lsBin := lsPeerBinary(t)
	n := newTestNet(t, 3)
	alice := n.Start(t, 0, "serve", "--localsend=false")
	n.Start(t, 2, "serve")
	bob := n.Exec(t, 1, "localsendpeer", nil, lsBin, "serve", "--mode", "1.18", "--iface", netns.Iface, "--alias", "LS Bob",
		"--dir", n.Dir(1))
	waitPeer(t, n, 0, "alice", "carol")
	// carol (LocalSend on) is listed by bob; alice never is.
	if !netns.WaitFor(t, 20*time.Second, func() bool {
		_, ok := lsEvent(bob.Stdout(), func(ev map[string]any) bool { return ev["event"] == "device" && ev["alias"] == "carol" })
		return ok
	}) {
		t.Fatalf("bob never listed carol:\n%s", bob.Stdout())
	}
	if _, ok := lsEvent(bob.Stdout(), func(ev map[string]any) bool { return ev["alias"] == "alice" }); ok {
		t.Errorf("alice speaks LocalSend with --localsend=false:\n%s", bob.Stdout())
	}
	if strings.Contains(alice.Stderr(), "LocalSend on") {
		t.Errorf("alice logged LocalSend starting:\n%s", netns.Tail(alice.Stderr(), 10))
	}
}

// TestE2ELocalSendHostile sends hostile LocalSend requests to porch serve in a private
// namespace: each gets a clear refusal and nothing lands outside the download folder.
func TestE2ELocalSendHostile(t *testing.T) {
	needPorch(t)
	if !netns.Isolate(t) {
		return
	}
	base := t.TempDir()
	data, dl := filepath.Join(base, "data"), filepath.Join(base, "downloads")
	cmd := exec.Command(needPorch(t), "serve", "--data", data, "--downloads", dl, "--iface", "lo", "--accept", "all", "--name", "alice")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	const u = "https://127.0.0.1:53317/api/localsend/v2/"
	if !netns.WaitFor(t, 20*time.Second, func() bool {
		resp, err := hc.Get(u + "info")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}) {
		t.Fatalf("porch never answered /v2/info:\n%s", netns.Tail(stderr.String(), 20))
	}
	info := `{"alias":"mallory","version":"2.1","deviceType":"mobile","fingerprint":"X","port":53317,"protocol":"https"}`
	prepare := func(files string) (int, map[string]any) {
		resp, err := hc.Post(u+"prepare-upload", "application/octet-stream", strings.NewReader(`{"info":`+info+`,"files":`+files+`}`))
		if err != nil {
			t.Fatalf("prepare-upload: %v", err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
		return resp.StatusCode, body
	}
	file := func(name string, size int64) string {
		b, _ := json.Marshal(map[string]any{"f": map[string]any{"id": "f", "fileName": name, "size": size, "fileType": "application/octet-stream"}})
		return string(b)
	}
	for _, c := range []struct{ what, name string }{
		{"dotdot", "../evil.txt"}, {"dotdot inside", "a/../../evil.txt"}, {"absolute", filepath.Join(base, "evil.txt")},
		{"backslash", `..\evil.txt`}, {"control", "a\x01b"}, {"empty component", "a//b"}, {"partial", "x.partial"},
		{"reserved", "a/CON.txt"},
	} {
		if code, body := prepare(file(c.name, 10)); code != 400 || body["message"] == "" {
			t.Errorf("%s (%q): %d %v, want 400 with a message", c.what, c.name, code, body)
		}
	}
	if code, body := prepare(file("huge.bin", 1<<41)); code != 413 {
		t.Errorf("a file larger than the free space: %d %v, want 413", code, body)
	}
	if code, _ := prepare(file("neg.bin", -5)); code != 400 {
		t.Errorf("a negative size: %d, want 400", code)
	}

	// A session: a body shorter or longer than announced, and an endless one.
	upload := func(name string, size int64, body io.Reader, length int64) int {
		t.Helper()
		code, ans := prepare(file(name, size))
		if code != 200 {
			t.Fatalf("prepare-upload of %s: %d %v", name, code, ans)
		}
		sid := ans["sessionId"].(string)
		tok := ans["files"].(map[string]any)["f"].(string)
		req, _ := http.NewRequest("POST", fmt.Sprintf("%supload?sessionId=%s&fileId=f&token=%s", u, sid, tok), body)
		req.ContentLength = length
		resp, err := hc.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := upload("short.bin", 1000, strings.NewReader("only a few bytes"), -1); code != 500 {
		t.Errorf("a body shorter than announced: %d, want 500", code)
	}
	if code := upload("long.bin", 10, strings.NewReader(strings.Repeat("x", 5000)), -1); code != 500 {
		t.Errorf("a body longer than announced: %d, want 500", code)
	}
	if code := upload("lying.bin", 10, strings.NewReader(strings.Repeat("x", 20)), 20); code != 400 {
		t.Errorf("a Content-Length other than the size: %d, want 400", code)
	}
	ctx, cancel := context.WithCancel(context.Background())
	endless := &endlessReader{ctx: ctx}
	if code := upload("endless.bin", 1<<20, endless, -1); code != 500 && code != 0 {
		t.Errorf("an endless body: %d, want 500 (or the connection closed)", code)
	}
	cancel()
	// What was written includes what the sockets' buffers took (a few MiB on loopback).
	if n := endless.n.Load(); n > 32<<20 {
		t.Errorf("porch took %d bytes of an endless body announced as 1 MiB", n)
	}

	// A session held by one sender: a second prepare-upload is 409.
	code, ans := prepare(file("held.bin", 5))
	if code != 200 {
		t.Fatalf("prepare-upload: %d %v", code, ans)
	}
	if code, _ := prepare(file("second.bin", 5)); code != 409 {
		t.Errorf("a second session while one is open: %d, want 409", code)
	}
	resp, err := hc.Post(u+"cancel?sessionId="+ans["sessionId"].(string), "application/json", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("cancel: %v %v", err, resp)
	}
	// A flood from one address: refused with 429 once past the burst.
	got429 := false
	for i := 0; i < 60 && !got429; i++ {
		code, ans := prepare(file(fmt.Sprintf("flood%d.bin", i), 1))
		if code == 200 {
			hc.Post(u+"cancel?sessionId="+ans["sessionId"].(string), "application/json", nil)
		}
		got429 = code == 429
	}
	if !got429 {
		t.Errorf("60 prepare-uploads from one address in a row were never refused with 429")
	}
	// Porch still answers after all that.
	if resp, err := hc.Get(u + "info"); err != nil || resp.StatusCode != 200 {
		t.Errorf("porch stopped answering: %v", err)
	}
	ents, _ := os.ReadDir(base)
	for _, e := range ents {
		if e.Name() != "data" && e.Name() != "downloads" {
			t.Errorf("something was written beside the download folder: %s", e.Name())
		}
	}
	filepath.Walk(dl, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			t.Errorf("a refused upload left %s", p)
		}
		return nil
	})
}

// endlessReader yields bytes until ctx ends, counting them.
// endlessReader is a request body that never ends until ctx does. n counts
// what it gave; the transport may still be reading it after the response
// came, hence atomic.
type endlessReader struct {
	ctx context.Context
	n   atomic.Int64
}

func (r *endlessReader) Read(p []byte) (int, error) {
	if r.ctx.Err() != nil {
		return 0, io.EOF
	}
	for i := range p {
		p[i] = 'z'
	}
	r.n.Add(int64(len(p)))
	return len(p), nil
}

// writeBytes writes size bytes of a pattern that depends on size to p.
func writeBytes(t *testing.T, p string, size int) {
	t.Helper()
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*131 + size)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
