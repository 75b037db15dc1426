package ui

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// sessionBusReachable reports whether a D-Bus session bus answers, the way
// the system tray will look for one: $DBUS_SESSION_BUS_ADDRESS, else the
// socket $XDG_RUNTIME_DIR/bus. The tray library dereferences a nil bus
// connection when the app quits if it never connected, so the window adds a
// tray only when this holds. Unix socket addresses are dialled; any other
// transport is trusted, since only the bus itself can check it.
func sessionBusReachable() bool {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" || addr == "autolaunch:" {
		dir := os.Getenv("XDG_RUNTIME_DIR")
		if dir == "" {
			return false
		}
		addr = "unix:path=" + filepath.Join(dir, "bus")
	}
	return busAddressAnswers(addr, time.Second)
}

// busAddressAnswers reports whether any of the ';'-separated D-Bus server
// addresses in addr accepts a connection within timeout.
func busAddressAnswers(addr string, timeout time.Duration) bool {
	for _, a := range strings.Split(addr, ";") {
		transport, params, ok := strings.Cut(a, ":")
		if !ok {
			continue
		}
		if transport != "unix" {
			return true
		}
		for _, kv := range strings.Split(params, ",") {
			k, v, _ := strings.Cut(kv, "=")
			var sock string
			switch k {
			case "path":
				sock = unescapeBusValue(v)
			case "abstract":
				sock = "@" + unescapeBusValue(v)
			default:
				continue
			}
			if c, err := net.DialTimeout("unix", sock, timeout); err == nil {
				c.Close()
				return true
			}
		}
	}
	return false
}

// unescapeBusValue undoes the %XX escaping of D-Bus address values; a
// malformed escape is kept as written.
func unescapeBusValue(v string) string {
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
