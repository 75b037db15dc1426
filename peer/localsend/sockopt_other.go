//go:build !unix

package localsend

import "syscall"

// reuseAddr does nothing here: the port is not shared.
func reuseAddr(_, _ string, _ syscall.RawConn) error { return nil }
