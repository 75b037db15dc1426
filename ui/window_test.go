package ui

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/peer"
	"porch/share"
	"porch/test/wait"
)

var (
	alice = Peer{ID: "a1b2c3d4e5", Name: "Alice's laptop", Online: true, Files: 12, Bytes: 3_400_000_000}
	bob   = Peer{ID: "b0b0b0b0b0", Name: "Bob", Online: false, Files: 1, Bytes: 2_000}
)

func aliceTree(f *fakeEngine) {
	mod := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.tree[alice.ID+":"] = []share.Entry{
		{Name: "Holiday", Path: "Holiday", Dir: true, Size: 3_000_000_000, Files: 10, ModTime: mod},
		{Name: "notes.pdf", Path: "notes.pdf", Size: 200_000, ModTime: mod},
	}
	f.tree[alice.ID+":Holiday"] = []share.Entry{
		{Name: "beach.jpg", Path: "Holiday/beach.jpg", Size: 4_000_000, ModTime: mod},
		{Name: "song.flac", Path: "Holiday/song.flac", Size: 30_000_000, ModTime: mod},
	}
}

func TestTitle(t *testing.T) {
	w := newTestWindow(t, newFakeEngine())
	if got := w.Window().Title(); got != "Porch" {
		t.Fatalf("title %q, want Porch", got)
	}
}

func TestPeerEventsUpdateNeighbours(t *testing.T) {
	f := newFakeEngine()
	w := newTestWindow(t, f)
	if hasText(w, "Alice's laptop") {
		t.Fatal("Alice shown before she appeared")
	}

	f.emit(Event{Kind: PeerAdded, Peer: alice})
	if !hasText(w, "Alice's laptop") || !hasText(w, "12 files · 3.4 GB") {
		t.Fatalf("after PeerAdded, labels %q lack Alice and her shares", texts(w))
	}

	gone := alice
	gone.Online = false
	f.emit(Event{Kind: PeerUpdated, Peer: gone})
	if !hasText(w, "offline · 12 files · 3.4 GB") {
		t.Fatalf("after going offline, labels %q", texts(w))
	}

	f.emit(Event{Kind: PeerRemoved, Peer: Peer{ID: alice.ID}})
	if hasText(w, "Alice's laptop") {
		t.Fatalf("after PeerRemoved, Alice still listed: %q", texts(w))
	}
}

func TestNameClashShowsShortID(t *testing.T) {
	f := newFakeEngine()
	twin := alice
	twin.ID = "ffee001122"
	f.peers = []Peer{alice, twin}
	w := newTestWindow(t, f)
	if !hasText(w, "Alice's laptop (a1b2c3)") || !hasText(w, "Alice's laptop (ffee00)") {
		t.Fatalf("clashing names not told apart: %q", texts(w))
	}
}

// browseAlice opens a window whose only neighbour, Alice, is selected.
func browseAlice(t *testing.T) (*fakeEngine, *Window) {
	t.Helper()
	f := newFakeEngine()
	f.peers = []Peer{alice}
	aliceTree(f)
	w := newTestWindow(t, f)
	w.neighbours.Select(1)
	settle(w)
	return f, w
}

func TestBrowseAndDownload(t *testing.T) {
	f, w := browseAlice(t)
	test.Tap(rowNamed(t, w, "notes.pdf").buttons[0])
	if want := []peerPath{{alice.ID, "notes.pdf"}}; !reflect.DeepEqual(f.downloads, want) {
		t.Fatalf("downloads %v, want %v", f.downloads, want)
	}

	// Open the folder, then go back up with the breadcrumb.
	w.browse.list.Select(0)
	settle(w)
	test.Tap(rowNamed(t, w, "song.flac").buttons[0])
	if got := f.downloads[len(f.downloads)-1]; got != (peerPath{alice.ID, "Holiday/song.flac"}) {
		t.Fatalf("download %v, want Alice's Holiday/song.flac", got)
	}
	test.Tap(button(t, w, "Alice's laptop"))
	settle(w)
	rowNamed(t, w, "notes.pdf")
}

