package share

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkHashReader measures content id hashing throughput (MB/s) over a
// 64 MiB in-memory file: with SHA-NI, SHA-256 outruns disks and gigabit
// links, so hashing is never the bottleneck of sharing.
func BenchmarkHashReader(b *testing.B) {
	data := bytes.Repeat([]byte("porch-benchmark!"), 64*BlockSize/16)
	buf := make([]byte, BlockSize)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := HashReader(bytes.NewReader(data), buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlockHash compares block sizes. SHA-256 throughput does not depend
// on the block size beyond a few KiB, so the size is chosen for other reasons:
// 1 MiB keeps hash lists small (32 bytes per MiB, 3.2 MB for 100 GB) while a
// download still verifies and spreads work across peers in small units.
func BenchmarkBlockHash(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 1 << 20, 4 << 20} {
		data := bytes.Repeat([]byte{0x5a}, size)
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				_ = sha256.Sum256(data)
			}
		})
	}
}

// BenchmarkHashAt measures the parallel hashing a finished download is
// verified with, against BenchmarkHashReader's single goroutine.
func BenchmarkHashAt(b *testing.B) {
	data := bytes.Repeat([]byte("porch-benchmark!"), 64*BlockSize/16)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := HashAt(bytes.NewReader(data), int64(len(data)), runtime.GOMAXPROCS(0)); err != nil {
			b.Fatal(err)
		}
	}
}
