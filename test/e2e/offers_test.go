package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"porch/test/netns"
)

// sendTree is what the offer tests send: a folder of several kinds of files and a file.
var sendTree = map[string]int64{
	"holiday/day1.bin":       2<<20 + 999, // several blocks
	"holiday/notes.txt":      300,
	"holiday/empty.txt":      0,
	"holiday/later/pics.bin": 70000,
	"holiday/nothing":        -1,
	"letter.txt":             1234,
}

// TestE2EOffers sends files and folders from peer to peer with `porch send` between real
// `porch serve` processes in namespaces, one receiver for each accept policy: bob takes all,
// carol takes what trusted neighbours send, dave asks (and, with no window, declines), alice
// takes nothing (the default). A neighbour that was not offered anything sees nothing of it.
func TestE2EOffers(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 4)
	root := t.TempDir()
	makeTree(t, root, sendTree)
	items := []string{filepath.Join(root, "holiday"), filepath.Join(root, "letter.txt")}
	// Alice shares one file of her own, so that her listing is not empty to begin with.
	mustRun(t, n, 0, "share", "add", filepath.Join(root, "letter.txt"), "--data", n.Data(0))

	n.Start(t, 0, "serve")
	n.Start(t, 1, "serve", "--accept", "all")
	carol := n.Start(t, 2, "serve", "--accept", "trusted")
	dave := n.Start(t, 3, "serve", "--accept", "ask")
	waitPeer(t, n, 2, "alice", "bob", "dave")
	// Carol trusts alice (the key of alice's serve, which `porch send --data` below speaks with).
	mustRun(t, n, 2, "trust", "alice", "--yes", "--data", n.Data(2))

	// send runs `porch send` from peer i's namespace with the identity of its serve.
	send := func(i int, args ...string) (stdout, stderr string, exit int) {
		t.Helper()
		return n.Run(t, i, append(append([]string{"send"}, args...), "--data", n.Data(i))...)
	}
	refused := func(t *testing.T, what string, exit int, stderr, want string, to int) {
		t.Helper()
		line := strings.TrimSpace(stderr)
		if exit != 1 || strings.Contains(line, "\n") || !strings.Contains(line, want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and one line saying %q", what, exit, line, want)
		}
		if ents, _ := os.ReadDir(n.Downloads(to)); len(ents) != 0 {
			t.Errorf("%s: %d entries arrived in %s's downloads anyway", what, len(ents), n.Name(to))
		}
	}

	t.Run("all accepts", func(t *testing.T) {
		out, errOut, code := send(0, append([]string{"bob"}, items...)...)
		if code != 0 || !strings.Contains(out, "to bob") {
			t.Fatalf("send to bob: exit %d\n%s\n%s", code, out, errOut)
		}
		sameTree(t, filepath.Join(root, "holiday"), filepath.Join(n.Downloads(1), "holiday"))
		sameFile(t, filepath.Join(root, "letter.txt"), filepath.Join(n.Downloads(1), "letter.txt"))
		assertNoPartials(t, n.Downloads(1))
		assertNoExecBits(t, n.Downloads(1))
	})

	t.Run("a third neighbour sees nothing", func(t *testing.T) {
		for _, i := range []int{2, 3} {
			names := entryNames(t, mustRun(t, n, i, "ls", "alice", "--json"))
			if len(names) != 1 || names[0] != "letter.txt" {
				t.Errorf("%s lists alice's shares as %v, want letter.txt alone", n.Name(i), names)
			}
			if out := mustRun(t, n, i, "search", "holiday", "--wait", "3s"); !strings.Contains(out, "Nothing matches") {
				t.Errorf("%s finds the offered folder on a neighbour:\n%s", n.Name(i), out)
			}
			if _, _, code := n.Run(t, i, "ls", "alice/holiday"); code != 1 {
				t.Errorf("%s: ls alice/holiday exit %d, want 1 (not shared)", n.Name(i), code)
			}
		}
	})

	t.Run("none by default declines", func(t *testing.T) {
		_, errOut, code := send(1, append([]string{"alice"}, items...)...)
		refused(t, "send to alice", code, errOut, "accepts no offers", 0)
	})

	t.Run("trusted accepts a trusted sender", func(t *testing.T) {
		out, errOut, code := send(0, "carol", items[0])
		if code != 0 {
			t.Fatalf("send from trusted alice to carol: exit %d\n%s\n%s", code, out, errOut)
		}
		sameTree(t, filepath.Join(root, "holiday"), filepath.Join(n.Downloads(2), "holiday"))
		if !strings.Contains(carol.Stderr(), "offer received") {
			t.Errorf("carol's log does not tell of the offer:\n%s", netns.Tail(carol.Stderr(), 10))
		}
	})

	t.Run("trusted declines an untrusted sender", func(t *testing.T) {
		// A fresh identity (CLIData) that carol never trusted.
		before, _ := os.ReadDir(n.Downloads(2))
		_, errOut, code := n.Run(t, 0, "send", "carol", items[1])
		line := strings.TrimSpace(errOut)
		if code != 1 || !strings.Contains(line, "trusted neighbours only") || strings.Contains(line, "\n") {
			t.Errorf("untrusted send to carol: exit %d, stderr %q", code, line)
		}
		if after, _ := os.ReadDir(n.Downloads(2)); len(after) != len(before) {
			t.Errorf("carol's downloads went from %d to %d entries", len(before), len(after))
		}
	})

	t.Run("ask without a window declines", func(t *testing.T) {
		_, errOut, code := send(0, append([]string{"dave"}, items...)...)
		refused(t, "send to dave", code, errOut, "nobody is at", 3)
		if !strings.Contains(dave.Stderr(), "offer received") {
			t.Errorf("dave's log does not tell of the offer:\n%s", netns.Tail(dave.Stderr(), 10))
		}
	})

	t.Run("usage", func(t *testing.T) {
		if _, _, code := n.Run(t, 0, "send", "bob"); code != 2 {
			t.Errorf("send without a PATH: exit %d, want 2", code)
		}
		if _, _, code := n.Run(t, 0, "serve", "--accept", "maybe"); code != 2 {
			t.Errorf("serve --accept maybe: exit %d, want 2", code)
		}
		_, errOut, code := send(0, "bob", filepath.Join(root, "no such file"))
		if code != 1 || !strings.Contains(errOut, "no such file") {
			t.Errorf("send of a missing file: exit %d, %q", code, errOut)
		}
	})
}
