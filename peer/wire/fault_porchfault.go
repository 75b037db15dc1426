//go:build porchfault

package wire

import "os"

// Test-only fault injection, compiled in only with -tags porchfault (the end-to-end tests build
// a second binary with it). With PORCH_FAULT_CORRUPT=1 in the serving process's environment,
// every byte range served from /v1/content has a byte flipped in each chunk read, so every
// block a downloader receives fails its hash check.

var faultCorruptOn = os.Getenv("PORCH_FAULT_CORRUPT") == "1"

// faultCorrupt flips bytes of b when PORCH_FAULT_CORRUPT=1.
func faultCorrupt(b []byte) {
	if !faultCorruptOn {
		return
	}
	for i := 0; i < len(b); i += 4096 {
		b[i] ^= 0xff
	}
}

// faultContent wraps a file opened for /v1/content so its reads pass through faultCorrupt.
func faultContent(f File, err error) (File, error) {
	if err != nil || !faultCorruptOn {
		return f, err
	}
	return corruptFile{f}, nil
}

type corruptFile struct{ File }

func (c corruptFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.File.ReadAt(p, off)
	faultCorrupt(p[:n])
	return n, err
}
