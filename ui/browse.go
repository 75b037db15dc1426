package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/share"
	"porch/ui/human"
)

// browseView shows one neighbour's shared tree: a breadcrumb of the path
// and the entries inside it, each with a download button.
type browseView struct {
	w       *Window
	root    fyne.CanvasObject
	title   *widget.Label
	sub     *widget.Label
	crumbs  *fyne.Container
	actions *fyne.Container // Trust…, Untrust or Forget old key…, by the peer's state
	list    *widget.List
	message *fyne.Container // loading, empty and error states over the list

	peer    Peer
	path    string
	entries []share.Entry
	cancel  context.CancelFunc
	gen     int // counts loads, so a slow old answer cannot replace a newer one

	// listed keeps the folders listed at the peer's current index version,
	// so going back to one does not ask again; it is emptied when the
	// version or the peer changes, and holds at most maxListed folders.
	listed map[string][]share.Entry
}

// maxListed bounds the folders a browse view remembers.
const maxListed = 64

func newBrowseView(w *Window) *browseView {
	v := &browseView{w: w, title: widget.NewLabel(""), sub: widget.NewLabel("")}
	v.crumbs = container.NewHBox()
	v.message = container.NewStack()
	v.list = widget.NewList(
		func() int { return len(v.entries) },
		func() fyne.CanvasObject {
			return newItemRow(false, widget.NewButtonWithIcon("", theme.DownloadIcon(), nil))
		},
		v.updateRow,
	)
	v.list.OnSelected = func(id widget.ListItemID) {
		v.list.UnselectAll()
		if id < len(v.entries) && v.entries[id].Dir {
			v.navigate(v.entries[id].Path)
		}
	}
	v.actions = container.NewHBox()
	top := container.NewVBox(container.NewBorder(nil, nil, nil, container.NewCenter(v.actions), header(v.title, v.sub)), container.NewHScroll(v.crumbs))
	v.root = container.NewBorder(container.NewPadded(top), nil, nil, nil, container.NewStack(v.list, v.message))
	return v
}

// open shows the top of p's shares.
func (v *browseView) open(p Peer) {
	v.peer = p
	v.listed = nil
	v.peerChanged(p)
	v.navigate("")
}

// peerChanged updates the header when p's details change while shown. When
// its index version moved, the open folder is listed again in place.
func (v *browseView) peerChanged(p Peer) {
	moved := p.Index != v.peer.Index
	v.peer = p
	if moved {
		v.listed = nil
		if p.Online {
			defer v.load(v.path, true)
		}
	}
	v.title.SetText(v.w.displayName(p))
	sub := human.Summary(p.Files, p.Bytes)
	if !p.Online {
		sub = "Offline · " + sub
	}
	if p.Trusted {
		sub = "Trusted · " + sub
	}
	if p.KeyChanged {
		sub = "Refused: it presents another identity key than before, so someone else may be answering in its name"
	}
	v.sub.SetText(sub)
	v.setActions(p)
	v.list.Refresh()
	if len(v.crumbs.Objects) > 0 {
		v.crumbs.Objects[0].(*widget.Button).SetText(v.w.displayName(p))
	}
}

// navigate lists path ("" is the top) on the current peer.
func (v *browseView) navigate(path string) {
	v.path = path
	v.setCrumbs()
	if entries, ok := v.listed[path]; ok {
		if v.cancel != nil {
			v.cancel()
		}
		v.gen++
		v.show(path, entries, true)
		return
	}
	v.load(path, false)
}

