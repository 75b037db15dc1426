package ui

import (
	"os"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"

	"porch/peer"
	"porch/share"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC // dates in golden files must not depend on the machine
	os.Exit(m.Run())
}

// populated returns an engine with two neighbours, shares, and transfers
// in several states.
func populated() *fakeEngine {
	f := newFakeEngine()
	f.peers = []Peer{alice, bob}
	aliceTree(f)
	f.shares = []ShareItem{
		{Name: "Music", Path: "/home/me/Music", Dir: true, Files: 340, Bytes: 2_100_000_000, HashedBytes: 2_100_000_000},
		{Name: "Photos 2024", Path: "/home/me/Photos 2024", Dir: true, Files: 1200, Bytes: 8_000_000_000, HashedBytes: 2_000_000_000,
			Secrets: []string{"Photos 2024/.env"}},
		{Name: "taxes.pdf", Path: "/home/me/taxes.pdf", Files: 1, Bytes: 300_000, HashedBytes: 300_000,
			To: share.Visibility{Restricted: true, Trusted: true}},
	}
	f.transfers = []Transfer{
		{ID: "t1", Name: "movie.mkv", PeerID: alice.ID, PeerName: alice.Name, Path: "movie.mkv", State: peer.TransferRunning,
			Done: 1_000_000_000, Total: 4_000_000_000, Rate: 50_000_000, Sources: 2},
		{ID: "t2", Name: "album.zip", PeerID: bob.ID, PeerName: bob.Name, Path: "album.zip", State: peer.TransferPaused,
			Done: 30_000_000, Total: 90_000_000},
		{ID: "t3", Name: "notes.pdf", PeerID: alice.ID, PeerName: alice.Name, Path: "notes.pdf", State: peer.TransferDone,
			Done: 200_000, Total: 200_000, FinalPath: "/home/me/Downloads/notes.pdf"},
	}
	return f
}

func TestGoldenEmpty(t *testing.T) {
	w := newTestWindow(t, newFakeEngine())
	test.AssertRendersToMarkup(t, "empty.xml", w.Window().Canvas())
	test.AssertRendersToImage(t, "empty.png", w.Window().Canvas())
}

func TestGoldenShares(t *testing.T) {
	w := newTestWindow(t, populated())
	test.AssertRendersToMarkup(t, "shares.xml", w.Window().Canvas())
	test.AssertRendersToImage(t, "shares.png", w.Window().Canvas())
}

func TestGoldenBrowse(t *testing.T) {
	f := populated()
	f.transfers[2].Path = "Holiday/beach.jpg"
	w := newTestWindow(t, f)
	w.neighbours.Select(1)
	settle(w)
	w.browse.list.Select(0)
	settle(w)
	test.AssertRendersToMarkup(t, "browse.xml", w.Window().Canvas())
	test.AssertRendersToImage(t, "browse.png", w.Window().Canvas())
}

func TestGoldenSearch(t *testing.T) {
	f := populated()
	f.results = []SearchResult{
		{Entry: share.Entry{Name: "song.flac", Path: "Holiday/song.flac", Size: 30_000_000, ContentID: "c1"}, Peers: []Peer{alice, bob}},
		{Entry: share.Entry{Name: "songs", Path: "songs", Dir: true, Files: 14, Size: 400_000_000}, Peers: []Peer{bob}},
	}
	w := newTestWindow(t, f)
	w.search.SetText("song")
	w.runSearch("song")
	settle(w)
	test.AssertRendersToImage(t, "search.png", w.Window().Canvas())
}

func TestGoldenLeakGuard(t *testing.T) {
	f := newFakeEngine()
	dir := t.TempDir()
	f.secrets[dir] = []string{"project/.env", "project/.ssh/id_ed25519"}
	w := newTestWindow(t, f)
	w.Drop(fyne.Position{}, []fyne.URI{storage.NewFileURI(dir)})
	settle(w)
	test.AssertRendersToImage(t, "leakguard.png", w.Window().Canvas())
}

func TestGoldenSettings(t *testing.T) {
	f := newFakeEngine()
	f.settings.MaxUpload = 20_000_000
	w := newTestWindow(t, f)
	w.ShowSettings()
	test.AssertRendersToImage(t, "settings.png", w.Window().Canvas())
}
