//go:build unix

package localsend

import "syscall"

// reuseAddr lets the UDP port be shared with other programs that listen
// for LocalSend's multicast (a LocalSend app, a second Porch).
func reuseAddr(_, _ string, c syscall.RawConn) error {
	var err error
	cerr := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if cerr != nil {
		return cerr
	}
	return err
}
