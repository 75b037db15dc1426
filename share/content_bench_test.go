package share

import (
	"bytes"
	"crypto/sha256"
	"fmt"
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

// BenchmarkBlockHash compares block sizes: per-block cost is flat from 64 KiB
// up, so 1 MiB blocks keep hash lists small (32 bytes per MiB) at no speed
// cost, while still letting a download verify and spread work in small units.
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
