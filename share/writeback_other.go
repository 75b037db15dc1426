//go:build !linux

package share

import "os"

// writeback is a hint that only Linux takes (sync_file_range); elsewhere the
// syncs (datasync) do all the work.
func writeback(*os.File, int64, int64) {}

// datasync flushes f to disk.
func datasync(f *os.File) error { return f.Sync() }