func TestDownloadedItemsAreMarked(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice}
	aliceTree(f)
	w := newTestWindow(t, f)
	w.neighbours.Select(1)
	settle(w)
	if rowNamed(t, w, "notes.pdf").mark.Visible() {
		t.Fatal("notes.pdf marked before downloading")
	}
	test.AssertNotificationSent(t, fyne.NewNotification("Download finished", "notes.pdf from Alice's laptop"), func() {
		f.emit(Event{Kind: TransferUpdated, Transfer: Transfer{ID: "t1", Name: "notes.pdf", PeerID: alice.ID,
			PeerName: "Alice's laptop", Path: "notes.pdf", State: peer.TransferDone, Done: 200_000, Total: 200_000,
			FinalPath: "/tmp/notes.pdf"}})
	})
	if !rowNamed(t, w, "notes.pdf").mark.Visible() {
		t.Fatal("notes.pdf not marked after its download finished")
	}
}

func TestDropSharesLocalPaths(t *testing.T) {
	f := newFakeEngine()
	w := newTestWindow(t, f)
	a, b := t.TempDir(), t.TempDir()
	w.Drop(fyne.NewPos(10, 10), []fyne.URI{storage.NewFileURI(a), storage.NewFileURI(b)})
	settle(w)
	if want := [][]string{{a, b}}; !reflect.DeepEqual(f.added, want) {
		t.Fatalf("AddShares calls %v, want %v", f.added, want)
	}
	if !hasText(w, a) {
		t.Fatalf("shared item not listed: %q", texts(w))
	}
}

func TestLeakGuardWarnsBeforeSharing(t *testing.T) {
	f := newFakeEngine()
	dir := t.TempDir()
	f.secrets[dir] = []string{".ssh/id_ed25519", ".env"}
	w := newTestWindow(t, f)
	w.Drop(fyne.Position{}, []fyne.URI{storage.NewFileURI(dir)})
	settle(w)
	if len(f.added) != 0 {
		t.Fatalf("shared %v before the user confirmed", f.added)
	}
	if !hasText(w, "Private files found") || !hasText(w, ".ssh/id_ed25519") || !hasText(w, ".env") {
		t.Fatalf("no warning listing the secrets: %q", texts(w))
	}
	test.Tap(button(t, w, "Share"))
	settle(w)
	if want := [][]string{{dir}}; !reflect.DeepEqual(f.added, want) {
		t.Fatalf("after Share, AddShares calls %v, want %v", f.added, want)
	}
}

func TestLeakGuardCancel(t *testing.T) {
	f := newFakeEngine()
	dir := t.TempDir()
	f.secrets[dir] = []string{"id_rsa"}
	w := newTestWindow(t, f)
	w.Drop(fyne.Position{}, []fyne.URI{storage.NewFileURI(dir)})
	settle(w)
	test.Tap(button(t, w, "Cancel"))
	settle(w)
	if len(f.added) != 0 {
		t.Fatalf("shared %v although the user canceled", f.added)
	}
}

func TestRemoveShare(t *testing.T) {
	f := newFakeEngine()
	f.shares = []ShareItem{{Name: "Music", Path: "/home/me/Music", Dir: true, Files: 3, Bytes: 9_000_000, HashedBytes: 4_500_000}}
	w := newTestWindow(t, f)
	r := rowNamed(t, w, "Music")
	if got := r.detail.Text; got != "3 files · 9.0 MB · preparing 50%" {
		t.Fatalf("detail %q", got)
	}
	test.Tap(r.buttons[0])
	if !slices.Equal(f.removed, []string{"/home/me/Music"}) {
		t.Fatalf("RemoveShare calls %v", f.removed)
	}
	if !hasText(w, "Nothing shared yet") {
		t.Fatalf("empty state missing after removal: %q", texts(w))
	}
}

func TestSearchGroupsResults(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice, bob}
	f.results = []SearchResult{
		{Entry: share.Entry{Name: "song.flac", Path: "Holiday/song.flac", Size: 30_000_000, ContentID: "c1"}, Peers: []Peer{alice}},
		{Entry: share.Entry{Name: "song.flac", Path: "music/song.flac", Size: 30_000_000, ContentID: "c1"}, Peers: []Peer{bob}},
		{Entry: share.Entry{Name: "song.txt", Path: "song.txt", Size: 100, ContentID: "c2"}, Peers: []Peer{bob}},
	}
	w := newTestWindow(t, f)
	test.Type(w.search, "song")
	w.search.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	settle(w)
	if !slices.Equal(f.searched, []string{"song"}) {
		t.Fatalf("searched %q", f.searched)
	}
	if got := rowNamed(t, w, "song.flac").detail.Text; got != "30 MB · on 2 peers" {
		t.Fatalf("grouped result detail %q", got)
	}
	if got := rowNamed(t, w, "song.txt").detail.Text; got != "100 B · on Bob" {
		t.Fatalf("single result detail %q", got)
	}
	if !hasText(w, "2 files") {
		t.Fatalf("result count missing: %q", texts(w))
	}
	test.Tap(rowNamed(t, w, "song.flac").buttons[0])
	if want := []peerPath{{alice.ID, "Holiday/song.flac"}}; !reflect.DeepEqual(f.downloads, want) {
		t.Fatalf("downloads %v, want %v", f.downloads, want)
	}
}

