//go:build !linux

package share

import "os"

// renameNoReplace is Linux's renameat2 with RENAME_NOREPLACE; elsewhere
// callers fall back to a hard link and an unlink.
func renameNoReplace(*os.File, string, string) error { return errNoReplaceUnsupported }
