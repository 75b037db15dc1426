package share

import (
	"bytes"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchText returns n bytes of real text: Go's own sources and docs (from
// the GOROOT of the go command), or the filler when they cannot be read.
func benchText(b *testing.B, n int) []byte {
	var out []byte
	goroot, _ := exec.Command("go", "env", "GOROOT").Output()
	filepath.WalkDir(filepath.Join(strings.TrimSpace(string(goroot)), "src"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || len(out) >= n {
			return fs.SkipAll
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".txt")) {
			if data, err := os.ReadFile(p); err == nil && bytes.IndexByte(data, 0) < 0 {
				out = append(out, data...)
			}
		}
		return nil
	})
	if len(out) < n/4 {
		b.Logf("GOROOT sources not found; using synthetic text")
		return fillerText(n)
	}
	for len(out) < n {
		out = append(out, out[:min(len(out), n-len(out))]...)
	}
	return out[:n]
}

// BenchmarkHashSecrets measures what recognising secrets costs hashing: the
// same files hashed by the hashing path alone ("plain") and with the
// scanner ("scan"), in memory so that only the CPU counts. "media" is 1 GiB
// of random bytes in 8 MiB files (photos, music, video: binary), "text" 256
// MiB of Go sources and docs in 64 KiB files, "mixed" both (1.25 GiB, 80%
// media by bytes). Each iteration runs both ways, in turns, and times each
// by the CPU time of its thread (so that other work on the machine does not
// count): plain-MB/s, scan-MB/s and slower-% are the results.
func BenchmarkHashSecrets(b *testing.B) {
	r := mrand.New(mrand.NewPCG(5, 6))
	media := make([]byte, 1<<30)
	for i := 0; i+8 <= len(media); i += 8 {
		v := r.Uint64()
		for k := range 8 {
			media[i+k] = byte(v >> (8 * k))
		}
	}
	text := benchText(b, 256<<20)
	split := func(data []byte, size int) [][]byte {
		var files [][]byte
		for len(data) > 0 {
			n := min(size, len(data))
			files = append(files, data[:n])
			data = data[n:]
		}
		return files
	}
	mediaFiles, textFiles := split(media, 8<<20), split(text, 64<<10)
	cases := []struct {
		name  string
		files [][]byte
	}{
		{"media", mediaFiles}, {"text", textFiles}, {"mixed", append(append([][]byte{}, mediaFiles...), textFiles...)},
	}
	buf := make([]byte, BlockSize)
	for _, c := range cases {
		var total int64
		for _, f := range c.files {
			total += int64(len(f))
		}
		b.Run(c.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var spent [2]time.Duration // plain, scan
			found := 0
			pass := func(scan bool) {
				start := threadCPU(b)
				for _, f := range c.files {
					var sc *secretScanner
					if scan {
						sc = &secretScanner{}
					}
					if _, err := hashScan(bytes.NewReader(f), buf, sc); err != nil {
						b.Fatal(err)
					}
					if sc != nil && sc.Rule() != "" {
						found++
					}
				}
				if scan {
					spent[1] += threadCPU(b) - start
				} else {
					spent[0] += threadCPU(b) - start
				}
			}
			b.SetBytes(2 * total)
			i := 0
			for b.Loop() {
				first := i%2 == 0
				pass(!first)
				pass(first)
				i++
			}
			mbs := func(d time.Duration) float64 { return float64(total) * float64(i) / d.Seconds() / 1e6 }
			b.ReportMetric(mbs(spent[0]), "plain-MB/s")
			b.ReportMetric(mbs(spent[1]), "scan-MB/s")
			b.ReportMetric(100*(spent[1].Seconds()/spent[0].Seconds()-1), "slower-%")
			// Go's sources hold a few real test keys and tokens.
			b.ReportMetric(float64(found)/float64(i), "found/op")
		})
	}
}

// threadCPU returns the CPU time the calling thread has used.
func threadCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is Linux's RUSAGE_THREAD.
const rusageThread = 1

// BenchmarkSecretScanner is the scanner alone, over 64 MiB of random bytes
// and of text, in 1 MiB writes.
func BenchmarkSecretScanner(b *testing.B) {
	r := mrand.New(mrand.NewPCG(7, 8))
	random := make([]byte, 64<<20)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	for _, c := range []struct {
		name string
		data []byte
	}{{"random", random}, {"text", benchText(b, 64<<20)}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				var s secretScanner
				for i := 0; i < len(c.data); i += BlockSize {
					s.Write(c.data[i:min(len(c.data), i+BlockSize)])
				}
				s.Close()
			}
		})
	}
}
