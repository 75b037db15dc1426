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
