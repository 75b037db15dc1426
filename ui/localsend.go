package ui

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/peer"
	"porch/peer/localsend"
	"porch/ui/human"
)

// LocalSend devices in the window: rows in the neighbours list (marked
// LocalSend, with type and model), a pane that says what can be done with
// one (drop files on it, fetch what it offers), and text messages shown in
// a dialog.

// localSendPrefix starts the Peer ID of a LocalSend device.
const localSendPrefix = "localsend:"

// devicePINs are the PINs given for LocalSend devices, by Peer ID; mu
// guards m.
type devicePINs struct {
	mu sync.Mutex
	m  map[string]string
}

func (d *devicePINs) get(id string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[id]
}

// SetDevicePIN implements Engine.
func (a *Adapter) SetDevicePIN(peerID, pin string) {
	a.pins.mu.Lock()
	defer a.pins.mu.Unlock()
	a.pins.m[peerID] = strings.TrimSpace(pin)
}

// devices lists the engine's LocalSend devices as Peers.
func (a *Adapter) devices() []Peer {
	var out []Peer
	for _, d := range a.e.LocalSendDevices() {
		out = append(out, Peer{ID: localSendPrefix + d.Fingerprint, Name: d.Alias, Online: true, Addrs: []string{d.Addr.String()},
			LocalSend: true, DeviceType: d.DeviceType, DeviceModel: d.DeviceModel, Download: d.Download})
	}
	return out
}

// device finds the LocalSend device a Peer ID names.
func (a *Adapter) device(peerID string) (localsend.Device, bool) {
	fp, ok := strings.CutPrefix(peerID, localSendPrefix)
	if !ok {
		return localsend.Device{}, false
	}
	for _, d := range a.e.LocalSendDevices() {
		if d.Fingerprint == fp {
			return d, true
		}
	}
	return localsend.Device{Info: localsend.Info{Alias: "the LocalSend device"}}, true
}

// sendToDevice sends to a LocalSend device, reporting as an offer does.
func (a *Adapter) sendToDevice(ctx context.Context, d localsend.Device, paths []string, progress func(peer.SendProgress)) error {
	if d.Fingerprint == "" {
		return fmt.Errorf("%s is gone from the network", d.Alias)
	}
	if progress != nil {
		progress(peer.SendProgress{State: peer.OfferPending})
	}
	return a.e.SendToDevice(ctx, d, paths, a.pins.get(localSendPrefix+d.Fingerprint), func(p peer.GetProgress) {
		if progress != nil {
			progress(peer.SendProgress{State: peer.OfferAccepted, Done: p.Done, Total: p.Total, Rate: p.Rate})
		}
	})
}

// Fetch implements Engine.
func (a *Adapter) Fetch(ctx context.Context, peerID string) (int, int64, error) {
	d, ok := a.device(peerID)
	if !ok || d.Fingerprint == "" {
		return 0, 0, fmt.Errorf("not a LocalSend device on the network")
	}
	res, err := a.e.FetchFromDevice(ctx, d, a.e.Settings().DownloadDir, a.pins.get(peerID), nil)
	return len(res.Files), res.Bytes, err
}

// deviceDetail is the second line of a LocalSend device's row.
func deviceDetail(p Peer) string {
	parts := []string{"LocalSend"}
	if p.DeviceType != "" {
		parts = append(parts, p.DeviceType)
	}
	if p.DeviceModel != "" {
		parts = append(parts, p.DeviceModel)
	}
	return strings.Join(parts, " · ")
}

// devicesChanged replaces the LocalSend rows with the engine's devices.
func (w *Window) devicesChanged() {
	var keep []Peer
	for _, p := range w.peers {
		if !p.LocalSend {
			keep = append(keep, p)
		}
	}
	for _, p := range w.eng.Peers() {
		if p.LocalSend {
			keep = append(keep, p)
		}
	}
	w.peers = sortPeers(keep)
	w.peersChanged()
	if w.view == viewPeer && strings.HasPrefix(w.selected, localSendPrefix) && w.peerIndex(w.selected) < 0 {
		w.showShares()
		return
	}
	w.reselect()
}

// showDevice shows what can be done with a LocalSend device.
func (w *Window) showDevice(p Peer) {
	title := widget.NewLabelWithStyle(p.Name, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	sub := widget.NewLabel(deviceDetail(p) + " · " + strings.Join(p.Addrs, ", "))
	hint := widget.NewLabel("Drop files or folders onto " + p.Name + " in the list to send them.")
	hint.Wrapping = fyne.TextWrapWord
	pin := widget.NewEntry()
	pin.SetPlaceHolder("PIN, if " + p.Name + " asks for one")
	pin.OnChanged = func(s string) { w.eng.SetDevicePIN(p.ID, s) }
	box := container.NewVBox(title, sub, hint, pin)
	if p.Download {
		box.Add(widget.NewButtonWithIcon("Fetch what "+p.Name+" offers", theme.DownloadIcon(), func() { w.fetchFrom(p) }))
	}
	w.setContent(container.NewPadded(box))
}

// fetchFrom downloads what a LocalSend device offers, with a dialog until done.
func (w *Window) fetchFrom(p Peer) {
	ctx, cancel := context.WithCancel(context.Background())
	d := dialog.NewCustom("Fetching from "+p.Name, "Cancel", widget.NewProgressBarInfinite(), w.win)
	d.SetOnClosed(cancel)
	d.Show()
	w.goAsync(func() func() {
		files, bytes, err := w.eng.Fetch(ctx, p.ID)
		return func() {
			d.Hide()
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					w.showError(fmt.Errorf("cannot fetch from %s: %v", p.Name, err))
				}
				return
			}
			w.app.SendNotification(fyne.NewNotification("Received from "+p.Name, human.Summary(files, bytes)))
		}
	})
}

// showMessage shows a LocalSend text message, with a button to copy it.
func (w *Window) showMessage(m peer.Message) {
	text := widget.NewLabel(m.Text)
	text.Wrapping = fyne.TextWrapWord
	text.Selectable = true
	copyButton := widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), func() {
		w.app.Clipboard().SetContent(m.Text)
	})
	body := container.NewBorder(nil, container.NewHBox(copyButton), nil, nil, container.NewVScroll(text))
	d := dialog.NewCustom("Message from "+m.From, "Close", body, w.win)
	d.Resize(fyne.NewSize(460, 260))
	d.Show()
	w.app.SendNotification(fyne.NewNotification("Message from "+m.From, m.Text))
}
