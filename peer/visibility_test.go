package peer

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"porch/share"
)

// Three real engines: Me shares an open folder, one for trusted neighbours
// and one chosen for Carol. Bob, a stranger, sees the open one only, until
// Me trusts him; Carol sees hers and the open one; the counts each is told
// are of what it sees.
func TestPrivateSharesBetweenEngines(t *testing.T) {
	b := newBus()
	me := start(t, testOptions(t, b, "Me"))
	bob := start(t, testOptions(t, b, "Bob"))
	carolOpts := testOptions(t, b, "Carol")
	carol := start(t, carolOpts)
	waitFor(t, "all online", func() bool {
		return online(me.Engine, bob.ID()) && online(me.Engine, carol.ID()) &&
			online(bob.Engine, me.ID()) && online(carol.Engine, me.ID())
	})
	src := t.TempDir()
	for _, f := range []string{"pub/a.txt", "tr/b.txt", "tr/c.txt", "ch/d.txt"} {
		p := filepath.Join(src, filepath.FromSlash(f))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := me.AddShares(filepath.Join(src, "pub")); err != nil {
		t.Fatal(err)
	}
	if _, err := me.AddSharesVisible(share.Visibility{Restricted: true, Trusted: true}, filepath.Join(src, "tr")); err != nil {
		t.Fatal(err)
	}
	chosen, err := me.ChosenPeer("carol")
	if err != nil {
		t.Fatal(err)
	}
	if chosen.ID != carol.ID() || chosen.Fingerprint == "" {
		t.Fatalf("carol resolved to %+v", chosen)
	}
	if _, err := me.AddSharesVisible(share.Visibility{Restricted: true, Peers: []share.ChosenPeer{chosen}}, filepath.Join(src, "ch")); err != nil {
		t.Fatal(err)
	}
	tops := func(e *runner) []string {
		t.Helper()
		es, err := e.List(context.Background(), me.ID(), "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range es {
			out = append(out, x.Name)
		}
		return out
	}
	files := func(e *runner) int {
		for _, p := range e.Peers() {
			if p.ID == me.ID() {
				return p.Files
			}
		}
		return -1
	}
	if got := tops(bob); !slices.Equal(got, []string{"pub"}) {
		t.Errorf("bob sees %q", got)
	}
	if got := tops(carol); !slices.Equal(got, []string{"ch", "pub"}) {
		t.Errorf("carol sees %q", got)
	}
	waitFor(t, "counts of what each sees", func() bool { return files(bob) == 1 && files(carol) == 2 })

	if err := me.Trust(bob.ID()); err != nil {
		t.Fatal(err)
	}
	if got := tops(bob); !slices.Equal(got, []string{"pub", "tr"}) {
		t.Errorf("trusted bob sees %q", got)
	}
	waitFor(t, "bob told the trusted count", func() bool { return files(bob) == 3 })

	// Me keeps the open folder for Carol alone; Bob no longer finds it.
	if _, err := me.SetShareVisibility("pub", share.Visibility{Restricted: true, Peers: []share.ChosenPeer{chosen}}); err != nil {
		t.Fatal(err)
	}
	if got := tops(bob); !slices.Equal(got, []string{"tr"}) {
		t.Errorf("after pub was kept for carol, bob sees %q", got)
	}
	res, err := bob.Search(context.Background(), "a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 0 {
		t.Errorf("bob finds %+v", res)
	}
	if _, err := me.Untrust("bob"); err != nil {
		t.Fatal(err)
	}
	if got := tops(bob); len(got) != 0 {
		t.Errorf("untrusted bob sees %q", got)
	}

	// Carol's id comes back with another key: it is a stranger to what
	// was kept for carol.
	carol.stop(t)
	other := sameIDNewKey(t, b, carolOpts, "Carol")
	waitFor(t, "the new carol sees me", func() bool { return online(other.Engine, me.ID()) })
	if got := tops(other); len(got) != 0 {
		t.Errorf("carol's id with a new key sees %q", got)
	}
}
