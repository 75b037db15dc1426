package ui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"porch/peer"
	"porch/ui/human"
)

// Offers in the window: files dropped onto a neighbour (or "Send to…" on a
// share) are offered to it, with a dialog that follows the answer and the
// transfer; an offer a neighbour makes here shows a dialog with Accept and
// Decline, and a notification.

// maxOfferLines is how many items an offer dialog names before "and N more".
const maxOfferLines = 8

// dropTarget returns the neighbour whose row in the list is under pos (in
// window coordinates), if any; "My shares" is not a target.
func (w *Window) dropTarget(pos fyne.Position) (Peer, bool) {
	d := fyne.CurrentApp().Driver()
	// The driver places an object it does not find in the window (a row
	// the list keeps aside for reuse) at the window's origin less its
	// inset; nothing the window shows is there.
	inset, _ := w.win.Canvas().InteractiveArea()
	nowhere := fyne.Position{}.Subtract(inset)
	for row, id := range w.rowItems {
		if id < 1 || id-1 >= len(w.peers) || !row.Visible() {
			continue
		}
		at, size := d.AbsolutePositionForObject(row), row.Size()
		if at == nowhere {
			continue
		}
		if pos.X >= at.X && pos.X < at.X+size.Width && pos.Y >= at.Y && pos.Y < at.Y+size.Height {
			return w.peers[id-1], true
		}
	}
	return Peer{}, false
}

// itemsLabel names local paths briefly: "notes.txt" or "notes.txt and 2 more".
func itemsLabel(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	s := filepath.Base(paths[0])
	if len(paths) > 1 {
		s += fmt.Sprintf(" and %d more", len(paths)-1)
	}
	return s
}

// sendTo offers paths to p, showing how it goes in a dialog whose button
// withdraws the offer; the outcome ends in a notification or an error.
func (w *Window) sendTo(p Peer, paths []string) {
	name := w.displayName(p)
	if !p.Online {
		w.showError(fmt.Errorf("%s is offline; files can be sent to a neighbour that is on the network", name))
		return
	}
	what := itemsLabel(paths)
	status := widget.NewLabel("Preparing " + what + "…")
	status.Wrapping = fyne.TextWrapWord
	bar := widget.NewProgressBar()
	ctx, cancel := context.WithCancel(context.Background())
	d := dialog.NewCustom("Sending to "+name, "Withdraw", container.NewVBox(status, bar), w.win)
	d.SetOnClosed(cancel)
	d.Resize(fyne.NewSize(420, d.MinSize().Height))
	d.Show()
	update := func(sp peer.SendProgress) {
		switch sp.State {
		case "":
			status.SetText("Preparing " + what + "…")
		case peer.OfferPending:
			status.SetText(fmt.Sprintf("Waiting for %s to accept %s…", name, what))
		case peer.OfferAccepted:
			status.SetText(sendingText(name, what, sp))
		}
		if sp.Total > 0 {
			bar.SetValue(float64(sp.Done) / float64(sp.Total))
		}
	}
	w.goAsync(func() func() {
		err := w.eng.Send(ctx, p.ID, paths, func(sp peer.SendProgress) { w.do(func() { update(sp) }) })
		return func() {
			d.Hide()
			switch {
			case err == nil:
				w.app.SendNotification(fyne.NewNotification("Sent to "+name, what))
			case errors.Is(err, context.Canceled):
			default:
				w.showError(fmt.Errorf("%s did not receive %s: %v", name, what, err))
			}
		}
	})
}

// sendingText says how a send the receiver took is going: "bob accepted;
// sending 3 items… 12 MB of 40 MB · 4.2 MB/s · 7 s left", the figures as
// soon as they are known.
func sendingText(name, what string, sp peer.SendProgress) string {
	s := fmt.Sprintf("%s accepted; sending %s…", name, what)
	if sp.Total <= 0 {
		return s
	}
	s += fmt.Sprintf(" %s of %s", human.Bytes(sp.Done), human.Bytes(sp.Total))
	if sp.Rate > 0 {
		s += " · " + human.Rate(sp.Rate)
		if eta := human.ETA(sp.Done, sp.Total, sp.Rate); eta != "" {
			s += " · " + eta
		}
	}
	return s
}

// sendShare asks which online neighbour to send a shared item to, then
// sends it.
func (w *Window) sendShare(it ShareItem) {
	var names []string
	byName := map[string]Peer{}
	for _, p := range w.peers {
		if p.Online && !p.KeyChanged {
			n := w.displayName(p)
			names = append(names, n)
			byName[n] = p
		}
	}
	if len(names) == 0 {
		w.showError(errors.New("no neighbour is on the network to send to"))
		return
	}
	pick := widget.NewSelect(names, nil)
	pick.SetSelectedIndex(0)
	d := dialog.NewForm("Send "+it.Name+" to…", "Send", "Cancel",
		[]*widget.FormItem{widget.NewFormItem("Neighbour", pick)}, func(ok bool) {
			if ok {
				w.sendTo(byName[pick.Selected], []string{it.Path})
			}
		}, w.win)
	d.Resize(fyne.NewSize(420, 0))
	d.Show()
}