// load asks the peer for the entries of path. quiet keeps what is shown
// until the answer comes (a refresh); otherwise the list empties and says
// it is loading.
func (v *browseView) load(path string, quiet bool) {
	if v.cancel != nil {
		v.cancel()
	}
	v.gen++
	gen := v.gen
	if !quiet {
		v.entries = nil
		v.list.Refresh()
		v.showMessage(widget.NewLabelWithStyle("Loading…", fyne.TextAlignCenter, fyne.TextStyle{Italic: true}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	v.cancel = cancel
	peer := v.peer
	v.w.goAsync(func() func() {
		defer cancel()
		entries, err := v.w.eng.List(ctx, peer.ID, path)
		abandoned := errors.Is(ctx.Err(), context.Canceled) // navigated away or closed
		return func() {
			if gen != v.gen || abandoned {
				return
			}
			if err != nil {
				if quiet {
					return // keep showing what was listed; the next change tries again
				}
				v.showMessage(emptyState(theme.ErrorIcon(), "Cannot open this folder",
					fmt.Sprintf("Cannot reach %s (%v) — is Porch still running there?", v.w.displayName(peer), err)))
				return
			}
			if peer.Index != 0 && peer.ID == v.peer.ID && peer.Index == v.peer.Index {
				if v.listed == nil || len(v.listed) >= maxListed {
					v.listed = map[string][]share.Entry{}
				}
				v.listed[path] = entries
			}
			v.show(path, entries, !quiet)
		}
	})
}

// show puts the entries of path on screen; top scrolls to the first.
func (v *browseView) show(path string, entries []share.Entry, top bool) {
	v.entries = entries
	v.list.Refresh()
	if top {
		v.list.ScrollToTop()
	}
	switch {
	case len(entries) > 0:
		v.showMessage(nil)
	case path == "":
		v.showMessage(emptyState(theme.FolderIcon(), "Nothing here",
			v.w.displayName(v.peer)+" isn't sharing anything yet."))
	default:
		v.showMessage(emptyState(theme.FolderIcon(), "Empty folder", ""))
	}
}

func (v *browseView) showMessage(o fyne.CanvasObject) { showInstead(v.message, v.list, o) }

// showInstead shows o in message in place of list, or list again when o is nil.
func showInstead(message *fyne.Container, list fyne.CanvasObject, o fyne.CanvasObject) {
	if o == nil {
		message.Objects = nil
		message.Hide()
		list.Show()
	} else {
		message.Objects = []fyne.CanvasObject{o}
		message.Show()
		list.Hide()
	}
	message.Refresh()
}

func (v *browseView) setCrumbs() {
	v.crumbs.Objects = nil
	add := func(label, target string, current bool) {
		b := widget.NewButton(label, func() { v.navigate(target) })
		b.Importance = widget.LowImportance
		if current {
			b.Importance = widget.MediumImportance
		}
		if len(v.crumbs.Objects) > 0 {
			v.crumbs.Add(widget.NewIcon(theme.NavigateNextIcon()))
		}
		v.crumbs.Add(b)
	}
	add(v.w.displayName(v.peer), "", v.path == "")
	if v.path != "" {
		segs := strings.Split(v.path, "/")
		for i, s := range segs {
			add(s, strings.Join(segs[:i+1], "/"), i == len(segs)-1)
		}
	}
	v.crumbs.Refresh()
}

func (v *browseView) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(v.entries) {
		return
	}
	e := v.entries[id]
	r := o.(*itemRow)
	r.icon.SetResource(iconFor(e))
	r.name.SetText(e.Name)
	detail := human.Bytes(e.Size)
	if e.Dir {
		detail = human.Summary(e.Files, e.Size)
	}
	if !e.ModTime.IsZero() {
		detail += " · " + e.ModTime.Local().Format("2 Jan 2006")
	}
	r.detail.SetText(detail)
	peer := v.peer.ID
	if v.w.downloaded[peerPath{peer, e.Path}] {
		r.mark.Show()
	} else {
		r.mark.Hide()
	}
	r.on(0, func() { v.w.download(peer, e.Path, e.Name) })
	if v.peer.Online {
		r.buttons[0].Enable()
	} else {
		r.buttons[0].Disable()
	}
	r.Refresh()
}

// download starts fetching path from peer, reporting failure in a dialog.
func (w *Window) download(peerID, path, name string) {
	if _, err := w.eng.Download(peerID, path); err != nil {
		w.showError(fmt.Errorf("cannot download %s: %v", name, err))
		return
	}
	w.downloads.reload()
}

// setActions shows what the user can do about trust in p.
func (v *browseView) setActions(p Peer) {
	var b *widget.Button
	switch {
	case p.KeyChanged:
		b = widget.NewButtonWithIcon("Forget old key…", theme.WarningIcon(), func() { v.w.forgetKey(p) })
	case p.Trusted:
		b = widget.NewButtonWithIcon("Untrust", theme.CancelIcon(), func() { v.w.untrust(p) })
	case p.Online:
		b = widget.NewButtonWithIcon("Trust…", theme.ConfirmIcon(), func() { v.w.pair(p, false) })
	}
	v.actions.RemoveAll()
	if b != nil {
		v.actions.Add(b)
	}
}
