package ui

import (
	"context"
	"fmt"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// pair shows the pairing code for p and trusts p if the user confirms.
// Unless asked (p asked first), it also asks p to show its user the code,
// so both users compare at once.
func (w *Window) pair(p Peer, asked bool) {
	w.goAsync(func() func() {
		var askErr error
		if !asked {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			askErr = w.eng.RequestPairing(ctx, p.ID)
			cancel()
		}
		code, err := w.eng.PairingCode(p.ID)
		return func() {
			if err != nil {
				w.showError(fmt.Errorf("cannot pair with %s: %v", w.displayName(p), err))
				return
			}
			w.showPairing(p, code, asked, askErr)
		}
	})
}

// showPairing is the dialog that shows the code and asks to trust.
func (w *Window) showPairing(p Peer, code string, asked bool, askErr error) {
	name := w.displayName(p)
	intro := fmt.Sprintf("%s shows a code for this computer. Trust it only if it is the same as this one:", name)
	if asked {
		intro = fmt.Sprintf("%s asks to pair with this computer. Compare the code it shows with this one:", name)
	} else if askErr != nil {
		intro = fmt.Sprintf("Open Porch on %s and choose Trust… there (it could not be asked: %v). Trust it only if it shows the same code:", name, askErr)
	}
	codeLabel := widget.NewLabelWithStyle(code, fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	codeLabel.SizeName = theme.SizeNameHeadingText
	after := widget.NewLabel("A trusted neighbour sees the shares you keep for trusted neighbours. If its key ever changes, the trust ends.")
	after.Wrapping = fyne.TextWrapWord
	first := widget.NewLabel(intro)
	first.Wrapping = fyne.TextWrapWord
	box := container.NewVBox(first, codeLabel, after)
	d := dialog.NewCustomConfirm("Pair with "+name, "Trust", "Not now", box, func(ok bool) {
		if !ok {
			return
		}
		if err := w.eng.Trust(p.ID); err != nil {
			w.showError(fmt.Errorf("cannot trust %s: %v", name, err))
		}
	}, w.win)
	d.Show()
	d.Resize(fyne.NewSize(440, d.MinSize().Height))
}

// untrust ends the trust in p.
func (w *Window) untrust(p Peer) {
	if err := w.eng.Untrust(p.ID); err != nil {
		w.showError(fmt.Errorf("cannot untrust %s: %v", w.displayName(p), err))
	}
}

// forgetKey explains what forgetting a changed key means and does it if
// the user confirms.
func (w *Window) forgetKey(p Peer) {
	name := w.displayName(p)
	msg := widget.NewLabel(fmt.Sprintf("%s presents another identity key than the one this computer remembers, so Porch refuses it: "+
		"someone else may be answering in its name.\n\nForget the old key only if you know %s was reinstalled or its Porch data was reset. "+
		"Its new key is then accepted and remembered, and any trust in it ends.", name, name))
	msg.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomConfirm("Forget the old key of "+name+"?", "Forget old key", "Cancel", msg, func(ok bool) {
		if !ok {
			return
		}
		w.goAsync(func() func() {
			err := w.eng.ForgetKey(p.ID)
			return func() {
				if err != nil {
					w.showError(fmt.Errorf("cannot forget the key of %s: %v", name, err))
				}
			}
		})
	}, w.win)
	d.Show()
	d.Resize(fyne.NewSize(440, d.MinSize().Height))
}