// offerUpdated shows a pending offer, closes its dialog once it is decided
// elsewhere (expired, withdrawn), and tells how it ended.
func (w *Window) offerUpdated(o peer.Offer) {
	from := o.From.Name
	switch o.State {
	case peer.OfferPending:
		if _, open := w.offerDialogs[o.ID]; !open {
			w.showOffer(o)
			w.app.SendNotification(fyne.NewNotification(from+" wants to send you files",
				offerSummary(o)+" — open Porch to accept or decline"))
		}
		return
	case peer.OfferAccepted:
		w.showReceiving(o)
		return
	}
	if d, open := w.offerDialogs[o.ID]; open {
		delete(w.offerDialogs, o.ID)
		d.Hide()
	}
	if r, open := w.receiving[o.ID]; open {
		delete(w.receiving, o.ID)
		r.d.Hide()
	}
	switch o.State {
	case peer.OfferDone:
		w.app.SendNotification(fyne.NewNotification("Received from "+from, offerSummary(o)+" in "+o.Dir))
	case peer.OfferFailed:
		w.app.SendNotification(fyne.NewNotification("Receiving from "+from+" failed", o.Reason))
	}
}

// offerSummary is "2 items · 5 files · 2.2 MB".
func offerSummary(o peer.Offer) string {
	return fmt.Sprintf("%d %s · %s", len(o.Items), plural(len(o.Items), "item", "items"), human.Summary(o.Files, o.Bytes))
}

// showOffer is the dialog of a pending offer: who, what, how big, where it
// lands, until when; Accept or Decline.
func (w *Window) showOffer(o peer.Offer) {
	who := o.From.Name
	switch {
	case o.From.Trusted:
		who += " (a trusted neighbour)"
	case o.From.Kind == peer.SenderLocalSend:
		who += " (LocalSend)"
	default:
		who += " (not a trusted neighbour)"
	}
	intro := widget.NewLabel(who + " wants to send you " + offerSummary(o) + ":")
	intro.Wrapping = fyne.TextWrapWord
	var lines []string
	for i, it := range o.Items {
		if i == maxOfferLines {
			lines = append(lines, fmt.Sprintf("and %d more", len(o.Items)-i))
			break
		}
		name := it.Name
		if it.Dir {
			name += "/"
		}
		lines = append(lines, fmt.Sprintf("%s  (%s)", name, human.Bytes(it.Size)))
	}
	items := widget.NewLabel(strings.Join(lines, "\n"))
	items.Truncation = fyne.TextTruncateEllipsis
	where := widget.NewLabel(fmt.Sprintf("Saved to %s. Nothing is overwritten. The offer expires at %s.",
		o.Dir, o.Expires.Local().Format("15:04")))
	where.Wrapping = fyne.TextWrapWord
	where.Importance = widget.LowImportance
	id := o.ID
	d := dialog.NewCustomConfirm("Files from "+o.From.Name, "Accept", "Decline",
		container.NewVBox(intro, items, where), func(yes bool) {
			if _, open := w.offerDialogs[id]; !open {
				return // closed because the offer ended
			}
			delete(w.offerDialogs, id)
			answer := w.eng.DeclineOffer
			if yes {
				answer = w.eng.AcceptOffer
			}
			if err := answer(id); err != nil && !errors.Is(err, peer.ErrOfferDecided) {
				w.showError(fmt.Errorf("cannot answer the offer from %s: %v", o.From.Name, err))
			}
		}, w.win)
	w.offerDialogs[id] = d
	d.Show()
	d.Resize(fyne.NewSize(460, d.MinSize().Height))
}

// receivingView is the dialog that follows an accepted offer's transfer.
type receivingView struct {
	d      dialog.Dialog
	status *widget.Label
	bar    *widget.ProgressBar
	hidden bool // the user hid it; it stays hidden until the offer ends
}

// showReceiving opens, or updates, the dialog of an offer being received.
func (w *Window) showReceiving(o peer.Offer) {
	r, open := w.receiving[o.ID]
	if !open {
		if _, asking := w.offerDialogs[o.ID]; asking {
			delete(w.offerDialogs, o.ID) // accepted elsewhere (the policy)
		}
		r = &receivingView{status: widget.NewLabel(""), bar: widget.NewProgressBar()}
		r.status.Wrapping = fyne.TextWrapWord
		r.d = dialog.NewCustom("Receiving from "+o.From.Name, "Hide", container.NewVBox(r.status, r.bar), w.win)
		r.d.SetOnClosed(func() { r.hidden = true })
		w.receiving[o.ID] = r
		r.d.Show()
		r.d.Resize(fyne.NewSize(420, r.d.MinSize().Height))
	}
	if r.hidden {
		return
	}
	r.status.SetText(fmt.Sprintf("%s of %s into %s", human.Bytes(o.Done), offerSummary(o), o.Dir))
	if o.Bytes > 0 {
		r.bar.SetValue(float64(o.Done) / float64(o.Bytes))
	}
}
