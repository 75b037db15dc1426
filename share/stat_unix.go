//go:build unix

package share

import (
	"io/fs"
	"os"
	"syscall"
)

// openReadFlags opens shared files without blocking if one was swapped for a
// FIFO between the scan and the open.
const openReadFlags = os.O_RDONLY | syscall.O_NONBLOCK

// inodeOf returns the file's inode number, part of the hash cache key so that
// a file replaced by another with the same size and time is hashed again.
func inodeOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
