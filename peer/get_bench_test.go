package peer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"porch/test/wait"
)

// BenchmarkGetManySmall downloads a folder of 10,000 files of 4 KiB from one
// engine to another on loopback, the way porch get does, into a fresh folder
// each time. It is here to be profiled (-cpuprofile); scripts/bench.sh
// measures the real binary between network namespaces.
func BenchmarkGetManySmall(b *testing.B) {
	const files, size = 10_000, 4 << 10
	bus := newBus()
	src := b.TempDir()
	rng := rand.NewChaCha8([32]byte{7})
	data := make([]byte, size)
	if err := os.Mkdir(filepath.Join(src, "many"), 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range files {
		rng.Read(data)
		if err := os.WriteFile(filepath.Join(src, "many", fmt.Sprintf("f%06d", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	opts := func(name string) Options {
		return Options{DataDir: b.TempDir(), Name: name, Listen: "127.0.0.1:0",
			DownloadDir: b.TempDir(), Discovery: bus.join, probes: fastProbes}
	}
	alice, err := New(opts("Alice"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := alice.AddShares(filepath.Join(src, "many")); err != nil {
		b.Fatal(err)
	}
	mo := opts("")
	mo.ClientOnly = true
	me, err := New(mo)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, e := range []*Engine{alice, me} {
		go func() { e.Run(ctx); done <- struct{}{} }()
	}
	defer func() { cancel(); <-done; <-done }()
	wait.Until(b, 2*time.Minute, "alice hashed and online", func() bool {
		return hashed(alice) && online(me, alice.ID())
	})
	dest := b.TempDir()
	n := 0
	for b.Loop() {
		n++
		dir := filepath.Join(dest, fmt.Sprint(n))
		res, err := me.Get(ctx, alice.ID(), "many", dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		if res.Files != files {
			b.Fatalf("%d files written, want %d", res.Files, files)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}
