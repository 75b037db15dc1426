package share

import (
	"os"

	"golang.org/x/sys/unix"
)

// writeback asks the kernel to start writing n bytes of f at off to disk now,
// without waiting for it, so that the sync that finishes a download finds
// little left to do. It is only a hint: errors are ignored.
func writeback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// datasync flushes f's data to disk (fdatasync: metadata only when needed to
// read the data back).
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) { err = unix.Fdatasync(int(fd)) }); cerr != nil {
		return cerr
	}
	return err
}
