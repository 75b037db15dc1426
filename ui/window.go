package ui

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/ui/human"
)

// Window is Porch's main window. Create it with [New]. Its fields are owned
// by the UI goroutine; engine events reach them through fyne.Do.
type Window struct {
	app fyne.App
	eng Engine
	win fyne.Window

	unsubscribe func()
	stopOnce    sync.Once
	closeOnce   sync.Once
	bg          sync.WaitGroup // background engine calls, so tests can wait for them
	do          func(func())   // runs a background call's result on the UI goroutine: fyne.Do

	search     *widget.Entry
	neighbours *widget.List
	noPeers    *widget.Label   // the hint shown while no neighbour is known
	content    *fyne.Container // the view on the right of the neighbours list

	selfID   string
	peers    []Peer
	selected string // peer ID being browsed; "" for My shares or search
	view     view   // what content shows

	shares     *sharesView
	browse     *browseView
	results    *searchView
	downloads  *downloadsView
	downloaded map[peerPath]bool

	rowItems     map[*peerRow]widget.ListItemID // what each neighbours row shows, to find a drop's target
	offerDialogs map[string]dialog.Dialog       // open offer dialogs, by offer id
	receiving    map[string]*receivingView      // accepted offers being received, by offer id
}

type view int

const (
	viewShares view = iota
	viewPeer
	viewSearch
)

type peerPath struct{ peer, path string }

// New builds the main window for e on a, subscribes to e's events and
// registers keyboard shortcuts. main still has to route drops to
// [Window.Drop] (Window.SetOnDropped), may add [Window.TrayMenu] to the
// system tray, and shows the window. Closing the window unsubscribes.
func New(a fyne.App, e Engine) *Window {
	w := &Window{
		app:        a,
		eng:        e,
		win:        a.NewWindow("Porch"),
		downloaded: map[peerPath]bool{},
		do:         fyne.Do,

		rowItems:     map[*peerRow]widget.ListItemID{},
		offerDialogs: map[string]dialog.Dialog{},
		receiving:    map[string]*receivingView{},
	}
	w.search = widget.NewEntry()
	w.search.SetPlaceHolder("Search every neighbour…")
	searchBtn := widget.NewButtonWithIcon("", theme.SearchIcon(), func() { w.runSearch(w.search.Text) })
	searchBtn.Importance = widget.LowImportance
	w.search.ActionItem = searchBtn
	w.search.OnSubmitted = w.runSearch

	w.shares = newSharesView(w)
	w.browse = newBrowseView(w)
	w.results = newSearchView(w)
	w.downloads = newDownloadsView(w)

	w.neighbours = widget.NewList(
		func() int { return len(w.peers) + 1 },
		func() fyne.CanvasObject { r := newPeerRow(); w.rowItems[r] = -1; return r },
		w.updatePeerRow,
	)
	w.neighbours.OnSelected = w.onNeighbourSelected

	addPeer := widget.NewButtonWithIcon("Add neighbour by address…", theme.ContentAddIcon(), w.showAddPeer)
	addPeer.Importance = widget.LowImportance
	w.noPeers = widget.NewLabel("No neighbours yet — Porch finds computers on your network automatically.")
	w.noPeers.Wrapping = fyne.TextWrapWord
	w.noPeers.Importance = widget.LowImportance
	left := container.NewBorder(nil, container.NewVBox(w.noPeers, addPeer), nil, nil, w.neighbours)

	settings := widget.NewButtonWithIcon("", theme.SettingsIcon(), w.ShowSettings)
	top := container.NewBorder(nil, nil, nil, settings, w.search)

	w.content = container.NewStack(w.shares.root)
	right := container.NewVSplit(w.content, w.downloads.root)
	right.Offset = 0.7
	split := container.NewHSplit(left, right)
	split.Offset = 0.27

	w.win.SetContent(container.NewBorder(container.NewPadded(top), nil, nil, nil, split))
	w.win.Resize(fyne.NewSize(960, 640))
	w.win.SetOnDropped(w.Drop)

	// Subscribe before the first load so nothing is missed in between;
	// events are applied later on the UI goroutine and are idempotent.
	w.unsubscribe = e.Subscribe(func(ev Event) { fyne.Do(func() { w.handle(ev) }) })
	w.win.SetOnClosed(w.stop)

	w.selfID = e.Self().ID
	w.peers = sortPeers(e.Peers())
	w.peersChanged()
	w.shares.reload()
	w.downloads.reload()
	w.neighbours.Select(0)

	c := w.win.Canvas()
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierShortcutDefault},
		func(fyne.Shortcut) { c.Focus(w.search) })
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyO, Modifier: fyne.KeyModifierShortcutDefault},
		func(fyne.Shortcut) { w.shares.addFiles() })
	return w
}

