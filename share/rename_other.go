//go:build !linux

package share

import "os"

// renameNoReplace is Linux's renameat2 with RENAME_NOREPLACE; elsewhere
// callers fall back to a hard link and an unlink.
func renameNoReplace(*os.File, string, string) error { return errNoReplaceUnsupported }

// createExclusive creates name in d's folder, which must not exist, and
// writes data to it, removing it if it could not be written whole; on Linux
// it uses the folder's descriptor directly.
func createExclusive(d *Dir, name string, data []byte) error {
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.root.Remove(name)
	}
	return err
}
