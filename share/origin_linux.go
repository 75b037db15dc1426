package share

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// setOrigin records origin on the open file f (see OriginAttr); "" records
// nothing.
func setOrigin(f *os.File, origin string) error {
	if origin == "" {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoOrigin, err)
	}
	if cerr := rc.Control(func(fd uintptr) {
		err = unix.Fsetxattr(int(fd), OriginAttr, []byte(origin), 0)
	}); cerr != nil {
		return fmt.Errorf("%w: %v", ErrNoOrigin, cerr)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNoOrigin, OriginAttr, err)
	}
	return nil
}

// Origin returns the origin recorded on the file at path, or "" if none is.
func Origin(path string) string {
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, OriginAttr, buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}