func TestTransferProgressAndControls(t *testing.T) {
	f := newFakeEngine()
	f.transfers = []Transfer{{ID: "t1", Name: "movie.mkv", PeerID: alice.ID, PeerName: "Alice's laptop",
		Path: "movie.mkv", State: peer.TransferRunning, Done: 1_000_000_000, Total: 4_000_000_000, Rate: 50_000_000, Sources: 3}}
	w := newTestWindow(t, f)
	r := rowNamed(t, w, "movie.mkv")
	if r.progress.Value != 0.25 {
		t.Fatalf("progress %v, want 0.25", r.progress.Value)
	}
	if want := "1.0 GB of 4.0 GB · 50 MB/s · 1 min left · from 3 neighbours"; r.detail.Text != want {
		t.Fatalf("status %q, want %q", r.detail.Text, want)
	}
	test.Tap(r.buttons[btnPauseResume])
	if !slices.Equal(f.paused, []string{"t1"}) {
		t.Fatalf("paused %v", f.paused)
	}

	up := f.transfers[0]
	up.State, up.Done = peer.TransferPaused, 2_000_000_000
	f.emit(Event{Kind: TransferUpdated, Transfer: up})
	r = rowNamed(t, w, "movie.mkv")
	if r.progress.Value != 0.5 || r.detail.Text != "Paused · 2.0 GB of 4.0 GB" {
		t.Fatalf("after update: progress %v, status %q", r.progress.Value, r.detail.Text)
	}
	test.Tap(r.buttons[btnPauseResume])
	test.Tap(r.buttons[btnCancel])
	if !slices.Equal(f.resumed, []string{"t1"}) || !slices.Equal(f.canceled, []string{"t1"}) {
		t.Fatalf("resumed %v canceled %v", f.resumed, f.canceled)
	}

	up.State, up.Err = peer.TransferFailed, "Alice's laptop went offline"
	f.emit(Event{Kind: TransferUpdated, Transfer: up})
	r = rowNamed(t, w, "movie.mkv")
	if r.detail.Text != "Failed: Alice's laptop went offline · 2.0 GB of 4.0 GB" || r.buttons[btnPauseResume].Visible() {
		t.Fatalf("failed transfer shows %q, pause visible %v", r.detail.Text, r.buttons[btnPauseResume].Visible())
	}
}

func TestShowInFolderOpensFolder(t *testing.T) {
	f := newFakeEngine()
	dir := t.TempDir()
	f.transfers = []Transfer{{ID: "t1", Name: "a.txt", State: peer.TransferDone, Total: 5, Done: 5, FinalPath: dir + "/a.txt"}}
	w := newTestWindow(t, f)
	r := rowNamed(t, w, "a.txt")
	if !r.buttons[btnShow].Visible() {
		t.Fatal("Show in folder hidden for a finished download")
	}
	test.Tap(r.buttons[btnShow])
	if len(w.Window().Canvas().Overlays().List()) != 0 {
		t.Fatalf("opening the folder showed a dialog: %q", texts(w))
	}
}

func TestSettingsSaves(t *testing.T) {
	f := newFakeEngine()
	w := newTestWindow(t, f)
	w.ShowSettings()
	var limit, name *widget.Entry
	for _, o := range objects(w) {
		if e, ok := o.(*widget.Entry); ok {
			switch {
			case strings.HasPrefix(e.PlaceHolder, "Unlimited"):
				limit = e
			case e.Text == "My laptop":
				name = e
			}
		}
	}
	if limit == nil || name == nil {
		t.Fatal("settings entries not found")
	}
	name.SetText("Desk")
	limit.SetText("20MB/s")
	test.Tap(button(t, w, "Save"))
	want := Settings{Name: "Desk", DownloadDir: "/home/me/Downloads", Visible: true, MaxUpload: 20_000_000, Accept: peer.AcceptAsk}
	if len(f.savedSets) != 1 || f.savedSets[0] != want {
		t.Fatalf("saved %+v, want %+v", f.savedSets, want)
	}
}

