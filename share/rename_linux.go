package share

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames the entry old of folder dir to new in the same
// folder unless new exists (renameat2 with RENAME_NOREPLACE: one atomic
// step, where a hard link and an unlink take two). Both names are single
// components; neither is followed if it is a symbolic link. It returns
// errNoReplaceUnsupported where the file system does not offer it.
func renameNoReplace(dir *os.File, old, new string) error {
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	if cerr := rc.Control(func(fd uintptr) {
		err = unix.Renameat2(int(fd), old, int(fd), new, unix.RENAME_NOREPLACE)
	}); cerr != nil {
		return cerr
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return os.ErrExist
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return errNoReplaceUnsupported
	}
	return &os.LinkError{Op: "renameat2", Old: old, New: new, Err: err}
}

// createExclusive creates the entry name of d's folder (a single component,
// never followed if it is a symbolic link), which must not exist, with mode
// 0644 less the umask, and writes data to it: an openat, writes and a
// close on the folder's descriptor, without the poller registration and
// finalizer of an *os.File, which cost a small file a fifth of its time.
// It returns an error wrapping fs.ErrExist if name exists; a file it could
// not write whole is removed.
func createExclusive(d *Dir, name string, data []byte) error {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	for {
		if cerr := rc.Control(func(dfd uintptr) {
			fd, err = unix.Openat(int(dfd), name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		}); cerr != nil {
			return cerr
		}
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	for len(data) > 0 {
		n, werr := unix.Write(fd, data)
		if errors.Is(werr, unix.EINTR) {
			continue
		}
		if werr != nil {
			err = werr
			break
		}
		data = data[n:]
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		_ = rc.Control(func(dfd uintptr) { unix.Unlinkat(int(dfd), name, 0) })
		return &os.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}
