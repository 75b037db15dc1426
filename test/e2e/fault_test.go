package e2e

// End-to-end tests of failure handling and of many small files: a source killed mid-download, a
// source that sends corrupt blocks (porch built with -tags porchfault, see peer/wire/fault_*.go), and a
// folder of thousands of small files.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"porch/test/netns"
)

// sameFileTwice shares one random file of size bytes as a/same.bin (alice) and b/same.bin (bob).
func sameFileTwice(t *testing.T, n *testNet, size int64) (root string) {
	t.Helper()
	root = t.TempDir()
	makeTree(t, root, map[string]int64{"a/same.bin": size})
	if err := os.MkdirAll(filepath.Join(root, "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(root, "a/same.bin"), filepath.Join(root, "b/same.bin"))
	mustRun(t, n, 0, "share", "add", filepath.Join(root, "a"), "--data", n.Data(0))
	mustRun(t, n, 1, "share", "add", filepath.Join(root, "b"), "--data", n.Data(1))
	return root
}

// startHolders starts alice and bob serving with --max-upload rate and carol serving beside
// them, waits for waitHolders and returns bob's process.
func startHolders(t *testing.T, n *testNet, rate string) (bob *netns.Proc) {
	t.Helper()
	n.Start(t, 0, "serve", "--max-upload", rate)
	bob = n.Start(t, 1, "serve", "--max-upload", rate)
	n.Start(t, 2, "serve")
	waitHolders(t, n)
	return bob
}

// waitHolders waits until carol (peer 2) sees alice and bob and both have hashed same.bin (from
// sameFileTwice), so that a download can find both holders.
func waitHolders(t *testing.T, n *testNet) {
	t.Helper()
	waitPeer(t, n, 2, "alice", "bob")
	waitHashed(t, n, 2, "alice/a/same.bin")
	waitHashed(t, n, 2, "bob/b/same.bin")
}

// getSucceeds waits (3 minutes at most) for a `get` of alice/a/same.bin into to, checks that it
// exited 0 with the bytes of root/a/same.bin, and returns its stderr.
func getSucceeds(t *testing.T, get *netns.Proc, root, to string) string {
	t.Helper()
	code, ok := get.Wait(3 * time.Minute)
	if !ok {
		t.Fatalf("get still running after 3 minutes:\n%s", netns.Tail(get.Stderr(), 20))
	}
	errOut := get.Stderr()
	t.Logf("carol$ porch get → exit %d\n%s", code, netns.Tail(errOut, 6))
	if code != 0 {
		t.Fatalf("get: exit %d:\n%s", code, netns.Tail(errOut, 20))
	}
	sameFile(t, filepath.Join(root, "a/same.bin"), filepath.Join(to, "same.bin"))
	return errOut
}

// droppedSource reports whether a get's stderr has the engine's warning that it dropped name.
func droppedSource(stderr, name string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(line, "source dropped") && (strings.Contains(line, "peer="+name+" ") ||
			strings.HasSuffix(line, "peer="+name) || strings.Contains(line, `peer="`+name+`"`)) {
			return true
		}
	}
	return false
}

// TestE2EFailover kills one of two sources in the middle of a download: the other finishes it.
func TestE2EFailover(t *testing.T) {
	needPorch(t)
	const size = 128 << 20
	n := newTestNet(t, 3)
	root := sameFileTwice(t, n, size)
	// Rate limits: the download takes several seconds, long enough to kill bob in the middle.
	bob := startHolders(t, n, "16MB/s")

	to := t.TempDir()
	get := n.Start(t, 2, "get", "alice/a/same.bin", "--to", to, "--data", n.CLIData(2))
	waitGrowingPartial(t, get, to, size, time.Second)
	bob.Kill()
	if _, err := os.Stat(filepath.Join(to, "same.bin")); err == nil || get.Exited() {
		t.Fatalf("the download finished before bob was killed; raise its size or lower --max-upload")
	}

	errOut := getSucceeds(t, get, root, to)
	assertNoPartials(t, to)
	if !droppedSource(errOut, "bob") {
		t.Errorf("get's stderr does not report that bob was dropped:\n%s", netns.Tail(errOut, 20))
	}
}

// TestE2ECorruptSource has bob send corrupt blocks: they are caught, bob is dropped, and alice
// delivers the file intact.
func TestE2ECorruptSource(t *testing.T) {
	needPorch(t)
	bad := faultBinary(t)
	n := newTestNet(t, 3)
	root := sameFileTwice(t, n, 64<<20)
	// alice is rate limited so that bob is asked for blocks before she could deliver them all.
	n.Start(t, 0, "serve", "--max-upload", "16MB/s")
	n.StartBin(t, 1, bad, []string{"PORCH_FAULT_CORRUPT=1"}, "serve")
	n.Start(t, 2, "serve")
	waitHolders(t, n)

	to := t.TempDir()
	_, errOut, code := n.Run(t, 2, "get", "alice/a/same.bin", "--to", to)
	if code != 0 {
		t.Fatalf("get: exit %d:\n%s", code, netns.Tail(errOut, 20))
	}
	sameFile(t, filepath.Join(root, "a/same.bin"), filepath.Join(to, "same.bin"))
	assertNoPartials(t, to)
	if !droppedSource(errOut, "bob") {
		t.Errorf("get's stderr does not report that bob (corrupt) was dropped:\n%s", netns.Tail(errOut, 20))
	}
}

// TestE2EManySmallFiles fetches a folder of 3,000 small files, a few empty ones and two empty
// folders, and compares the whole tree.
//
// Whether the files came in batches (POST /v1/batch) is not asserted: nothing porch logs, even
// with --verbose, tells batched requests from single ones, and the test adds no output for it.
func TestE2EManySmallFiles(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 3)
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	tree := map[string]int64{
		"many/empty1":             -1,
		"many/sub/empty2":         -1,
		"many/zero.txt":           0,
		"many/d03/zero.txt":       0,
		"many/d07/x/y/zero.bin":   0,
		"many/d11/x/nothing-here": 0,
	}
	for i := 0; i < 3000; i++ {
		rel := fmt.Sprintf("many/d%02d/s%d/f%04d.bin", i%20, i%7, i)
		if i%5 == 0 {
			rel = fmt.Sprintf("many/d%02d/f%04d.bin", i%20, i)
		}
		tree[rel] = 1024 + rng.Int64N(7*1024+1)
	}
	makeTree(t, root, tree)
	mustRun(t, n, 0, "share", "add", filepath.Join(root, "many"), "--data", n.Data(0))
	n.Start(t, 0, "serve")
	n.Start(t, 1, "serve")
	n.Start(t, 2, "serve")
	waitPeer(t, n, 1, "alice")

	to := t.TempDir()
	_, errOut, code := n.Run(t, 1, "get", "alice/many", "--to", to)
	if code != 0 {
		t.Fatalf("get: exit %d:\n%s", code, netns.Tail(errOut, 20))
	}
	sameTree(t, filepath.Join(root, "many"), filepath.Join(to, "many"))
	// sameTree compares names, folders and SHA-256; sizes and the empty folders explicitly too.
	for rel, size := range tree {
		fi, err := os.Stat(filepath.Join(to, filepath.FromSlash(rel)))
		switch {
		case err != nil:
			t.Errorf("%s: %v", rel, err)
		case size < 0 && !fi.IsDir():
			t.Errorf("%s: want an empty folder, got %v", rel, fi.Mode())
		case size >= 0 && fi.Size() != size:
			t.Errorf("%s: %d bytes, want %d", rel, fi.Size(), size)
		}
	}
	assertNoPartials(t, to)
}