func TestShortcutFocusesSearch(t *testing.T) {
	w := newTestWindow(t, newFakeEngine())
	c := w.Window().Canvas()
	c.(interface{ TypedShortcut(fyne.Shortcut) }).TypedShortcut(
		&desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierShortcutDefault})
	if c.Focused() != w.search {
		t.Fatalf("focused %v, want the search entry", c.Focused())
	}
}

func TestTrayMenu(t *testing.T) {
	w := newTestWindow(t, newFakeEngine())
	m := w.TrayMenu()
	if len(m.Items) == 0 || m.Items[0].Label != "Show Porch" {
		t.Fatalf("tray menu %+v", m.Items)
	}
}

func TestAddNeighbourByAddress(t *testing.T) {
	f := newFakeEngine()
	w := newTestWindow(t, f)
	test.Tap(button(t, w, "Add neighbour by address…"))
	var addr *widget.Entry
	for _, o := range objects(w) {
		if e, ok := o.(*widget.Entry); ok && e.PlaceHolder == "192.168.1.20:7420" {
			addr = e
		}
	}
	if addr == nil {
		t.Fatalf("no address entry: %q", texts(w))
	}
	test.Type(addr, "10.0.0.7:7420")
	test.Tap(button(t, w, "Add"))
	settle(w)
	if !slices.Equal(f.addedPeers, []string{"10.0.0.7:7420"}) {
		t.Fatalf("AddPeer calls %q", f.addedPeers)
	}
	if !hasText(w, "10.0.0.7:7420") {
		t.Fatalf("added neighbour not listed: %q", texts(w))
	}
}

func TestListErrorInPlainWords(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{bob} // the fake has no tree for Bob, so listing fails
	w := newTestWindow(t, f)
	w.neighbours.Select(1)
	settle(w)
	want := "Cannot reach Bob (connection refused) — is Porch still running there?"
	if !hasText(w, want) {
		t.Fatalf("labels %q lack %q", texts(w), want)
	}
}

func TestOfflineNeighbourCannotDownload(t *testing.T) {
	f := newFakeEngine()
	off := alice
	off.Online = false
	f.peers = []Peer{off}
	aliceTree(f)
	w := newTestWindow(t, f)
	w.neighbours.Select(1)
	settle(w)
	if !rowNamed(t, w, "notes.pdf").buttons[0].Disabled() {
		t.Fatal("download enabled for an offline neighbour")
	}
	f.emit(Event{Kind: PeerUpdated, Peer: alice})
	if rowNamed(t, w, "notes.pdf").buttons[0].Disabled() {
		t.Fatal("download still disabled after the neighbour came back")
	}
}

func TestShortcutAddsFiles(t *testing.T) {
	w := newTestWindow(t, newFakeEngine())
	c := w.Window().Canvas()
	c.(interface{ TypedShortcut(fyne.Shortcut) }).TypedShortcut(
		&desktop.CustomShortcut{KeyName: fyne.KeyO, Modifier: fyne.KeyModifierShortcutDefault})
	if len(c.Overlays().List()) != 1 {
		t.Fatal("Ctrl+O did not open the file chooser")
	}
}

func TestCloseUnsubscribes(t *testing.T) {
	f := newFakeEngine()
	w := newTestWindow(t, f)
	w.Close()
	f.mu.Lock()
	n := len(f.subs)
	f.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d subscriptions left after Close", n)
	}
}

func TestHashingProgressUpdates(t *testing.T) {
	f := newFakeEngine()
	f.shares = []ShareItem{{Name: "Music", Path: "/m", Dir: true, Files: 3, Bytes: 1000, HashedBytes: 100}}
	w := newTestWindow(t, f)
	if got := rowNamed(t, w, "Music").progress.Value; got != 0.1 {
		t.Fatalf("progress %v, want 0.1", got)
	}
	f.mu.Lock()
	f.shares[0].HashedBytes = 1000
	f.mu.Unlock()
	f.emit(Event{Kind: SharesChanged})
	r := rowNamed(t, w, "Music")
	if r.progress.Visible() || r.detail.Text != "3 files · 1.0 KB" {
		t.Fatalf("after hashing: progress visible %v, detail %q", r.progress.Visible(), r.detail.Text)
	}
}

