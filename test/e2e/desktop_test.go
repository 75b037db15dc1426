package e2e

// The desktop around the window, for real: a private D-Bus session bus, dunst (a notification
// server) and the porch window under Xvfb in a peer's namespace. The tray menu is read and
// clicked over D-Bus the way a desktop's tray host does (StatusNotifierItem and dbusmenu), and
// a download started from the window must raise a desktop notification.

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"porch/test/netns"
)

// sessionBus starts a D-Bus session bus on a unix socket in a temporary folder and returns its
// address.
func sessionBus(t *testing.T, n *testNet, i int) string {
	t.Helper()
	daemon := needTool(t, "dbus-daemon", "dbus-daemon")
	needTool(t, "dbus-send", "dbus-bin")
	sock := filepath.Join(t.TempDir(), "bus")
	addr := "unix:path=" + sock
	p := n.Exec(t, i, "dbus-daemon", nil, daemon, "--session", "--nofork", "--nopidfile", "--address="+addr)
	if !netns.WaitFor(t, 10*time.Second, func() bool {
		_, err := os.Stat(sock)
		return err == nil || p.Exited()
	}) || p.Exited() {
		t.Fatalf("dbus-daemon did not start:\n%s", p.Stderr())
	}
	return addr
}

// busCall runs dbus-send --print-reply with args on the bus and returns its output.
func busCall(t *testing.T, n *testNet, i int, bus string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.NS(i), "dbus-send", "--session", "--print-reply"}, args...)...)
	cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+bus)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// trayItem returns the dbusmenu id of the tray menu item labelled label in a GetLayout reply, or
// "".
func trayItem(layout, label string) string {
	id := regexp.MustCompile(`^\s*int32 (\d+)`)
	for _, part := range strings.Split(layout, "struct {") {
		if m := id.FindStringSubmatch(part); m != nil && strings.Contains(part, `string "`+label+`"`) {
			return m[1]
		}
	}
	return ""
}

