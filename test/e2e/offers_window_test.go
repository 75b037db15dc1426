package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"porch/test/netns"
)

// TestUIOfferExpires offers a file to the real window (under Xvfb, in bob's namespace): the
// window asks (its policy defaults to ask), the test saves artifacts/porch-offer.png of the
// dialog and answers nothing, and the offer expires, so `porch send` exits 1 saying so and
// nothing arrives. The window runs the porchfault build with PORCH_FAULT_OFFER_TTL, so the
// offer expires after seconds instead of ten minutes.
func TestUIOfferExpires(t *testing.T) {
	needPorch(t)
	needTool(t, "import", "imagemagick")
	bin := faultBinary(t)
	n := newTestNet(t, 2)
	display := startXvfb(t, n, 1)
	env := []string{"DISPLAY=" + display, "LIBGL_ALWAYS_SOFTWARE=1", "LANG=en_US.UTF-8", "PORCH_FAULT_OFFER_TTL=6s"}
	app := n.StartBin(t, 1, bin, env) // no command: the window
	waitPeer(t, n, 0, "bob")

	root := t.TempDir()
	makeTree(t, root, map[string]int64{"report.pdf": 50000})
	argv := append([]string{needPorch(t)}, n.porchArgs(0, n.CLIData(0), false, []string{"send", "bob", filepath.Join(root, "report.pdf")})...)
	send := n.Exec(t, 0, "alice porch send bob report.pdf", nil, argv...)
	if !netns.WaitFor(t, 30*time.Second, func() bool { return send.Exited() || strings.Contains(app.Stderr(), "offer received") }) || send.Exited() {
		t.Fatalf("the window never received the offer (send exited: %v):\n%s\n%s", send.Exited(), netns.Tail(send.Stderr(), 5), netns.Tail(app.Stderr(), 20))
	}
	time.Sleep(time.Second) // let the dialog render
	shot := artifact("porch-offer.png")
	screenshot(t, n, 1, display, shot)
	if c := distinctColours(t, shot, 64); c < 16 {
		t.Errorf("%s looks blank: %d distinct colours", shot, c)
	}
	exit, ok := send.Wait(60 * time.Second)
	if !ok {
		t.Fatal("porch send still waits after the offer should have expired")
	}
	line := strings.TrimSpace(send.Stderr())
	if exit != 1 || !strings.Contains(line, "expired") || strings.Contains(line, "\n") {
		t.Errorf("send of an unanswered offer: exit %d, stderr %q; want 1 and one line saying it expired", exit, line)
	}
	if ents, _ := os.ReadDir(n.Downloads(1)); len(ents) != 0 {
		t.Errorf("%d entries arrived in bob's downloads", len(ents))
	}
	if err := app.Stop(); err != nil {
		t.Errorf("the window did not exit cleanly on SIGTERM: %v\n%s", err, netns.Tail(app.Stderr(), 20))
	}
}
