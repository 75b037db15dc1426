package share

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A library with an open folder, a folder for trusted neighbours and one for
// a chosen neighbour; the same bytes in the open and the trusted one, other
// bytes in the trusted one only.
func privateLib(t *testing.T) (*Library, map[string]string) {
	t.Helper()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "pub", "same.txt"), "same bytes")
	writeFile(t, filepath.Join(src, "tr", "same.txt"), "same bytes")
	writeFile(t, filepath.Join(src, "tr", "only.txt"), "only trusted")
	writeFile(t, filepath.Join(src, "tr", "deep", "x.txt"), "x")
	writeFile(t, filepath.Join(src, "ch", "carol.txt"), "for carol")
	l := openLib(t, t.TempDir(), LibraryOptions{}, filepath.Join(src, "pub"))
	if _, err := l.cat.AddVisible(Visibility{Restricted: true, Trusted: true}, filepath.Join(src, "tr")); err != nil {
		t.Fatal(err)
	}
	carol := ChosenPeer{ID: "c-id", Fingerprint: "carolfp", Name: "carol"}
	if _, err := l.cat.AddVisible(Visibility{Restricted: true, Peers: []ChosenPeer{carol}}, filepath.Join(src, "ch")); err != nil {
		t.Fatal(err)
	}
	if err := l.Rescan(); err != nil {
		t.Fatal(err)
	}
	hashAll(t, l)
	cids := map[string]string{}
	for _, p := range []string{"pub/same.txt", "tr/only.txt", "ch/carol.txt"} {
		e, err := l.Stat(p)
		if err != nil || e.ContentID == "" {
			t.Fatalf("Stat(%s) = %+v, %v", p, e, err)
		}
		cids[p] = e.ContentID
	}
	return l, cids
}

