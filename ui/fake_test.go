package ui

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"porch/peer"
	"porch/share"
)

// fakeEngine is an Engine with canned answers that records the calls the
// window makes. A mutex guards every field.
type fakeEngine struct {
	mu        sync.Mutex
	self      Peer
	peers     []Peer
	subs      map[int]func(Event)
	nextSub   int
	tree      map[string][]share.Entry // "peerID:path" -> entries
	results   []SearchResult
	shares    []ShareItem
	secrets   map[string][]string
	held      []share.SecretFile // what Secrets lists
	decided   []string           // DecideSecret calls: "release PATH" or "keep PATH"
	transfers []Transfer
	settings  Settings

	added      [][]string
	removed    []string
	rescans    int
	partial    []SearchResult // what Search reports before release is closed
	release    chan struct{}
	lists      int // List calls
	pairAsked  []string
	trusted    []string
	untrusted  []string
	forgot     []string
	downloads  []peerPath
	paused     []string
	resumed    []string
	canceled   []string
	searched   []string
	savedSets  []Settings
	addedPeers []string
	offers     offerFake
	fetched    []string          // LocalSend devices fetched from
	pins       map[string]string // PINs given for LocalSend devices
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{
		self:     Peer{ID: "self0001", Name: "My laptop", Online: true},
		subs:     map[int]func(Event){},
		tree:     map[string][]share.Entry{},
		secrets:  map[string][]string{},
		settings: Settings{Name: "My laptop", DownloadDir: "/home/me/Downloads", Visible: true, Accept: peer.AcceptAsk},
	}
}

func (f *fakeEngine) Self() Peer { f.mu.Lock(); defer f.mu.Unlock(); return f.self }
func (f *fakeEngine) Peers() []Peer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Peer(nil), f.peers...)
}

func (f *fakeEngine) Subscribe(fn func(Event)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextSub
	f.nextSub++
	f.subs[id] = fn
	return func() { f.mu.Lock(); delete(f.subs, id); f.mu.Unlock() }
}

// emit sends ev to every subscriber, as the engine does from its own
// goroutines.
func (f *fakeEngine) emit(ev Event) {
	f.mu.Lock()
	var fns []func(Event)
	for _, fn := range f.subs {
		fns = append(fns, fn)
	}
	f.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

func (f *fakeEngine) List(_ context.Context, peerID, path string) ([]share.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	es, ok := f.tree[peerID+":"+path]
	if !ok {
		return nil, errors.New("connection refused")
	}
	return es, nil
}

func (f *fakeEngine) Search(_ context.Context, text string, update func([]SearchResult)) ([]SearchResult, error) {
	f.mu.Lock()
	f.searched = append(f.searched, text)
	partial, release, results := f.partial, f.release, f.results
	f.mu.Unlock()
	if update != nil && partial != nil {
		update(partial) // the first neighbour answered
	}
	if release != nil {
		<-release // the others answer when the test says so
	}
	if update != nil {
		update(results)
	}
	return results, nil
}

func (f *fakeEngine) AddPeer(_ context.Context, addr string) (Peer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addedPeers = append(f.addedPeers, addr)
	return Peer{ID: "added" + addr, Name: addr, Online: true}, nil
}

func (f *fakeEngine) Shares() []ShareItem {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ShareItem(nil), f.shares...)
}

func (f *fakeEngine) AddShares(paths ...string) ([]ShareItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, paths)
	var items []ShareItem
	for _, p := range paths {
		items = append(items, ShareItem{Name: p, Path: p, Files: 1, Bytes: 10, HashedBytes: 10})
	}
	f.shares = append(f.shares, items...)
	return items, nil
}

func (f *fakeEngine) RescanShares() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rescans++
	return nil
}

func (f *fakeEngine) RemoveShare(p string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, p)
	for i, s := range f.shares {
		if s.Path == p || s.Name == p {
			f.shares = append(f.shares[:i:i], f.shares[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%s is not shared", p)
}

func (f *fakeEngine) FindSecrets(path string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.secrets[path]
}

func (f *fakeEngine) Download(peerID, path string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downloads = append(f.downloads, peerPath{peerID, path})
	id := fmt.Sprintf("t%d", len(f.downloads))
	f.transfers = append(f.transfers, Transfer{ID: id, Name: path, PeerID: peerID, Path: path, State: peer.TransferQueued})
	return id, nil
}

func (f *fakeEngine) Transfers() []Transfer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Transfer(nil), f.transfers...)
}

func (f *fakeEngine) Pause(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paused = append(f.paused, id)
	return nil
}

func (f *fakeEngine) Resume(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resumed = append(f.resumed, id)
	return nil
}

func (f *fakeEngine) Cancel(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.canceled = append(f.canceled, id)
	return nil
}

func (f *fakeEngine) Settings() Settings { f.mu.Lock(); defer f.mu.Unlock(); return f.settings }

func (f *fakeEngine) SetSettings(s Settings) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.settings = s
	f.savedSets = append(f.savedSets, s)
	return nil
}

