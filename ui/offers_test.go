package ui

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"porch/peer"
)

// anOffer is Alice's offer of a folder and a file.
func anOffer(state peer.OfferState) peer.Offer {
	return peer.Offer{ID: "o1", State: state,
		From:  peer.OfferSender{ID: alice.ID, Name: alice.Name, Kind: peer.SenderPorch},
		Items: []peer.OfferItem{{Name: "Holiday", Dir: true, Size: 3_000_000, Files: 4}, {Name: "notes.txt", Size: 1_000, Files: 1}},
		Files: 5, Bytes: 3_001_000, Dir: "/home/me/Downloads",
		Received: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Expires: time.Date(2026, 3, 1, 12, 10, 0, 0, time.UTC)}
}

// buttonTexts lists the text of every visible button in the window.
func buttonTexts(w *Window) []string {
	var out []string
	for _, o := range objects(w) {
		if b, ok := o.(*widget.Button); ok && b.Visible() && b.Text != "" {
			out = append(out, b.Text)
		}
	}
	return out
}

// An offer shows who sends what and how big, with a notification; Accept
// and Decline answer it, and the end of a received offer is notified.
func TestOfferDialogAnswers(t *testing.T) {
	for _, yes := range []bool{true, false} {
		f := newFakeEngine()
		f.peers = []Peer{alice}
		w := newTestWindow(t, f)
		test.AssertNotificationSent(t, fyne.NewNotification("Alice's laptop wants to send you files",
			"2 items · 5 files · 3.0 MB — open Porch to accept or decline"), func() {
			f.emit(Event{Kind: OfferUpdated, Offer: anOffer(peer.OfferPending)})
		})
		for _, s := range []string{"Files from Alice's laptop",
			"Alice's laptop (not a trusted neighbour) wants to send you 2 items · 5 files · 3.0 MB:",
			"Holiday/  (3.0 MB)\nnotes.txt  (1.0 KB)"} {
			if !hasText(w, s) {
				t.Fatalf("the offer dialog lacks %q: %q", s, texts(w))
			}
		}
		// The same offer again (its progress) does not open a second dialog.
		f.emit(Event{Kind: OfferUpdated, Offer: anOffer(peer.OfferPending)})
		if n := len(w.offerDialogs); n != 1 {
			t.Fatalf("%d offer dialogs open", n)
		}
		if yes {
			test.Tap(button(t, w, "Accept"))
		} else {
			test.Tap(button(t, w, "Decline"))
		}
		got := f.offers.declined
		if yes {
			got = f.offers.accepted
		}
		if !reflect.DeepEqual(got, []string{"o1"}) || len(f.offers.accepted)+len(f.offers.declined) != 1 {
			t.Fatalf("answered %v/%v, want o1 %v once", f.offers.accepted, f.offers.declined, yes)
		}
		if yes {
			test.AssertNotificationSent(t, fyne.NewNotification("Received from Alice's laptop",
				"2 items · 5 files · 3.0 MB in /home/me/Downloads"), func() {
				f.emit(Event{Kind: OfferUpdated, Offer: anOffer(peer.OfferDone)})
			})
		}
	}
}

// An offer that expires (or is withdrawn) while its dialog is open closes
// the dialog without answering it.
func TestOfferDialogClosesWhenTheOfferEnds(t *testing.T) {
	f := newFakeEngine()
	w := newTestWindow(t, f)
	f.emit(Event{Kind: OfferUpdated, Offer: anOffer(peer.OfferPending)})
	button(t, w, "Accept")
	f.emit(Event{Kind: OfferUpdated, Offer: anOffer(peer.OfferExpired)})
	for _, b := range buttonTexts(w) {
		if b == "Accept" || b == "Decline" {
			t.Fatalf("the dialog of an expired offer is still open: %q", buttonTexts(w))
		}
	}
	if len(f.offers.accepted)+len(f.offers.declined) != 0 {
		t.Errorf("closing the dialog answered the offer: %v %v", f.offers.accepted, f.offers.declined)
	}
}

