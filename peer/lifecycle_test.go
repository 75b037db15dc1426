package peer

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"porch/share"
)

// Everything an engine starts ends before Run returns: the server, the
// library, discovery, liveness, verifications, hellos and a transfer still
// running. A transfer cut short by the end comes back paused.
func TestNoGoroutineOutlivesRun(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b := newBus()
	aliceOpts := testOptions(t, b, "Alice")
	aliceOpts.MaxUpload = 1 << 20 // slow enough that the transfer is still running at the end
	alice, err := New(aliceOpts)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 4*share.BlockSize/16)
	shareFile(t, alice, "big.bin", data)
	bobOpts := testOptions(t, b, "Bob")
	bob, err := New(bobOpts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	aliceCtx, stopAlice := context.WithCancel(ctx)
	bobCtx, stopBob := context.WithCancel(ctx)
	aliceDone, bobDone := make(chan error, 1), make(chan error, 1)
	go func() { aliceDone <- alice.Run(aliceCtx) }()
	go func() { bobDone <- bob.Run(bobCtx) }()
	waitFor(t, "alice hashed and seen", func() bool { return hashed(alice) && online(bob, alice.ID()) })
	// A neighbour added by address is told about this one (a hello).
	if _, err := bob.AddPeer(ctx, alice.Addr()); err != nil {
		t.Fatal(err)
	}
	ti, err := bob.Download(alice.ID(), "big.bin", "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the transfer under way", func() bool {
		for _, x := range bob.Transfers() {
			if x.ID == ti.ID && x.Done > 0 {
				return true
			}
		}
		return false
	})
	// Bob stops while alice would go on sending: his download must have
	// ended with his Run, not with her server.
	stopBob()
	if err := <-bobDone; err != nil {
		t.Errorf("bob: Run: %v", err)
	}
	if stacks := goroutinesIn("porch/peer.(*Engine).Get", "porch/peer.(*transfers).run"); stacks != "" {
		t.Errorf("a download outlived Run:\n%s", stacks)
	}
	stopAlice()
	if err := <-aliceDone; err != nil {
		t.Errorf("alice: Run: %v", err)
	}
	if got := bob.Transfers()[0].State; got != TransferPaused {
		t.Errorf("a transfer cut short by the end is %q, want paused", got)
	}
	if err := bob.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	if err := bob.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}
	if _, err := bob.Download(alice.ID(), "big.bin", ""); err == nil {
		t.Error("a stopped engine started a download")
	}
}

// goroutinesIn returns the stacks of the goroutines running any of funcs.
func goroutinesIn(funcs ...string) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range funcs {
			if strings.Contains(g, f) {
				out = append(out, g)
				break
			}
		}
	}
	return strings.Join(out, "\n\n")
}

// Close releases an engine that never ran: its port can be bound again and
// nothing it started is left running; it cannot run afterwards.
func TestCloseWithoutRun(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	opts := testOptions(t, newBus(), "Idle")
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	addr := e.Addr()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port of a closed engine is still taken: %v", err)
	}
	ln.Close()
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := e.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
	// The library was released too: the same data folder opens again.
	e2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e2.Close()
}

// A managed download lands in the download folder of the settings, reports
// its progress through events and ends done with the right bytes.
func TestDownloadIntoSettingsFolder(t *testing.T) {
	b := newBus()
	data := bytes.Repeat([]byte("x"), 3*share.BlockSize/2)
	e := mustNew(t, testOptions(t, b, "Alice"))
	shareFile(t, e, "photo.raw", data)
	alice := run(t, e)
	me := start(t, testOptions(t, b, "Me"))
	waitFor(t, "alice hashed and seen", func() bool { return hashed(alice.Engine) && online(me.Engine, alice.ID()) })
	done := make(chan TransferInfo, 1)
	defer me.Subscribe(func(ev Event) {
		if ev.Kind == TransferUpdated && ev.Transfer.State == TransferDone {
			select {
			case done <- ev.Transfer:
			default:
			}
		}
	})()
	if _, err := me.Download(alice.ID(), "photo.raw", ""); err != nil {
		t.Fatal(err)
	}
	var ti TransferInfo
	waitFor(t, "the transfer done", func() bool {
		select {
		case ti = <-done:
			return true
		default:
			return false
		}
	})
	want := filepath.Join(me.Settings().DownloadDir, "photo.raw")
	if ti.FinalPath != want {
		t.Errorf("landed at %s, want %s", ti.FinalPath, want)
	}
	got, err := os.ReadFile(want)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("downloaded bytes differ (err %v)", err)
	}
}

// A client-only engine (porch peers, porch get) opens the data folder of a
// running engine, reads and saves settings beside it, and closing it leaves
// the running one working.
func TestEnginesShareADataFolder(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	b := newBus()
	opts := testOptions(t, b, "Serving")
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	s := srv.Settings()
	s.Name = "Shared"
	if err := srv.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		cli, err := New(Options{DataDir: opts.DataDir, ClientOnly: true, Discovery: b.join})
		if err != nil {
			t.Fatalf("client %d beside a running engine: %v", i, err)
		}
		if cli.Name() != "Shared" {
			t.Errorf("client %d sees name %q", i, cli.Name())
		}
		if cli.ID() != srv.ID() {
			t.Errorf("client %d has id %s, the running engine %s", i, cli.ID(), srv.ID())
		}
		if err := cli.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s.Name = "Renamed"
	if err := srv.SetSettings(s); err != nil {
		t.Fatalf("saving settings after clients came and went: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
