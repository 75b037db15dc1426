package ui

import (
	"errors"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/peer"
	"porch/ui/human"
)

// The choices of the accept policy, as the settings dialog words them.
var (
	acceptPolicies = map[string]peer.AcceptPolicy{
		"Ask me":                   peer.AcceptAsk,
		"Accept from trusted only": peer.AcceptTrusted,
		"Accept from anyone":       peer.AcceptAll,
		"Decline all":              peer.AcceptNone,
	}
	acceptLabels = []string{"Ask me", "Accept from trusted only", "Accept from anyone", "Decline all"}
)

// acceptLabel words a policy for the settings dialog.
func acceptLabel(p peer.AcceptPolicy) string {
	for l, q := range acceptPolicies {
		if q == p {
			return l
		}
	}
	return acceptLabels[0]
}

// ShowSettings opens the settings dialog: display name, download folder,
// visibility, upload limit and which files sent to this computer it takes. Saving applies them through the engine.
func (w *Window) ShowSettings() {
	s := w.eng.Settings()
	name := widget.NewEntry()
	name.SetText(s.Name)
	name.Validator = func(t string) error {
		if strings.TrimSpace(t) == "" {
			return errors.New("give this computer a name")
		}
		return nil
	}
	dir := widget.NewEntry()
	dir.SetText(s.DownloadDir)
	browse := widget.NewButtonWithIcon("", theme.FolderOpenIcon(), func() {
		d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
			if err == nil && u != nil {
				dir.SetText(u.Path())
			}
		}, w.win)
		d.Resize(fyne.NewSize(720, 480))
		d.Show()
	})
	visible := widget.NewCheck("Neighbours can see this computer", nil)
	visible.SetChecked(s.Visible)
	limit := widget.NewEntry()
	limit.SetPlaceHolder("Unlimited — or e.g. 20MB/s, 500KB/s")
	limit.SetText(human.FormatRate(s.MaxUpload))
	limit.Validator = func(t string) error {
		_, err := human.ParseRate(t)
		if err != nil {
			return errors.New("write a speed like 20MB/s or 500KB/s, or leave it empty")
		}
		return nil
	}
	accept := widget.NewSelect(acceptLabels, nil)
	accept.SetSelected(acceptLabel(s.Accept))
	lsOn := widget.NewCheck("LocalSend devices can see this computer and send to it (TCP and UDP 53317)", nil)
	lsOn.SetChecked(!s.LocalSendOff)
	lsPIN := widget.NewEntry()
	lsPIN.SetPlaceHolder("None")
	lsPIN.SetText(s.LocalSendPIN)
	items := []*widget.FormItem{
		widget.NewFormItem("Display name", name),
		widget.NewFormItem("Download folder", container.NewBorder(nil, nil, nil, browse, dir)),
		widget.NewFormItem("Visibility", visible),
		widget.NewFormItem("Upload limit", limit),
		widget.NewFormItem("Files sent to you", accept),
		widget.NewFormItem("LocalSend", lsOn),
		widget.NewFormItem("LocalSend PIN", lsPIN),
	}
	items[3].HintText = "Leave empty for no limit"
	d := dialog.NewForm("Settings", "Save", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		rate, _ := human.ParseRate(limit.Text)
		ns := Settings{
			Name:        strings.TrimSpace(name.Text),
			DownloadDir: strings.TrimSpace(dir.Text),
			Visible:     visible.Checked,
			MaxUpload:   rate,
			Accept:      acceptPolicies[accept.Selected],

			LocalSendOff: !lsOn.Checked,
			LocalSendPIN: strings.TrimSpace(lsPIN.Text),
		}
		if err := w.eng.SetSettings(ns); err != nil {
			w.showError(fmt.Errorf("cannot save settings: %v", err))
			return
		}
		w.neighbours.RefreshItem(0)
	}, w.win)
	d.Resize(fyne.NewSize(520, 0))
	d.Show()
}