// stop ends the subscription to engine events and any listing or search
// still running. It is safe to call more than once.
func (w *Window) stop() {
	w.stopOnce.Do(func() {
		w.unsubscribe()
		if w.browse.cancel != nil {
			w.browse.cancel()
		}
		if w.results.cancel != nil {
			w.results.cancel()
		}
	})
}

// Close stops listening to the engine and closes the window; later calls
// do nothing. Use it when main replaces the window's OnClosed callback,
// which New sets to stop listening.
func (w *Window) Close() {
	w.closeOnce.Do(func() {
		w.stop()
		w.win.Close()
	})
}

// Window returns the Fyne window, for main to show and run.
func (w *Window) Window() fyne.Window { return w.win }

// Drop shares the local files and folders in uris, after the leak guard
// check; dropped onto a neighbour in the list, it offers them to that
// neighbour instead. main connects it with Window().SetOnDropped(w.Drop);
// New does so too, but some drivers and the test driver ignore that.
// Non-file URIs are ignored.
func (w *Window) Drop(pos fyne.Position, uris []fyne.URI) {
	var paths []string
	for _, u := range uris {
		if u != nil && u.Scheme() == "file" {
			paths = append(paths, u.Path())
		}
	}
	if len(paths) == 0 {
		return
	}
	if p, ok := w.dropTarget(pos); ok {
		w.sendTo(p, paths)
		return
	}
	w.showShares()
	w.shares.add(paths)
}

// TrayMenu returns a menu for the system tray: show the window, share
// files, open settings. main passes it to desktop.App.SetSystemTrayMenu
// when the app supports a tray; the driver adds Quit.
func (w *Window) TrayMenu() *fyne.Menu {
	return fyne.NewMenu("Porch",
		fyne.NewMenuItem("Show Porch", func() { w.win.Show(); w.win.RequestFocus() }),
		fyne.NewMenuItem("Share files…", func() { w.win.Show(); w.showShares(); w.shares.addFiles() }),
		fyne.NewMenuItem("Settings…", func() { w.win.Show(); w.ShowSettings() }),
	)
}

// goAsync runs work off the UI goroutine and then applies its result on the
// UI goroutine with fyne.Do.
func (w *Window) goAsync(work func() (apply func())) {
	w.bg.Add(1)
	do := w.do
	go func() {
		defer w.bg.Done()
		if apply := work(); apply != nil {
			do(apply)
		}
	}()
}

// handle applies one engine event; it runs on the UI goroutine.
func (w *Window) handle(ev Event) {
	switch ev.Kind {
	case PeerAdded, PeerUpdated:
		if ev.Peer.ID == w.selfID {
			w.neighbours.RefreshItem(0)
			return
		}
		w.upsertPeer(ev.Peer)
	case PeerRemoved:
		w.removePeer(ev.Peer.ID)
	case SharesChanged:
		w.shares.reload()
		w.neighbours.RefreshItem(0)
	case TransferUpdated:
		w.downloads.update(ev.Transfer)
	case SettingsChanged:
		w.neighbours.RefreshItem(0)
	case PairRequested:
		w.pair(ev.Peer, true)
	case OfferUpdated:
		w.offerUpdated(ev.Offer)
	case MessageReceived:
		w.showMessage(ev.Message)
	case DevicesChanged:
		w.devicesChanged()
	}
}

func (w *Window) peerIndex(id string) int {
	for i, p := range w.peers {
		if p.ID == id {
			return i
		}
	}
	return -1
}

func (w *Window) upsertPeer(p Peer) {
	if i := w.peerIndex(p.ID); i >= 0 {
		old := w.peers[i]
		w.peers[i] = p
		if old.Name == p.Name {
			w.neighbours.RefreshItem(i + 1)
			if w.view == viewPeer && w.selected == p.ID {
				w.browse.peerChanged(p)
			}
			return
		}
	} else {
		w.peers = append(w.peers, p)
	}
	w.peers = sortPeers(w.peers)
	w.peersChanged()
	w.reselect()
	if w.view == viewPeer && w.selected == p.ID {
		w.browse.peerChanged(p)
	}
}

func (w *Window) removePeer(id string) {
	i := w.peerIndex(id)
	if i < 0 {
		return
	}
	w.peers = append(w.peers[:i:i], w.peers[i+1:]...)
	w.peersChanged()
	if w.view == viewPeer && w.selected == id {
		w.showShares()
		return
	}
	w.reselect()
}

// peersChanged shows the empty-state hint when no neighbour is known.
func (w *Window) peersChanged() {
	if len(w.peers) == 0 {
		w.noPeers.Show()
	} else {
		w.noPeers.Hide()
	}
}

// reselect refreshes the neighbours list after rows moved, keeping the
// highlighted row on the same peer.
func (w *Window) reselect() {
	w.neighbours.Refresh()
	switch {
	case w.view == viewShares:
		w.neighbours.Select(0)
	case w.view == viewPeer:
		if i := w.peerIndex(w.selected); i >= 0 {
			w.neighbours.Select(i + 1)
		}
	}
}

