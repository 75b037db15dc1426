package ui

import (
	"context"
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

// Fetch is the LocalSend part of fakeEngine: it records the device fetched from.
func (f *fakeEngine) Fetch(_ context.Context, peerID string) (int, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetched = append(f.fetched, peerID)
	return 2, 2048, nil
}

func (f *fakeEngine) SetDevicePIN(peerID, pin string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pins == nil {
		f.pins = map[string]string{}
	}
	f.pins[peerID] = pin
}

var phone = Peer{ID: localSendPrefix + "AB12", Name: "Pixel", Online: true, Addrs: []string{"10.0.0.7"},
	LocalSend: true, DeviceType: "mobile", DeviceModel: "Google", Download: true}

// rowOf returns the neighbours row showing name, on screen, and where it is.
func rowOf(t *testing.T, w *Window, name string) (*peerRow, fyne.Position) {
	t.Helper()
	inset, _ := w.Window().Canvas().InteractiveArea()
	for r := range w.rowItems {
		p := fyne.CurrentApp().Driver().AbsolutePositionForObject(r)
		if r.name.Text == name && p != (fyne.Position{}).Subtract(inset) {
			return r, p
		}
	}
	t.Fatalf("no row for %s on screen: %q", name, texts(w))
	return nil, fyne.Position{}
}

func TestLocalSendDeviceListedAndSentTo(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice, phone}
	w := newTestWindow(t, f)
	row, at := rowOf(t, w, "Pixel")
	if row.detail.Text != "LocalSend · mobile · Google" {
		t.Errorf("the device's row says %q", row.detail.Text)
	}
	dir := t.TempDir()
	test.AssertNotificationSent(t, fyne.NewNotification("Sent to Pixel", filepath.Base(dir)), func() {
		w.Drop(at.Add(fyne.NewPos(row.Size().Width/2, row.Size().Height/2)), []fyne.URI{storage.NewFileURI(dir)})
		settle(w)
	})
	if want := []sendCall{{phone.ID, []string{dir}}}; !reflect.DeepEqual(f.offers.sends, want) {
		t.Fatalf("sends %v, want %v", f.offers.sends, want)
	}

	// Selected: no browsing, a way to fetch what it offers.
	w.neighbours.Select(w.peerIndex(phone.ID) + 1)
	settle(w)
	if !hasText(w, "Drop files or folders onto Pixel in the list to send them.") {
		t.Fatalf("the device's pane: %q", texts(w))
	}
	for _, o := range objects(w) {
		if e, ok := o.(*widget.Entry); ok && e.PlaceHolder == "PIN, if Pixel asks for one" {
			test.Type(e, "4321")
		}
	}
	if f.pins[phone.ID] != "4321" {
		t.Errorf("the PIN typed for the device: %q", f.pins[phone.ID])
	}
	test.Tap(button(t, w, "Fetch what Pixel offers"))
	settle(w)
	if !reflect.DeepEqual(f.fetched, []string{phone.ID}) {
		t.Errorf("fetched from %v", f.fetched)
	}
}

func TestLocalSendDevicesChange(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice}
	w := newTestWindow(t, f)
	f.mu.Lock()
	f.peers = append(f.peers, phone)
	f.mu.Unlock()
	f.emit(Event{Kind: DevicesChanged})
	settle(w)
	rowOf(t, w, "Pixel")
	f.mu.Lock()
	f.peers = []Peer{alice}
	f.mu.Unlock()
	f.emit(Event{Kind: DevicesChanged})
	settle(w)
	if hasText(w, "Pixel") {
		t.Errorf("a device gone from the engine is still listed: %q", texts(w))
	}
	if !hasText(w, "Alice's laptop") {
		t.Errorf("a Porch neighbour went with the devices: %q", texts(w))
	}
}

func TestLocalSendMessageShown(t *testing.T) {
	f := newFakeEngine()
	w := newTestWindow(t, f)
	m := peer.Message{From: "Pixel", Text: "the wifi password is on the fridge", At: time.Now()}
	test.AssertNotificationSent(t, fyne.NewNotification("Message from Pixel", m.Text), func() {
		f.emit(Event{Kind: MessageReceived, Message: m})
		settle(w)
	})
	if !hasText(w, m.Text) || !hasText(w, "Message from Pixel") {
		t.Errorf("the message is not shown: %q", texts(w))
	}
	test.Tap(button(t, w, "Copy"))
	if got := fyne.CurrentApp().Clipboard().Content(); got != m.Text {
		t.Errorf("clipboard holds %q", got)
	}
}
