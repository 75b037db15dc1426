package ui

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestBusAddressAnswers(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus socket")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	escaped := filepath.Join(dir, "bus%20socket")
	missing := filepath.Join(dir, "nobody")
	for _, c := range []struct {
		addr string
		want bool
	}{
		{"unix:path=" + escaped, true},
		{"unix:path=" + missing, false},
		{"unix:path=" + missing + ";unix:path=" + escaped + ",guid=0123", true},
		{"unix:guid=0123,path=" + escaped, true},
		{"unix:abstract=porch-test-no-such-bus", false},
		{"tcp:host=localhost,port=1", true}, // not checked: the bus decides
		{"garbage", false},
		{"", false},
	} {
		if got := busAddressAnswers(c.addr, time.Second); got != c.want {
			t.Errorf("busAddressAnswers(%q) = %v, want %v", c.addr, got, c.want)
		}
	}
}

func TestSessionBusReachable(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", dir)
	if sessionBusReachable() {
		t.Fatal("reachable with no bus socket in XDG_RUNTIME_DIR")
	}
	l, err := net.Listen("unix", filepath.Join(dir, "bus"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !sessionBusReachable() {
		t.Fatal("not reachable with a listening XDG_RUNTIME_DIR/bus")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(dir, "gone"))
	if sessionBusReachable() {
		t.Fatal("DBUS_SESSION_BUS_ADDRESS should win over XDG_RUNTIME_DIR")
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if sessionBusReachable() {
		t.Fatal("reachable with neither variable set")
	}
}