// Files dropped onto a neighbour's row are offered to it, not shared; the
// outcome is notified. Dropped elsewhere they are shared as before.
func TestDropOntoNeighbourSends(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice}
	w := newTestWindow(t, f)
	// The row the list shows Alice in (it keeps other rows aside for reuse,
	// placed nowhere on screen).
	var row *peerRow
	var at fyne.Position
	inset, _ := w.Window().Canvas().InteractiveArea()
	for r := range w.rowItems {
		p := fyne.CurrentApp().Driver().AbsolutePositionForObject(r)
		if r.name.Text == "Alice's laptop" && p != (fyne.Position{}).Subtract(inset) {
			row, at = r, p
		}
	}
	if row == nil {
		t.Fatal("no row for Alice on screen")
	}
	pos := at.Add(fyne.NewPos(row.Size().Width/2, row.Size().Height/2))
	dir := t.TempDir()
	test.AssertNotificationSent(t, fyne.NewNotification("Sent to Alice's laptop", filepath.Base(dir)), func() {
		w.Drop(pos, []fyne.URI{storage.NewFileURI(dir)})
		settle(w)
	})
	if want := []sendCall{{alice.ID, []string{dir}}}; !reflect.DeepEqual(f.offers.sends, want) {
		t.Fatalf("sends %v, want %v", f.offers.sends, want)
	}
	if len(f.added) != 0 {
		t.Errorf("dropped onto Alice, the folder was shared too: %v", f.added)
	}

	// Dropped elsewhere: shared, not sent.
	w.Drop(fyne.NewPos(5, 5), []fyne.URI{storage.NewFileURI(dir)})
	settle(w)
	if len(f.offers.sends) != 1 || len(f.added) != 1 {
		t.Errorf("dropped outside the neighbours: sends %v, shares %v", f.offers.sends, f.added)
	}
}

// A refused offer is an error dialog with the reason.
func TestSendRefusedShowsWhy(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice}
	f.offers.sendErr = errors.New("Alice's laptop declined (declined)")
	w := newTestWindow(t, f)
	w.sendTo(alice, []string{"/home/me/notes.txt"})
	settle(w)
	if !hasText(w, "Alice's laptop did not receive notes.txt: Alice's laptop declined (declined)") {
		t.Fatalf("no error shown: %q", texts(w))
	}
}

// "Send to…" on a shared item asks which neighbour, then sends the item.
func TestSendToFromShares(t *testing.T) {
	f := populated()
	w := newTestWindow(t, f)
	test.Tap(rowNamed(t, w, "taxes.pdf").buttons[2])
	test.Tap(button(t, w, "Send"))
	settle(w)
	if want := []sendCall{{alice.ID, []string{"/home/me/taxes.pdf"}}}; !reflect.DeepEqual(f.offers.sends, want) {
		t.Fatalf("sends %v, want %v (Bob is offline)", f.offers.sends, want)
	}
}

func TestGoldenOffer(t *testing.T) {
	f := populated()
	w := newTestWindow(t, f)
	o := anOffer(peer.OfferPending)
	o.From.Trusted = true
	f.emit(Event{Kind: OfferUpdated, Offer: o})
	test.AssertRendersToImage(t, "offer.png", w.Window().Canvas())
}

// An accepted offer (by the user or the policy) shows how much has arrived
// until it ends; hidden, it stays hidden.
func TestReceivingShowsProgress(t *testing.T) {
	f := newFakeEngine()
	w := newTestWindow(t, f)
	o := anOffer(peer.OfferAccepted)
	o.Done = 1_500_000
	f.emit(Event{Kind: OfferUpdated, Offer: o})
	if !hasText(w, "1.5 MB of 2 items · 5 files · 3.0 MB into /home/me/Downloads") {
		t.Fatalf("no progress shown: %q", texts(w))
	}
	o.Done = 3_000_000
	f.emit(Event{Kind: OfferUpdated, Offer: o})
	if !hasText(w, "3.0 MB of 2 items · 5 files · 3.0 MB into /home/me/Downloads") {
		t.Fatalf("progress not updated: %q", texts(w))
	}
	test.Tap(button(t, w, "Hide"))
	o.Done = 3_001_000
	f.emit(Event{Kind: OfferUpdated, Offer: o})
	for _, b := range buttonTexts(w) {
		if b == "Hide" {
			t.Fatal("the hidden progress came back")
		}
	}
	o.State = peer.OfferDone
	test.AssertNotificationSent(t, fyne.NewNotification("Received from Alice's laptop",
		"2 items · 5 files · 3.0 MB in /home/me/Downloads"), func() {
		f.emit(Event{Kind: OfferUpdated, Offer: o})
	})
	if len(w.receiving) != 0 {
		t.Errorf("%d receiving views left", len(w.receiving))
	}
}

// The sending dialog says how much has arrived, how fast and how long is
// left, each as soon as it is known.
func TestSendingText(t *testing.T) {
	for _, c := range []struct {
		sp   peer.SendProgress
		want string
	}{
		{peer.SendProgress{State: peer.OfferAccepted}, "bob accepted; sending 2 items…"},
		{peer.SendProgress{State: peer.OfferAccepted, Done: 1_000_000, Total: 4_000_000}, "bob accepted; sending 2 items… 1.0 MB of 4.0 MB"},
		{peer.SendProgress{State: peer.OfferAccepted, Done: 1_000_000, Total: 4_000_000, Rate: 1_000_000}, "bob accepted; sending 2 items… 1.0 MB of 4.0 MB · 1.0 MB/s · 3 s left"},
	} {
		if got := sendingText("bob", "2 items", c.sp); got != c.want {
			t.Errorf("%+v: %q, want %q", c.sp, got, c.want)
		}
	}
}