func (w *Window) onNeighbourSelected(id widget.ListItemID) {
	if id == 0 {
		if w.view != viewShares {
			w.showShares()
		}
		return
	}
	if id-1 >= len(w.peers) {
		return
	}
	p := w.peers[id-1]
	if w.view == viewPeer && w.selected == p.ID {
		return
	}
	w.view, w.selected = viewPeer, p.ID
	if p.LocalSend {
		w.showDevice(p)
		return
	}
	w.browse.open(p)
	w.setContent(w.browse.root)
}

func (w *Window) showShares() {
	w.view, w.selected = viewShares, ""
	w.setContent(w.shares.root)
	w.neighbours.Select(0)
}

func (w *Window) setContent(o fyne.CanvasObject) {
	w.content.Objects = []fyne.CanvasObject{o}
	w.content.Refresh()
}

func (w *Window) runSearch(text string) {
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	w.view, w.selected = viewSearch, ""
	w.neighbours.UnselectAll()
	w.results.run(text)
	w.setContent(w.results.root)
}

// displayName is p's name, with a short id appended when another
// neighbour has the same name, so the two can be told apart.
func (w *Window) displayName(p Peer) string {
	name := p.Name
	if name == "" {
		name = "Unnamed computer"
	}
	for _, o := range w.peers {
		if o.ID != p.ID && strings.EqualFold(o.Name, p.Name) {
			return name + " (" + shortID(p.ID) + ")"
		}
	}
	return name
}

func (w *Window) peerByID(id string) (Peer, bool) {
	if i := w.peerIndex(id); i >= 0 {
		return w.peers[i], true
	}
	return Peer{}, false
}

func shortID(id string) string {
	if len(id) > 6 {
		return id[:6]
	}
	return id
}

func sortPeers(ps []Peer) []Peer {
	ps = append([]Peer(nil), ps...)
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := strings.ToLower(ps[i].Name), strings.ToLower(ps[j].Name)
		if a != b {
			return a < b
		}
		return ps[i].ID < ps[j].ID
	})
	return ps
}

func (w *Window) updatePeerRow(id widget.ListItemID, o fyne.CanvasObject) {
	row := o.(*peerRow)
	w.rowItems[row] = id
	if id == 0 {
		self := w.eng.Self()
		var files int
		var bytes int64
		for _, s := range w.shares.items {
			files += s.Files
			bytes += s.Bytes
		}
		visible := w.eng.Settings().Visible
		detail := human.Summary(files, bytes) + " · as " + self.Name
		if !visible {
			detail = human.Summary(files, bytes) + " · hidden from neighbours"
		}
		row.set(theme.HomeIcon(), "My shares", detail, visible)
		return
	}
	if id-1 >= len(w.peers) {
		return
	}
	p := w.peers[id-1]
	if p.LocalSend {
		row.set(theme.MailSendIcon(), p.Name, deviceDetail(p), true)
		return
	}
	detail := human.Summary(p.Files, p.Bytes)
	if !p.Online {
		detail = "offline · " + detail
	}
	if p.Trusted {
		detail = "trusted · " + detail
	}
	if p.KeyChanged {
		detail = "⚠ key changed: refused"
	}
	row.set(theme.ComputerIcon(), w.displayName(p), detail, p.Online)
}

func (w *Window) showAddPeer() {
	addr := widget.NewEntry()
	addr.SetPlaceHolder("192.168.1.20:7420")
	addr.Validator = func(s string) error {
		if !strings.Contains(strings.TrimSpace(s), ":") {
			return errors.New("write it as host:port")
		}
		return nil
	}
	d := dialog.NewForm("Add neighbour", "Add", "Cancel",
		[]*widget.FormItem{widget.NewFormItem("Address", addr)},
		func(ok bool) {
			if !ok {
				return
			}
			a := strings.TrimSpace(addr.Text)
			w.goAsync(func() func() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				p, err := w.eng.AddPeer(ctx, a)
				return func() {
					if err != nil {
						w.showError(fmt.Errorf("cannot reach %s (%v) — is Porch running there, and is the address right?", a, err))
						return
					}
					w.upsertPeer(p)
				}
			})
		}, w.win)
	d.Resize(fyne.NewSize(420, 0))
	d.Show()
	w.win.Canvas().Focus(addr)
}

func (w *Window) showError(err error) {
	dialog.ShowError(err, w.win)
}

// openFolder shows the folder holding path in the system's file manager.
func (w *Window) openFolder(path string) {
	dir := path
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		dir = filepath.Dir(path)
	}
	u, err := url.Parse(storage.NewFileURI(dir).String())
	if err == nil {
		err = w.app.OpenURL(u)
	}
	if err != nil {
		w.showError(fmt.Errorf("cannot open the folder %s: %v", dir, err))
	}
}