func TestViewHidesWhatTheViewerMayNotSee(t *testing.T) {
	l, cids := privateLib(t)
	stranger := l.For(Viewer{Fingerprint: "strangerfp"})
	trusted := l.For(Viewer{Fingerprint: "davefp", Trusted: true})
	carol := l.For(Viewer{Fingerprint: "carolfp"})
	noCert := l.For(Viewer{})
	oldCarol := l.For(Viewer{Fingerprint: "carol-old-key"}) // carol's id, another key: a stranger

	tops := func(v *View) []string {
		es, err := v.List("")
		if err != nil {
			t.Fatal(err)
		}
		return names(es)
	}
	for _, c := range []struct {
		name string
		v    *View
		want []string
	}{
		{"stranger", stranger, []string{"pub"}},
		{"no certificate", noCert, []string{"pub"}},
		{"changed key", oldCarol, []string{"pub"}},
		{"trusted", trusted, []string{"pub", "tr"}},
		{"chosen", carol, []string{"ch", "pub"}},
		{"user", l.all(), []string{"ch", "pub", "tr"}},
	} {
		if got := tops(c.v); !slices.Equal(got, c.want) {
			t.Errorf("%s sees %q, want %q", c.name, got, c.want)
		}
	}

	// Every path inside a hidden item fails exactly as one that never existed.
	for _, p := range []string{"tr", "tr/only.txt", "tr/deep", "tr/deep/x.txt", "ch/carol.txt"} {
		ghost := "zz" + p
		checks := map[string]func(string) error{
			"Stat": func(p string) error { _, err := stranger.Stat(p); return err },
			"List": func(p string) error { _, err := stranger.List(p); return err },
			"Walk": func(p string) error { return stranger.Walk(p, func(Entry) error { return nil }) },
			"Open": func(p string) error { _, err := stranger.Open(p); return err },
		}
		for name, f := range checks {
			err := f(p)
			want := f(ghost)
			if !errors.Is(err, ErrNotFound) || err.Error() != strings.ReplaceAll(want.Error(), ghost, p) {
				t.Errorf("stranger %s(%s) = %v; a path that never existed gives %v", name, p, err, want)
			}
		}
	}
	if _, err := trusted.Open("tr/only.txt"); err != nil {
		t.Errorf("trusted Open: %v", err)
	}
	if _, err := carol.Open("tr/only.txt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("carol opened a trusted-only file: %v", err)
	}

	// Content ids: the same bytes in an open item stay served from it.
	if !stranger.Has(cids["pub/same.txt"]) {
		t.Error("stranger does not have the open file")
	}
	f, err := stranger.OpenContent(cids["pub/same.txt"])
	if err != nil {
		t.Fatal(err)
	}
	if p := f.Entry().Path; p != "pub/same.txt" {
		t.Errorf("the stranger got the shared bytes from %s", p)
	}
	f.Close()
	for _, p := range []string{"tr/only.txt", "ch/carol.txt"} {
		cid := cids[p]
		if stranger.Has(cid) {
			t.Errorf("stranger has %s", p)
		}
		if _, err := stranger.OpenContent(cid); !errors.Is(err, ErrNotFound) || err.Error() != "share: not found: "+cid {
			t.Errorf("stranger OpenContent(%s) = %v", p, err)
		}
		if _, err := stranger.Hashes(cid); !errors.Is(err, ErrNotFound) || err.Error() != "share: not found: "+cid {
			t.Errorf("stranger Hashes(%s) = %v", p, err)
		}
	}
	if !trusted.Has(cids["tr/only.txt"]) || trusted.Has(cids["ch/carol.txt"]) || !carol.Has(cids["ch/carol.txt"]) {
		t.Error("trusted or chosen viewers do not see what they may")
	}
	if _, err := carol.Hashes(cids["ch/carol.txt"]); err != nil {
		t.Errorf("carol Hashes: %v", err)
	}

	// Walks, searches and totals leave hidden items out.
	var walked []string
	stranger.Walk("", func(e Entry) error { walked = append(walked, e.Path); return nil })
	if want := []string{"pub", "pub/same.txt"}; !slices.Equal(walked, want) {
		t.Errorf("stranger walks %q, want %q", walked, want)
	}
	walked = nil
	trusted.WalkFrom("", 2, func(e Entry) error { walked = append(walked, e.Path); return nil })
	if want := []string{"tr", "tr/deep", "tr/deep/x.txt", "tr/only.txt", "tr/same.txt"}; !slices.Equal(walked, want) {
		t.Errorf("trusted walk from 2: %q, want %q", walked, want)
	}
	if got := names(stranger.Search("txt", 0)); !slices.Equal(got, []string{"same.txt"}) {
		t.Errorf("stranger search: %q", got)
	}
	if got := names(carol.Search("carol", 0)); !slices.Equal(got, []string{"carol.txt"}) {
		t.Errorf("carol search: %q", got)
	}
	files, bytes := stranger.Totals()
	if files != 1 || bytes != int64(len("same bytes")) {
		t.Errorf("stranger totals %d files, %d bytes", files, bytes)
	}
	if h, total := stranger.HashProgress(); h != total || total != bytes {
		t.Errorf("stranger hash progress %d of %d", h, total)
	}
	if top, _ := stranger.Stat(""); top.Files != 1 || top.Size != bytes {
		t.Errorf("stranger top %+v", top)
	}
	if files, _ := trusted.Totals(); files != 4 {
		t.Errorf("trusted sees %d files, want 4", files)
	}
	if files, _ := l.Totals(); files != 5 {
		t.Errorf("the user sees %d files, want 5", files)
	}
}

func TestVisibilityChangeMovesVersionAndPersists(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a", "f.txt"), "f")
	data := t.TempDir()
	l := openLib(t, data, LibraryOptions{}, filepath.Join(src, "a"))
	stranger := l.For(Viewer{Fingerprint: "x"})
	v0 := l.Version()
	if _, err := l.cat.SetVisibility("a", Visibility{Restricted: true, Trusted: true}); err != nil {
		t.Fatal(err)
	}
	if err := l.Rescan(); err != nil {
		t.Fatal(err)
	}
	if l.Version() == v0 {
		t.Error("making an item private did not move the index version")
	}
	if es, _ := stranger.List(""); len(es) != 0 {
		t.Errorf("stranger still sees %q", names(es))
	}
	// Another process's catalog reads the same visibility back.
	c2, err := OpenCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	if it := c2.Items(); len(it) != 1 || it[0].To.String() != "trusted" {
		t.Fatalf("reopened catalog: %+v", it)
	}
	// A plain Add of a shared path keeps its visibility.
	if items, err := c2.Add(filepath.Join(src, "a")); err != nil || items[0].To.String() != "trusted" {
		t.Fatalf("Add again: %+v, %v", items, err)
	}
	if _, err := c2.SetVisibility("nope", Everyone); !errors.Is(err, ErrNotShared) {
		t.Errorf("SetVisibility of an unshared item: %v", err)
	}
	if _, err := c2.SetVisibility("a", Visibility{Restricted: true, Peers: []ChosenPeer{{ID: "x", Name: "x"}}}); err == nil {
		t.Error("a chosen peer without a key was accepted")
	}
}

