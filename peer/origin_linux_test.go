package peer

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"porch/share"
)

// What arrives is marked: every downloaded file, fetched whole or in blocks,
// carries the neighbour and path it came from in user.xdg.origin.url and is
// never executable, even when it was on the neighbour; the transfer still
// names the neighbour after a restart, for the window's "from Alice".
func TestDownloadsAreMarked(t *testing.T) {
	b := newBus()
	alice := start(t, testOptions(t, b, "Alice"))
	src := filepath.Join(t.TempDir(), "drop")
	big := make([]byte, 2*share.BlockSize+77)
	rand.NewChaCha8([32]byte{7}).Read(big)
	files := map[string][]byte{"run.sh": []byte("#!/bin/sh\necho hi\n"), "tool.bin": big}
	for name, data := range files {
		if err := os.Chmod(writeFile(t, src, name, data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.AddShares(src); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(t, b, "Me")
	me := start(t, opts)
	waitFor(t, "alice hashed and online", func() bool { return hashed(alice.Engine) && online(me.Engine, alice.ID()) })

	tr, err := me.Download(alice.ID(), "drop", "")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the download done", func() bool {
		for _, x := range me.Transfers() {
			if x.ID == tr.ID && x.State == TransferDone {
				return true
			}
		}
		return false
	})
	probe := writeFile(t, opts.DownloadDir, "probe", nil)
	marked := unix.Setxattr(probe, "user.porch.probe", []byte("1"), 0) == nil
	os.Remove(probe)
	if !marked {
		t.Logf("the filesystem of %s keeps no user extended attributes: origins not checked", opts.DownloadDir)
	}
	for name, data := range files {
		p := filepath.Join(opts.DownloadDir, "drop", name)
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: %v", name, err)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm()&0o111 != 0 {
			t.Errorf("%s is executable: %v", name, fi.Mode())
		}
		if want := share.OriginURL(alice.ID(), "drop/"+name); marked && share.Origin(p) != want {
			t.Errorf("%s: origin %q, want %q", name, share.Origin(p), want)
		}
	}

	me.stop(t)
	again := mustNew(t, opts)
	defer again.Close()
	found := false
	for _, x := range again.Transfers() {
		if x.ID == tr.ID {
			found = true
			if x.PeerName != "Alice" || x.State != TransferDone {
				t.Fatalf("after a restart: %+v", x)
			}
		}
	}
	if !found {
		t.Fatal("the transfer is gone after a restart")
	}
}