// TestE2ELateSource starts a download while only alice is online; bob, who holds the same file,
// comes online in the middle of it and is drawn from too.
func TestE2ELateSource(t *testing.T) {
	needPorch(t)
	const size = 64 << 20
	n := newTestNet(t, 3)
	root := sameFileTwice(t, n, size)
	// A first run of bob hashes its copy (the hash cache keeps it), then leaves.
	bob := startHolders(t, n, "8MB/s")
	if err := bob.Stop(); err != nil {
		t.Fatalf("stopping bob: %v", err)
	}

	to := t.TempDir()
	get := n.Start(t, 2, "get", "alice/a/same.bin", "--to", to, "--data", n.CLIData(2))
	if !netns.WaitFor(t, 30*time.Second, func() bool { return findPartial(to) != "" || get.Exited() }) {
		t.Fatalf("no .partial in %s:\n%s", to, get.Stderr())
	}
	n.Start(t, 1, "serve", "--max-upload", "8MB/s")
	if get.Exited() {
		t.Fatalf("the download finished before bob came back; raise its size or lower --max-upload")
	}
	errOut := getSucceeds(t, get, root, to)
	if got := sourcesUsed(errOut); got != 2 {
		t.Errorf("get used %d sources, want 2 (bob came online during the download):\n%s", got, netns.Tail(errOut, 10))
	}
}