func TestCatalogOfEarlierVersionsIsEveryone(t *testing.T) {
	data, src := t.TempDir(), t.TempDir()
	raw := `{"items":[{"name":"a","path":"` + src + `","added":"2025-01-01T00:00:00Z"}]}`
	if err := os.WriteFile(filepath.Join(data, catalogFile), []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := OpenCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	it := c.Items()
	if len(it) != 1 || it[0].To.Restricted || !it[0].To.Allows(Viewer{}) {
		t.Fatalf("items %+v", it)
	}
}

func TestVisibilityAllows(t *testing.T) {
	carol := ChosenPeer{ID: "c", Fingerprint: "cfp", Name: "carol"}
	for _, c := range []struct {
		v    Visibility
		w    Viewer
		want bool
	}{
		{Everyone, Viewer{}, true},
		{Visibility{Restricted: true}, Viewer{Fingerprint: "a", Trusted: true}, false},
		{Visibility{Restricted: true, Trusted: true}, Viewer{Fingerprint: "a", Trusted: true}, true},
		{Visibility{Restricted: true, Trusted: true}, Viewer{Fingerprint: "a"}, false},
		{Visibility{Restricted: true, Trusted: true}, Viewer{Trusted: true}, false},
		{Visibility{Restricted: true, Peers: []ChosenPeer{carol}}, Viewer{Fingerprint: "cfp"}, true},
		{Visibility{Restricted: true, Peers: []ChosenPeer{carol}}, Viewer{Fingerprint: "other", Trusted: true}, false},
		{Visibility{Restricted: true, Peers: []ChosenPeer{{ID: "c", Name: "carol"}}}, Viewer{}, false},
	} {
		if got := c.v.Allows(c.w); got != c.want {
			t.Errorf("%v allows %+v: %v, want %v", c.v, c.w, got, c.want)
		}
	}
}

// BenchmarkHiddenVersusAbsent compares what a stranger's lookups of a hidden
// item cost with lookups of what never existed (the figures in README).
func BenchmarkHiddenVersusAbsent(b *testing.B) {
	src := b.TempDir()
	writeFile(b, filepath.Join(src, "pub", "a.txt"), "a")
	writeFile(b, filepath.Join(src, "tr", "only.txt"), "only trusted")
	data := b.TempDir()
	l, err := OpenLibrary(LibraryOptions{DataDir: data})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Add(filepath.Join(src, "pub")); err != nil {
		b.Fatal(err)
	}
	if _, err := l.AddVisible(Visibility{Restricted: true, Trusted: true}, filepath.Join(src, "tr")); err != nil {
		b.Fatal(err)
	}
	l.hashPending(b.Context())
	e, err := l.Stat("tr/only.txt")
	if err != nil || e.ContentID == "" {
		b.Fatalf("%+v %v", e, err)
	}
	v := l.For(Viewer{Fingerprint: "stranger"})
	ghostCID := "p1-" + strings.Repeat("0", 62) + "ff"
	for _, c := range []struct {
		name      string
		path, cid string
	}{{"hidden", "tr/only.txt", e.ContentID}, {"absent", "qq/only.txt", ghostCID}} {
		b.Run("open/"+c.name, func(b *testing.B) {
			for b.Loop() {
				v.Open(c.path)
			}
		})
		b.Run("content/"+c.name, func(b *testing.B) {
			for b.Loop() {
				v.OpenContent(c.cid)
			}
		})
	}
}