func TestNewDownloadListedFirst(t *testing.T) {
	f := newFakeEngine()
	f.transfers = []Transfer{{ID: "t1", Name: "old.txt", State: peer.TransferDone, Total: 1, Done: 1}}
	w := newTestWindow(t, f)
	f.emit(Event{Kind: TransferUpdated, Transfer: Transfer{ID: "t2", Name: "new.txt", State: peer.TransferQueued, Total: 10}})
	if w.downloads.transfers[0].Name != "new.txt" || !hasText(w, "Waiting to start · 10 B") {
		t.Fatalf("transfers %+v, labels %q", w.downloads.transfers, texts(w))
	}
}

func TestSelfEventsAreNotNeighbours(t *testing.T) {
	f := newFakeEngine()
	w := newTestWindow(t, f)
	f.emit(Event{Kind: PeerAdded, Peer: f.self})
	if len(w.peers) != 0 {
		t.Fatalf("this computer listed as a neighbour: %+v", w.peers)
	}
}

func TestFolderTransferHasFolderIcon(t *testing.T) {
	f := newFakeEngine()
	f.transfers = []Transfer{
		{ID: "t1", Name: "holiday", Folder: true, PeerID: alice.ID, Path: "holiday", State: peer.TransferRunning, Done: 1, Total: 4},
		{ID: "t2", Name: "song.mp3", PeerID: alice.ID, Path: "song.mp3", State: peer.TransferDone, Done: 4, Total: 4},
	}
	w := newTestWindow(t, f)
	if got := rowNamed(t, w, "holiday").icon.Resource; got != theme.FolderIcon() {
		t.Errorf("folder transfer icon %v, want the folder icon", got.Name())
	}
	if got := rowNamed(t, w, "song.mp3").icon.Resource; got != theme.FileAudioIcon() {
		t.Errorf("audio transfer icon %v, want the audio file icon", got.Name())
	}
}

func TestRescanAndUnwatchedShare(t *testing.T) {
	f := newFakeEngine()
	f.shares = []ShareItem{{Name: "Photos", Path: "/nfs/photos", Dir: true, Files: 2, Bytes: 2000, HashedBytes: 2000,
		Unwatched: "it is on a NFS filesystem, whose changes from other machines send no notifications"}}
	w := newTestWindow(t, f)
	r := rowNamed(t, w, "Photos")
	if !strings.Contains(r.detail.Text, "changes found by rescans only: it is on a NFS filesystem") || r.detail.Importance != widget.WarningImportance {
		t.Fatalf("detail %q (importance %v) does not say the share is not watched", r.detail.Text, r.detail.Importance)
	}
	test.Tap(button(t, w, "Rescan"))
	settle(w)
	if n := f.count(func() int { return f.rescans }); n != 1 {
		t.Fatalf("RescanShares called %d times, want 1", n)
	}
}

func TestSearchSyntaxErrorShownNotSent(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice}
	w := newTestWindow(t, f)
	test.Type(w.search, "song size>lots")
	w.search.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	settle(w)
	if len(f.searched) != 0 {
		t.Fatalf("a query that does not parse was sent: %q", f.searched)
	}
	if !hasText(w, "Check the search") || !slices.ContainsFunc(texts(w), func(s string) bool { return strings.Contains(s, "not a size") }) {
		t.Fatalf("no syntax message: %q", texts(w))
	}
}

// A folder listed at the neighbour's current index version is not asked for
// again; when the version moves, the open folder is listed again in place.
func TestBrowseFollowsIndexVersion(t *testing.T) {
	f := newFakeEngine()
	a := alice
	a.Index = 7
	f.peers = []Peer{a}
	aliceTree(f)
	w := newTestWindow(t, f)
	w.neighbours.Select(1)
	settle(w)
	w.browse.list.Select(0) // Holiday
	settle(w)
	test.Tap(button(t, w, "Alice's laptop"))
	settle(w)
	rowNamed(t, w, "notes.pdf")
	f.mu.Lock()
	lists := f.lists
	f.tree[alice.ID+":"] = append(f.tree[alice.ID+":"], share.Entry{Name: "new.txt", Path: "new.txt", Size: 5})
	f.mu.Unlock()
	if lists != 2 {
		t.Fatalf("%d List calls for the top, Holiday and the top again, want 2 (the top remembered)", lists)
	}

	a.Index = 8
	f.emit(Event{Kind: PeerUpdated, Peer: a})
	settle(w)
	rowNamed(t, w, "new.txt")
	if n := f.count(func() int { return f.lists }); n != 3 {
		t.Fatalf("%d List calls after the version moved, want 3", n)
	}
}

