package peer

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"porch/peer/localsend"
	"porch/share"
	"porch/test/netns"
)

// TestLocalSendInTheEngine runs an engine that speaks LocalSend beside a LocalSend node on the
// loopback interface of a private network namespace: the engine lists the device, sends to it,
// receives from it through the offer policy, turns LocalSend off and on at once, and leaves no
// goroutine behind.
func TestLocalSendInTheEngine(t *testing.T) {
	if !netns.Isolate(t) {
		return
	}
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	opts := testOptions(t, newBus(), "Alice")
	opts.LocalSend, opts.Ifaces, opts.Accept = true, []string{"lo"}, AcceptAll
	alice := start(t, opts)
	waitFor(t, "LocalSend on", func() bool { return alice.LocalSendPort() == localsend.Port })

	// The device: a node of package localsend, on another TCP port.
	devCert, err := localsend.LoadCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	devDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	devPort := ln.Addr().(*net.TCPAddr).Port
	dev, err := localsend.NewNode(localsend.NodeOptions{
		Cert: devCert, Ifaces: []net.Interface{*lo}, Listeners: []net.Listener{ln},
		Server: localsend.ServerOptions{
			Self: func() localsend.Info {
				return localsend.Info{Alias: "Phone", DeviceType: "mobile", DeviceModel: "Pixel", Port: devPort, Protocol: "https"}
			},
			Store:   func() (*share.Store, error) { return share.OpenStore(devDir) },
			Receive: func() bool { return true },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	devCtx, stopDev := context.WithCancel(context.Background())
	devDone := make(chan error, 1)
	go func() { devDone <- dev.Run(devCtx) }()
	defer func() {
		stopDev()
		if err := <-devDone; err != nil {
			t.Errorf("device: Run: %v", err)
		}
	}()

	var phone localsend.Device
	waitFor(t, "alice lists the phone", func() bool {
		d, err := alice.ResolveDevice("phone")
		phone = d
		return err == nil
	})
	if phone.Fingerprint != devCert.Fingerprint || !phone.Verified {
		t.Errorf("the phone is listed as %+v", phone)
	}

	// Alice sends a file.
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("hello phone"), 0o644)
	if err := alice.SendToDevice(context.Background(), phone, []string{src}, "", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(devDir, "hello.txt")); string(got) != "hello phone" {
		t.Errorf("the phone has %q", got)
	}
	// The data folder is not sent.
	if err := alice.SendToDevice(context.Background(), phone, []string{opts.DataDir}, "", nil); err == nil {
		t.Error("the data folder was sent")
	}

	// The phone sends to alice: an offer of kind localsend, decided by her policy.
	var me localsend.Device
	waitFor(t, "the phone lists alice", func() bool {
		for _, d := range dev.Devices() {
			if d.Fingerprint == alice.LocalSendFingerprint() {
				me = d
				return true
			}
		}
		return false
	})
	files, err := localsend.Collect([]string{src})
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Client().Send(context.Background(), me, "", files, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(opts.DownloadDir, "hello.txt")); !bytes.Equal(got, []byte("hello phone")) {
		t.Errorf("alice received %q", got)
	}
	waitFor(t, "the offer done", func() bool {
		for _, o := range alice.Offers() {
			if o.From.Kind == SenderLocalSend && o.From.Name == "Phone" && o.State == OfferDone {
				return true
			}
		}
		return false
	})

	// Off at once, on again.
	if err := alice.SetLocalSendSettings(LocalSendSettings{Off: true}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "LocalSend off", func() bool { return alice.LocalSendPort() == 0 && !reachable() })
	if err := alice.SetLocalSendSettings(LocalSendSettings{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "LocalSend on again", func() bool { return alice.LocalSendPort() == localsend.Port && reachable() })
	alice.stop(t)
}

// reachable reports whether LocalSend's port answers on 127.0.0.1.
func reachable() bool {
	c, err := net.Dial("tcp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), localsend.Port).String())
	if err == nil {
		c.Close()
	}
	return err == nil
}