// TestUIDesktop runs the window beside bob with a session bus and a notification server:
// downloading bob's folder with the row's button must raise a "Download finished" notification,
// and the tray menu, read over D-Bus, must offer Show Porch, Share files…, Settings… and Quit, whose
// click ends the app cleanly.
func TestUIDesktop(t *testing.T) {
	needPorch(t)
	needTool(t, "import", "imagemagick")
	xdotool := needTool(t, "xdotool", "xdotool")
	dunst := needTool(t, "dunst", "dunst")
	monitor := needTool(t, "dbus-monitor", "dbus-bin")
	n := newTestNet(t, 2)

	shared := filepath.Join(t.TempDir(), "holiday")
	makeTree(t, shared, map[string]int64{"notes.txt": 3000, "photos/beach.jpg": 3 << 20})
	mustRun(t, n, 1, "share", "add", shared, "--data", n.Data(1))
	n.Start(t, 1, "serve")

	display := startXvfb(t, n, 0)
	bus := sessionBus(t, n, 0)
	env := []string{"DISPLAY=" + display, "DBUS_SESSION_BUS_ADDRESS=" + bus}
	n.Exec(t, 0, "dunst", env, dunst)
	watch := n.Exec(t, 0, "dbus-monitor", env, monitor, "--session", "interface='org.freedesktop.Notifications',member='Notify'")
	app := n.StartEnv(t, 0, append(env, "LIBGL_ALWAYS_SOFTWARE=1", "LANG=en_US.UTF-8"))
	if !netns.WaitFor(t, 60*time.Second, func() bool {
		return app.Exited() || logShowsPeer(app.Stderr(), "peer added", "bob")
	}) || app.Exited() {
		t.Fatalf("the window never logged bob as added (exited: %v):\n%s", app.Exited(), netns.Tail(app.Stderr(), 20))
	}
	waitHashed(t, n, 0, "bob/holiday/photos/beach.jpg")
	time.Sleep(time.Second) // let the list render

	// Select bob in the neighbours list, then press the download button of the one row his
	// share shows (the window is 960x640 at the screen's corner: the button sits at the right
	// end of the first row).
	xdo := func(args ...string) {
		t.Helper()
		cmd := exec.Command("ip", append([]string{"netns", "exec", n.NS(0), xdotool}, args...)...)
		cmd.Env = append(os.Environ(), "DISPLAY="+display)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("xdotool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	xdo("mousemove", "60", "140", "click", "1")
	time.Sleep(time.Second)
	screenshot(t, n, 0, display, artifact("porch-window-browse.png"))
	xdo("mousemove", "937", "200", "click", "1")
	got := filepath.Join(n.Downloads(0), "holiday", "photos", "beach.jpg")
	if !netns.WaitFor(t, 60*time.Second, func() bool { return strings.Contains(watch.Stdout(), "Download finished") }) {
		t.Fatalf("no Download finished notification reached the bus; monitor:\n%s\nwindow:\n%s",
			netns.Tail(watch.Stdout(), 20), netns.Tail(app.Stderr(), 20))
	}
	sameFile(t, filepath.Join(shared, "photos", "beach.jpg"), got)
	sameFile(t, filepath.Join(shared, "notes.txt"), filepath.Join(n.Downloads(0), "holiday", "notes.txt"))
	if !strings.Contains(watch.Stdout(), `string "holiday from bob"`) {
		t.Errorf("the notification does not name the download and the neighbour:\n%s", netns.Tail(watch.Stdout(), 20))
	}
	time.Sleep(time.Second)
	screenshot(t, n, 0, display, artifact("porch-window-notification.png"))
	// Dismiss the popup (it covers the window's corner) for a clean shot of the window.
	if ctl, err := exec.LookPath("dunstctl"); err == nil {
		cmd := exec.Command("ip", "netns", "exec", n.NS(0), ctl, "close-all")
		cmd.Env = append(os.Environ(), "DBUS_SESSION_BUS_ADDRESS="+bus)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("dunstctl close-all: %v %s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	screenshot(t, n, 0, display, artifact("porch-window-downloaded.png"))

	// The tray, as a StatusNotifierItem host sees it.
	names, err := busCall(t, n, 0, bus, "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus.ListNames")
	if err != nil {
		t.Fatalf("ListNames: %v\n%s", err, names)
	}
	item := regexp.MustCompile(`org\.kde\.StatusNotifierItem-\d+-\d+`).FindString(names)
	if item == "" {
		t.Fatalf("no StatusNotifierItem on the session bus:\n%s", names)
	}
	layout, err := busCall(t, n, 0, bus, "--dest="+item, "/StatusNotifierMenu", "com.canonical.dbusmenu.GetLayout", "int32:0", "int32:-1", "array:string:")
	if err != nil {
		t.Fatalf("GetLayout: %v\n%s", err, layout)
	}
	for _, label := range []string{"Show Porch", "Share files…", "Settings…", "Quit"} {
		if trayItem(layout, label) == "" {
			t.Errorf("tray menu has no %q item:\n%s", label, layout)
		}
	}
	quit := trayItem(layout, "Quit")
	if quit == "" {
		t.FailNow()
	}
	if out, err := busCall(t, n, 0, bus, "--dest="+item, "/StatusNotifierMenu", "com.canonical.dbusmenu.Event",
		"int32:"+quit, "string:clicked", "variant:int32:0", "uint32:0"); err != nil {
		t.Fatalf("clicking Quit: %v\n%s", err, out)
	}
	code, ok := app.Wait(15 * time.Second)
	if !ok {
		t.Fatalf("the app still runs 15 s after Quit was clicked in the tray")
	}
	if code != 0 {
		t.Errorf("the app exited with %d after Quit:\n%s", code, netns.Tail(app.Stderr(), 10))
	}
}
