package share

import (
	"errors"

	"golang.org/x/sys/unix"
)

// readBeneath reads the whole file rel (a slash path inside r) into dst,
// which must hold size bytes, if it is still the regular file of that size
// and modification time; ErrChanged otherwise. It is an openat2 that the
// kernel keeps beneath r's folder and that refuses every symbolic link on
// the way, an fstat, a pread, an fstat and a close: a fraction of the system
// calls of opening rel through the os.Root one component at a time. It
// returns errNoFastRead wherever it cannot (no openat2, a symbolic link on
// the way, a folder that could not be opened): the caller then goes
// through the os.Root, which vets links.
func readBeneath(r *itemRoot, rel string, size, mtime int64, dst []byte) error {
	if r.folder == nil {
		return errNoFastRead
	}
	rc, err := r.folder.SyscallConn()
	if err != nil {
		return errNoFastRead
	}
	how := unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd := -1
	if cerr := rc.Control(func(dfd uintptr) {
		for {
			fd, err = unix.Openat2(int(dfd), rel, &how)
			if !errors.Is(err, unix.EINTR) {
				return
			}
		}
	}); cerr != nil || err != nil {
		return errNoFastRead
	}
	defer unix.Close(fd)
	same := func() bool {
		var st unix.Stat_t
		return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG &&
			st.Size == size && st.Mtim.Nano() == mtime
	}
	if !same() {
		return ErrChanged
	}
	for off := 0; off < int(size); {
		n, err := unix.Pread(fd, dst[off:size], int64(off))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case n == 0:
			return ErrChanged
		}
		off += n
	}
	if !same() {
		return ErrChanged
	}
	return nil
}
