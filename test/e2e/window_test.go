package e2e

// The window, for real: Xvfb and the porch window run inside a peer's network namespace beside a
// `porch serve` neighbour; the test waits for the neighbour to appear, saves a screenshot to
// artifacts/ (at the module root) and drops a folder onto the window with scripts/xdnd-drop.c.

import (
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"porch/test/netns"
)

// needTool returns the path of an external tool, skipping t if it is missing (failing in CI).
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s is missing (Debian package %s; scripts/deps.sh test installs it)", name, pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startXvfb starts Xvfb inside peer i's namespace on a free display and returns ":N".
func startXvfb(t *testing.T, n *testNet, i int) string {
	t.Helper()
	xvfb := needTool(t, "Xvfb", "xvfb")
	for d := 90 + os.Getpid()%100; d < 400; d++ {
		sock := fmt.Sprintf("/tmp/.X11-unix/X%d", d)
		if _, err := os.Stat(sock); err == nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", d)); err == nil {
			continue
		}
		display := fmt.Sprintf(":%d", d)
		p := n.Exec(t, i, "Xvfb "+display, nil, xvfb, display, "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		if netns.WaitFor(t, 10*time.Second, func() bool { return p.Exited() || xReady(n, i, display) }) && !p.Exited() {
			return display
		}
		t.Logf("Xvfb on %s did not start: %s", display, netns.Tail(p.Stderr(), 5))
	}
	t.Fatal("no free X display for Xvfb")
	return ""
}

// xReady reports whether display answers, asking with ImageMagick's import (needed anyway for
// the screenshot).
func xReady(n *testNet, i int, display string) bool {
	cmd := exec.Command("ip", "netns", "exec", n.NS(i), "import", "-window", "root", "-crop", "1x1+0+0", "null:")
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	return cmd.Run() == nil
}

// artifact is where a test saves the file name for people to look at: artifacts/ at the module
// root (kept after the tests, ignored by git).
func artifact(name string) string { return filepath.Join(moduleRoot, "artifacts", name) }

// screenshot saves the whole X screen of display (in peer i's namespace) to path.
func screenshot(t *testing.T, n *testNet, i int, display, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", n.NS(i), "import", "-window", "root", path)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v\n%s", err, out)
	}
	t.Logf("screenshot saved to %s", path)
}

// distinctColours counts the distinct colours of a PNG (stopping at limit).
func distinctColours(t *testing.T, path string, limit int) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// TestUIWindow runs the real window under Xvfb in alice's namespace with bob serving beside it,
// saves artifacts/porch-window.png, drops a folder on the window and checks it is shared, then
// checks that SIGTERM ends the window with status 0.
func TestUIWindow(t *testing.T) {
	needPorch(t)
	needTool(t, "import", "imagemagick")
	cc := needTool(t, "cc", "gcc")
	n := newTestNet(t, 2)

	dropper := filepath.Join(t.TempDir(), "xdnd-drop")
	if out, err := exec.Command(cc, "-o", dropper, filepath.Join(moduleRoot, "scripts", "xdnd-drop.c"), "-lX11").CombinedOutput(); err != nil {
		t.Fatalf("building scripts/xdnd-drop.c: %v\n%s", err, out)
	}

	n.Start(t, 1, "serve")
	display := startXvfb(t, n, 0)
	env := []string{"DISPLAY=" + display, "LIBGL_ALWAYS_SOFTWARE=1", "LANG=en_US.UTF-8"}
	app := n.StartEnv(t, 0, env) // no command: the window
	if !netns.WaitFor(t, 60*time.Second, func() bool {
		return app.Exited() || logShowsPeer(app.Stderr(), "peer added", "bob")
	}) || app.Exited() {
		t.Fatalf("the window never logged bob as added (exited: %v):\n%s", app.Exited(), netns.Tail(app.Stderr(), 20))
	}
	time.Sleep(2 * time.Second) // let the list render

	shot := artifact("porch-window.png")
	screenshot(t, n, 0, display, shot)
	if c := distinctColours(t, shot, 64); c < 16 {
		t.Errorf("%s looks blank: %d distinct colours", shot, c)
	}

	// Drag a folder (with a space in its name) onto the window.
	folder := filepath.Join(t.TempDir(), "dropped folder")
	makeTree(t, folder, map[string]int64{"a.txt": 100, "sub/b.bin": 5000})
	cmd := exec.Command("ip", "netns", "exec", n.NS(0), dropper, "Porch", folder)
	cmd.Env = append(os.Environ(), "DISPLAY="+display)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xdnd-drop: %v\n%s", err, out)
	}
	var out string
	if !netns.WaitFor(t, 10*time.Second, func() bool {
		out = mustRun(t, n, 0, "share", "ls", "--json", "--data", n.Data(0))
		return strings.Contains(out, folder)
	}) {
		t.Fatalf("dropped folder %s not shared; share ls --json:\n%s", folder, out)
	}
	time.Sleep(time.Second)
	screenshot(t, n, 0, display, artifact("porch-window-dropped.png"))

	// No session bus here, so no tray; SIGTERM must still end the window cleanly.
	if err := app.Stop(); err != nil {
		t.Errorf("the window did not exit cleanly on SIGTERM: %v\n%s", err, netns.Tail(app.Stderr(), 20))
	}
}
