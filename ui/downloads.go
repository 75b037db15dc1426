package ui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/peer"
	"porch/share"
	"porch/ui/human"
)

// Buttons of a transfer row, by index.
const (
	btnPauseResume = iota
	btnCancel
	btnShow
)

// downloadsView is the downloads panel under the main view.
type downloadsView struct {
	w         *Window
	root      fyne.CanvasObject
	list      *widget.List
	empty     fyne.CanvasObject
	count     *widget.Label
	transfers []Transfer
}

func newDownloadsView(w *Window) *downloadsView {
	v := &downloadsView{w: w, count: widget.NewLabel("")}
	v.list = widget.NewList(
		func() int { return len(v.transfers) },
		func() fyne.CanvasObject {
			return newItemRow(true,
				widget.NewButtonWithIcon("", theme.MediaPauseIcon(), nil),
				widget.NewButtonWithIcon("", theme.CancelIcon(), nil),
				widget.NewButtonWithIcon("Show in folder", theme.FolderOpenIcon(), nil))
		},
		v.updateRow,
	)
	v.list.OnSelected = func(widget.ListItemID) { v.list.UnselectAll() }
	v.empty = container.NewCenter(widget.NewLabelWithStyle(
		"No downloads yet — use the download button next to any file a neighbour shares.",
		fyne.TextAlignCenter, fyne.TextStyle{Italic: true}))
	title := widget.NewLabelWithStyle("Downloads", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	v.count.Importance = widget.LowImportance
	top := container.NewHBox(widget.NewIcon(theme.DownloadIcon()), title, v.count)
	v.root = container.NewBorder(top, nil, nil, nil, container.NewStack(v.list, v.empty))
	return v
}

// reload reads every transfer from the engine; the newest is listed
// first.
func (v *downloadsView) reload() {
	v.transfers = v.w.eng.Transfers()
	slices.Reverse(v.transfers)
	for _, t := range v.transfers {
		if t.State == peer.TransferDone {
			v.w.downloaded[peerPath{t.PeerID, t.Path}] = true
		}
	}
	v.changed()
	v.list.Refresh()
}

// update applies one transfer's new state, refreshing only its row when
// it is already listed, and notifies when it has just finished.
func (v *downloadsView) update(t Transfer) {
	for i := range v.transfers {
		if v.transfers[i].ID != t.ID {
			continue
		}
		was := v.transfers[i].State
		v.transfers[i] = t
		v.list.RefreshItem(i)
		if was != peer.TransferDone && t.State == peer.TransferDone {
			v.finished(t)
		}
		v.changed()
		return
	}
	v.transfers = slices.Insert(v.transfers, 0, t)
	v.list.Refresh()
	if t.State == peer.TransferDone {
		v.finished(t)
	}
	v.changed()
}

func (v *downloadsView) finished(t Transfer) {
	v.w.downloaded[peerPath{t.PeerID, t.Path}] = true
	from := ""
	if t.PeerName != "" {
		from = " from " + t.PeerName
	}
	v.w.app.SendNotification(fyne.NewNotification("Download finished", t.Name+from))
	if v.w.view == viewPeer && v.w.selected == t.PeerID {
		v.w.browse.list.Refresh()
	}
}

// changed updates the header count and the empty state.
func (v *downloadsView) changed() {
	active := 0
	for _, t := range v.transfers {
		if t.State == peer.TransferQueued || t.State == peer.TransferRunning || t.State == peer.TransferPaused {
			active++
		}
	}
	switch {
	case len(v.transfers) == 0:
		v.count.SetText("")
	case active == 0:
		v.count.SetText("· all finished")
	default:
		v.count.SetText(fmt.Sprintf("· %d in progress", active))
	}
	if len(v.transfers) == 0 {
		v.list.Hide()
		v.empty.Show()
	} else {
		v.empty.Hide()
		v.list.Show()
	}
}

// status describes a transfer in one line: "1.2 MB of 3.4 MB · 2.1 MB/s ·
// 8 s left · from 3 neighbours".
func status(t Transfer) string {
	of := human.Bytes(t.Done) + " of " + human.Bytes(t.Total)
	switch t.State {
	case peer.TransferQueued:
		return "Waiting to start · " + human.Bytes(t.Total)
	case peer.TransferPaused:
		return "Paused · " + of
	case peer.TransferDone:
		s := "Done · " + human.Bytes(t.Total)
		if t.PeerName != "" {
			s += " from " + t.PeerName
		}
		return s
	case peer.TransferCanceled:
		return "Canceled · " + of
	case peer.TransferFailed:
		msg := t.Err
		if msg == "" {
			msg = "unknown error"
		}
		return "Failed: " + msg + " · " + of
	}
	parts := []string{of, human.Rate(t.Rate)}
	if t.Rate >= 1 && t.Total > t.Done {
		parts = append(parts, human.TimeLeft(time.Duration(float64(t.Total-t.Done)/t.Rate*float64(time.Second))))
	}
	switch {
	case t.Sources == 0:
		parts = append(parts, "looking for sources")
	case t.Sources == 1 && t.PeerName != "":
		parts = append(parts, "from "+t.PeerName)
	default:
		parts = append(parts, fmt.Sprintf("from %d %s", t.Sources, plural(t.Sources, "neighbour", "neighbours")))
	}
	return strings.Join(parts, " · ")
}

func (v *downloadsView) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(v.transfers) {
		return
	}
	t := v.transfers[id]
	r := o.(*itemRow)
	r.icon.SetResource(iconFor(share.Entry{Name: t.Name, Dir: t.Folder}))
	r.name.SetText(t.Name)
	r.detail.SetText(status(t))
	if t.State == peer.TransferFailed {
		r.detail.Importance = widget.DangerImportance
	} else {
		r.detail.Importance = widget.LowImportance
	}
	if t.Total > 0 {
		r.progress.SetValue(float64(t.Done) / float64(t.Total))
	} else {
		r.progress.SetValue(0)
	}
	pr, cancel, show := r.buttons[btnPauseResume], r.buttons[btnCancel], r.buttons[btnShow]
	active := t.State == peer.TransferQueued || t.State == peer.TransferRunning || t.State == peer.TransferPaused
	if active {
		r.progress.Show()
		pr.Show()
		cancel.Show()
		show.Hide()
	} else {
		r.progress.Hide()
		pr.Hide()
		cancel.Hide()
		if t.State == peer.TransferDone && t.FinalPath != "" {
			show.Show()
		} else {
			show.Hide()
		}
	}
	id2 := t.ID
	if t.State == peer.TransferPaused {
		pr.SetIcon(theme.MediaPlayIcon())
		r.on(btnPauseResume, func() { v.control("resume", t.Name, v.w.eng.Resume, id2) })
	} else {
		pr.SetIcon(theme.MediaPauseIcon())
		r.on(btnPauseResume, func() { v.control("pause", t.Name, v.w.eng.Pause, id2) })
	}
	r.on(btnCancel, func() { v.control("cancel", t.Name, v.w.eng.Cancel, id2) })
	final := t.FinalPath
	r.on(btnShow, func() { v.w.openFolder(final) })
	r.Refresh()
}

func (v *downloadsView) control(verb, name string, f func(string) error, id string) {
	if err := f(id); err != nil {
		v.w.showError(fmt.Errorf("cannot %s %s: %v", verb, name, err))
	}
}