// newTestWindow builds a window over e with the test driver and closes it
// when the test ends.
func newTestWindow(t *testing.T, e Engine) *Window {
	t.Helper()
	test.NewTempApp(t)
	w := New(fyne.CurrentApp(), e)
	// The test driver's fyne.Do runs a function on the calling goroutine;
	// queue background results instead and apply them in settle, on the
	// test's goroutine, as the real driver applies them on its own.
	q := &uiQueue{}
	w.do = q.push
	queues.Store(w, q)
	t.Cleanup(func() { settle(w); w.Close() })
	w.Window().Resize(fyne.NewSize(960, 640))
	return w
}

// uiQueue holds results of background calls until the test applies them.
type uiQueue struct {
	mu  sync.Mutex
	fns []func()
}

func (q *uiQueue) push(f func()) { q.mu.Lock(); q.fns = append(q.fns, f); q.mu.Unlock() }

func (q *uiQueue) pop() []func() {
	q.mu.Lock()
	defer q.mu.Unlock()
	fns := q.fns
	q.fns = nil
	return fns
}

var queues sync.Map // *Window -> *uiQueue

// count reads one of the fake's counters under its lock.
func (f *fakeEngine) count(read func() int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return read()
}

// applyQueued applies the results queued so far without waiting for the
// background calls that are still running.
func applyQueued(w *Window) int {
	v, _ := queues.Load(w)
	fns := v.(*uiQueue).pop()
	for _, fn := range fns {
		fn()
	}
	return len(fns)
}

// settle waits for the window's background engine calls and applies their
// results, until nothing is left.
func settle(w *Window) {
	v, _ := queues.Load(w)
	q := v.(*uiQueue)
	for {
		w.bg.Wait()
		fns := q.pop()
		if len(fns) == 0 {
			return
		}
		for _, f := range fns {
			f()
		}
	}
}

// objects lists every object drawn in the window, overlays (dialogs)
// included.
func objects(w *Window) []fyne.CanvasObject {
	c := w.Window().Canvas()
	all := test.LaidOutObjects(c.Content())
	for _, o := range c.Overlays().List() {
		all = append(all, test.LaidOutObjects(o)...)
	}
	return all
}

// texts lists the text of every visible label in the window.
func texts(w *Window) []string {
	var out []string
	for _, o := range objects(w) {
		if l, ok := o.(*widget.Label); ok && l.Visible() && l.Text != "" {
			out = append(out, l.Text)
		}
	}
	return out
}

func hasText(w *Window, s string) bool {
	for _, t := range texts(w) {
		if t == s {
			return true
		}
	}
	return false
}

// button finds a visible button with the given text.
func button(t *testing.T, w *Window, text string) *widget.Button {
	t.Helper()
	for _, o := range objects(w) {
		if b, ok := o.(*widget.Button); ok && b.Text == text && b.Visible() {
			return b
		}
	}
	t.Fatalf("no button %q; labels: %q", text, texts(w))
	return nil
}

// rowNamed finds the visible item row whose name is name.
func rowNamed(t *testing.T, w *Window, name string) *itemRow {
	t.Helper()
	for _, o := range objects(w) {
		if r, ok := o.(*itemRow); ok && r.Visible() && r.name.Text == name {
			return r
		}
	}
	t.Fatalf("no row %q; labels: %q", name, texts(w))
	return nil
}

func (f *fakeEngine) PairingCode(peerID string) (string, error) { return "042 913", nil }

func (f *fakeEngine) RequestPairing(_ context.Context, peerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pairAsked = append(f.pairAsked, peerID)
	return nil
}

func (f *fakeEngine) Trust(peerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trusted = append(f.trusted, peerID)
	return nil
}

func (f *fakeEngine) Untrust(peerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.untrusted = append(f.untrusted, peerID)
	return nil
}

func (f *fakeEngine) ForgetKey(peerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, peerID)
	return nil
}
