package e2e

import (
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"porch/test/netns"
)

// TestUIOffer offers files to the real window (under Xvfb, in bob's namespace), whose policy
// defaults to ask. The first offer's dialog is saved as artifacts/porch-offer.png and its Accept
// button clicked (found by its colour, clicked with xdotool): `porch send` exits 0 and the file
// arrives. The second offer is left unanswered and expires, so `porch send` exits 1 saying so
// and nothing more arrives. The window runs the porchfault build with PORCH_FAULT_OFFER_TTL, so
// an offer expires after seconds instead of ten minutes.
func TestUIOffer(t *testing.T) {
	needPorch(t)
	needTool(t, "import", "imagemagick")
	xdotool := needTool(t, "xdotool", "xdotool")
	bin := faultBinary(t)
	n := newTestNet(t, 2)
	display := startXvfb(t, n, 1)
	env := []string{"DISPLAY=" + display, "LIBGL_ALWAYS_SOFTWARE=1", "LANG=en_US.UTF-8", "PORCH_FAULT_OFFER_TTL=20s"}
	app := n.StartBin(t, 1, bin, env) // no command: the window
	waitPeer(t, n, 0, "bob")

	root := t.TempDir()
	makeTree(t, root, map[string]int64{"report.pdf": 50000, "later.bin": 3 << 20})
	send := func(name string) *netns.Proc {
		argv := append([]string{needPorch(t)}, n.porchArgs(0, n.CLIData(0), false, []string{"send", "bob", filepath.Join(root, name)})...)
		return n.Exec(t, 0, "alice porch send bob "+name, nil, argv...)
	}
	shown := func(p *netns.Proc, count int) {
		t.Helper()
		if !netns.WaitFor(t, 30*time.Second, func() bool { return p.Exited() || strings.Count(app.Stderr(), "offer received") >= count }) || p.Exited() {
			t.Fatalf("the window never received the offer (send exited: %v):\n%s\n%s", p.Exited(), netns.Tail(p.Stderr(), 5), netns.Tail(app.Stderr(), 20))
		}
		time.Sleep(time.Second) // let the dialog render
	}

	first := send("report.pdf")
	shown(first, 1)
	shot := artifact("porch-offer.png")
	screenshot(t, n, 1, display, shot)
	if c := distinctColours(t, shot, 64); c < 16 {
		t.Errorf("%s looks blank: %d distinct colours", shot, c)
	}
	x, y, ok := primaryButton(t, shot)
	if !ok {
		t.Fatalf("no Accept button (the primary colour) in %s", shot)
	}
	click := exec.Command("ip", "netns", "exec", n.NS(1), xdotool, "mousemove", strconv.Itoa(x), strconv.Itoa(y), "click", "1")
	click.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := click.CombinedOutput(); err != nil {
		t.Fatalf("xdotool: %v\n%s", err, out)
	}
	if exit, ok := first.Wait(60 * time.Second); !ok || exit != 0 {
		t.Fatalf("send of an accepted offer: exit %d (ended: %v)\n%s", exit, ok, netns.Tail(first.Stderr(), 5))
	}
	sameFile(t, filepath.Join(root, "report.pdf"), filepath.Join(n.Downloads(1), "report.pdf"))

	second := send("later.bin")
	shown(second, 2)
	exit, ok := second.Wait(90 * time.Second)
	if !ok {
		t.Fatal("porch send still waits after the offer should have expired")
	}
	line := strings.TrimSpace(second.Stderr())
	if exit != 1 || !strings.Contains(line, "expired") || strings.Contains(line, "\n") {
		t.Errorf("send of an unanswered offer: exit %d, stderr %q; want 1 and one line saying it expired", exit, line)
	}
	if ents, _ := os.ReadDir(n.Downloads(1)); len(ents) != 1 {
		t.Errorf("%d entries in bob's downloads, want report.pdf alone", len(ents))
	}
	if err := app.Stop(); err != nil {
		t.Errorf("the window did not exit cleanly on SIGTERM: %v\n%s", err, netns.Tail(app.Stderr(), 20))
	}
}

// primaryButton finds the centre of the largest patch of the theme's primary colour (the
// confirm button of a dialog) in a screenshot.
func primaryButton(t *testing.T, path string) (x, y int, ok bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	var sx, sy, n int
	b := img.Bounds()
	for py := b.Min.Y; py < b.Max.Y; py++ {
		for px := b.Min.X; px < b.Max.X; px++ {
			r, g, bl, _ := img.At(px, py).RGBA()
			// Fyne's default primary, blue: strong blue, little red.
			if bl>>8 > 200 && r>>8 < 90 && g>>8 > 60 && g>>8 < 160 {
				sx, sy, n = sx+px, sy+py, n+1
			}
		}
	}
	if n < 200 {
		return 0, 0, false
	}
	return sx / n, sy / n, true
}