// Results show as the first neighbours answer, before the slow ones do.
func TestSearchResultsStreamIn(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice, bob}
	song := share.Entry{Name: "song.flac", Path: "song.flac", Size: 30_000_000, ContentID: "c1"}
	f.partial = []SearchResult{{Entry: song, Peers: []Peer{alice}}}
	f.results = []SearchResult{{Entry: song, Peers: []Peer{alice, bob}}}
	f.release = make(chan struct{})
	w := newTestWindow(t, f)
	test.Type(w.search, "song")
	w.search.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	if !wait.For(10*time.Second, func() bool { return applyQueued(w) > 0 }) {
		t.Fatal("no results while the slow neighbour has not answered")
	}
	if got := rowNamed(t, w, "song.flac").detail.Text; got != "30 MB · on Alice's laptop" {
		t.Fatalf("partial result detail %q", got)
	}
	if !slices.ContainsFunc(texts(w), func(s string) bool { return strings.Contains(s, "asking the others") }) {
		t.Fatalf("no sign that more answers are coming: %q", texts(w))
	}
	close(f.release)
	settle(w)
	if got := rowNamed(t, w, "song.flac").detail.Text; got != "30 MB · on 2 peers" {
		t.Fatalf("final result detail %q", got)
	}
}

// Trust… on a neighbour asks it to show the code too, shows the code here,
// and trusts once the user says so.
func TestTrustFromBrowse(t *testing.T) {
	f, w := browseAlice(t)
	test.Tap(button(t, w, "Trust…"))
	settle(w)
	if !hasText(w, "042 913") {
		t.Fatalf("no pairing code shown: %q", texts(w))
	}
	test.Tap(button(t, w, "Trust"))
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(f.pairAsked, []string{alice.ID}) || !slices.Equal(f.trusted, []string{alice.ID}) {
		t.Fatalf("asked %v, trusted %v; want alice once each", f.pairAsked, f.trusted)
	}
}

// A neighbour's pairing request shows the code without asking back; a
// trusted neighbour is marked and can be untrusted.
func TestPairRequestAndTrustedBadge(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice}
	aliceTree(f)
	w := newTestWindow(t, f)
	f.emit(Event{Kind: PairRequested, Peer: alice})
	settle(w)
	if !slices.ContainsFunc(texts(w), func(s string) bool { return strings.Contains(s, "asks to pair") }) || !hasText(w, "042 913") {
		t.Fatalf("no pairing request shown: %q", texts(w))
	}
	test.Tap(button(t, w, "Trust"))
	trusted := alice
	trusted.Trusted = true
	f.emit(Event{Kind: PeerUpdated, Peer: trusted})
	settle(w)
	if !hasText(w, "trusted · 12 files · 3.4 GB") {
		t.Fatalf("no trusted badge: %q", texts(w))
	}
	w.neighbours.Select(1)
	settle(w)
	test.Tap(button(t, w, "Untrust"))
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pairAsked) != 0 || !slices.Equal(f.trusted, []string{alice.ID}) || !slices.Equal(f.untrusted, []string{alice.ID}) {
		t.Fatalf("asked %v, trusted %v, untrusted %v", f.pairAsked, f.trusted, f.untrusted)
	}
}

// A neighbour refused for a changed key says why, and the button to forget
// the old key says what that means before it does it.
func TestForgetChangedKey(t *testing.T) {
	f := newFakeEngine()
	changed := Peer{ID: "c4c4c4c4c4", Name: "Carol", KeyChanged: true}
	f.peers = []Peer{changed}
	w := newTestWindow(t, f)
	if !hasText(w, "⚠ key changed: refused") {
		t.Fatalf("neighbour row does not say it is refused: %q", texts(w))
	}
	w.neighbours.Select(1)
	settle(w)
	if !slices.ContainsFunc(texts(w), func(s string) bool { return strings.Contains(s, "someone else may be answering in its name") }) {
		t.Fatalf("browse does not say why it is refused: %q", texts(w))
	}
	test.Tap(button(t, w, "Forget old key…"))
	if !slices.ContainsFunc(texts(w), func(s string) bool { return strings.Contains(s, "only if you know Carol was reinstalled") }) {
		t.Fatalf("no explanation before forgetting: %q", texts(w))
	}
	test.Tap(button(t, w, "Forget old key"))
	settle(w)
	if n := f.count(func() int { return len(f.forgot) }); n != 1 {
		t.Fatalf("ForgetKey called %d times, want 1", n)
	}
}
