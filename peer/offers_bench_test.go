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

// BenchmarkSendLarge offers a 64 MiB file from one engine to another on
// loopback, which accepts every offer and fetches it into a fresh folder
// each time: the offer, the answer and the verified download together (the
// sender's hashes come from its cache after the first round).
func BenchmarkSendLarge(b *testing.B) {
	const size = 64 << 20
	bus := newBus()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{3}).Read(data)
	src := filepath.Join(b.TempDir(), "big.bin")
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	opts := func(name string, accept AcceptPolicy) Options {
		return Options{DataDir: b.TempDir(), Name: name, Listen: "127.0.0.1:0", Accept: accept,
			DownloadDir: b.TempDir(), Discovery: bus.join, probes: fastProbes}
	}
	alice, err := New(opts("Alice", ""))
	if err != nil {
		b.Fatal(err)
	}
	bob, err := New(opts("Bob", AcceptAll))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, e := range []*Engine{alice, bob} {
		go func() { e.Run(ctx); done <- struct{}{} }()
	}
	defer func() { cancel(); <-done; <-done }()
	wait.Until(b, time.Minute, "both online", func() bool { return online(alice, bob.ID()) && online(bob, alice.ID()) })
	dest := b.TempDir()
	b.SetBytes(size)
	n := 0
	for b.Loop() {
		b.StopTimer()
		n++
		s := bob.Settings()
		s.DownloadDir = filepath.Join(dest, fmt.Sprint(n))
		if err := bob.SetSettings(s); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := alice.Send(ctx, bob.ID(), []string{src}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if res.Bytes != size {
			b.Fatalf("sent %d bytes, want %d", res.Bytes, size)
		}
		b.StopTimer()
		os.RemoveAll(s.DownloadDir)
		b.StartTimer()
	}
}
