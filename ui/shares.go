package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/share"
	"porch/ui/human"
)

// sharesView is "My shares": the drop zone, Add files / Add folder, and the
// shared items with their hashing progress and remove buttons.
type sharesView struct {
	w     *Window
	root  fyne.CanvasObject
	list  *widget.List
	empty fyne.CanvasObject
	items []ShareItem
}

func newSharesView(w *Window) *sharesView {
	v := &sharesView{w: w}
	v.list = widget.NewList(
		func() int { return len(v.items) },
		func() fyne.CanvasObject {
			return newItemRow(true, widget.NewButtonWithIcon("", theme.DeleteIcon(), nil),
				widget.NewButtonWithIcon("", theme.VisibilityIcon(), nil),
				widget.NewButtonWithIcon("Send to…", theme.MailSendIcon(), nil))
		},
		v.updateRow,
	)
	v.list.OnSelected = func(widget.ListItemID) { v.list.UnselectAll() }

	addFiles := widget.NewButtonWithIcon("Add files…", theme.FileIcon(), v.addFiles)
	addFolder := widget.NewButtonWithIcon("Add folder…", theme.FolderIcon(), v.addFolder)
	rescan := widget.NewButtonWithIcon("Rescan", theme.ViewRefreshIcon(), v.rescan)
	hint := widget.NewLabelWithStyle("Drop files or folders here", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	sub := widget.NewLabel("Neighbours on your network can browse and download what you share.")
	sub.Alignment = fyne.TextAlignCenter
	sub.Importance = widget.LowImportance
	sub.Truncation = fyne.TextTruncateEllipsis

	border := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	border.StrokeColor = theme.Color(theme.ColorNameInputBorder)
	border.StrokeWidth = 2
	border.CornerRadius = theme.InputRadiusSize()
	hint.Alignment = fyne.TextAlignLeading
	sub.Alignment = fyne.TextAlignLeading
	sub.SizeName = theme.SizeNameCaptionText
	icon := container.NewCenter(container.NewGridWrap(fyne.NewSquareSize(32), widget.NewIcon(theme.UploadIcon())))
	zone := container.NewStack(border, container.NewPadded(container.NewBorder(nil, nil,
		icon, container.NewCenter(container.NewHBox(addFiles, addFolder, rescan)),
		container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2), hint, sub))))

	v.empty = emptyState(theme.FolderOpenIcon(), "Nothing shared yet",
		"Files you share stay where they are; Porch only reads them when a neighbour downloads.")
	title := widget.NewLabel("My shares")
	subtitle := widget.NewLabel("What this computer offers to neighbours")
	top := container.NewVBox(header(title, subtitle), zone)
	v.root = container.NewBorder(container.NewPadded(top), nil, nil, nil, container.NewStack(v.list, v.empty))
	return v
}

// reload reads the shared items from the engine.
func (v *sharesView) reload() {
	v.items = v.w.eng.Shares()
	if len(v.items) == 0 {
		v.list.Hide()
		v.empty.Show()
	} else {
		v.empty.Hide()
		v.list.Show()
	}
	v.list.Refresh()
}

func (v *sharesView) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(v.items) {
		return
	}
	it := v.items[id]
	r := o.(*itemRow)
	r.icon.SetResource(iconFor(share.Entry{Name: it.Name, Dir: it.Dir}))
	r.name.SetText(it.Name)
	var parts []string
	switch {
	case it.Err != "":
		parts = append(parts, "Not shared: "+it.Err)
		r.detail.Importance = widget.DangerImportance
	default:
		parts = append(parts, human.Summary(it.Files, it.Bytes))
		r.detail.Importance = widget.LowImportance
	}
	if it.Bytes > 0 && it.HashedBytes < it.Bytes && it.Err == "" {
		parts = append(parts, fmt.Sprintf("preparing %d%%", it.HashedBytes*100/it.Bytes))
		r.progress.SetValue(float64(it.HashedBytes) / float64(it.Bytes))
		r.progress.Show()
	} else {
		r.progress.Hide()
	}
	if it.Unwatched != "" && it.Err == "" {
		parts = append(parts, "changes found by rescans only: "+it.Unwatched)
		r.detail.Importance = widget.WarningImportance
	}
	if n := len(it.Secrets); n > 0 {
		parts = append(parts, fmt.Sprintf("%d private %s left out", n, plural(n, "file", "files")))
	}
	if it.To.Restricted {
		parts = append(parts, audienceText(it.To))
	}
	r.detail.SetText(strings.Join(parts, " · "))
	eye := r.buttons[1]
	if it.To.Restricted {
		eye.SetIcon(theme.VisibilityOffIcon())
	} else {
		eye.SetIcon(theme.VisibilityIcon())
	}
	r.Refresh()
	name := it.Path
	if name == "" {
		name = it.Name
	}
	r.on(0, func() { v.remove(name, it.Name) })
	r.on(1, func() { v.chooseAudience(name, it) })
	r.on(2, func() { v.w.sendShare(it) })
}

// rescan asks the engine to look through every share again, off the UI
// goroutine: a large share takes a while to walk.
func (v *sharesView) rescan() {
	v.w.goAsync(func() func() {
		err := v.w.eng.RescanShares()
		return func() {
			if err != nil {
				v.w.showError(fmt.Errorf("cannot rescan: %v", err))
			}
		}
	})
}

func (v *sharesView) remove(pathOrName, name string) {
	if err := v.w.eng.RemoveShare(pathOrName); err != nil {
		v.w.showError(fmt.Errorf("cannot stop sharing %s: %v", name, err))
		return
	}
	v.reload()
	v.w.neighbours.RefreshItem(0)
}

func (v *sharesView) addFiles() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		p := r.URI().Path()
		r.Close()
		v.add([]string{p})
	}, v.w.win)
	d.Resize(fyne.NewSize(720, 480))
	d.Show()
}

func (v *sharesView) addFolder() {
	d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
		if err != nil || u == nil {
			return
		}
		v.add([]string{u.Path()})
	}, v.w.win)
	d.Resize(fyne.NewSize(720, 480))
	d.Show()
}

// add shares paths. It first looks for likely secrets in them off the UI
// goroutine; if there are any, the user confirms in a dialog that lists
// them before anything is shared.
func (v *sharesView) add(paths []string) {
	v.w.goAsync(func() func() {
		var secrets []string
		for _, p := range paths {
			secrets = append(secrets, v.w.eng.FindSecrets(p)...)
		}
		return func() {
			if len(secrets) == 0 {
				v.commit(paths)
				return
			}
			v.confirmSecrets(paths, secrets)
		}
	})
}

func (v *sharesView) confirmSecrets(paths, secrets []string) {
	n := len(secrets)
	msg := widget.NewLabel(fmt.Sprintf(
		"%d %s here %s private — keys, passwords or similar. %s will be left out; everything else will be shared.",
		n, plural(n, "file", "files"), plural(n, "looks", "look"), plural(n, "It", "They")))
	msg.Wrapping = fyne.TextWrapWord
	list := widget.NewList(func() int { return len(secrets) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(i widget.ListItemID, o fyne.CanvasObject) { o.(*widget.Label).SetText(secrets[i]) })
	content := container.NewBorder(msg, nil, nil, nil, list)
	d := dialog.NewCustomConfirm("Private files found", "Share", "Cancel", content, func(ok bool) {
		if ok {
			v.commit(paths)
		}
	}, v.w.win)
	d.SetConfirmImportance(widget.WarningImportance)
	d.Resize(fyne.NewSize(520, 360))
	d.Show()
}

// commit asks the engine to share paths.
func (v *sharesView) commit(paths []string) {
	v.w.goAsync(func() func() {
		_, err := v.w.eng.AddShares(paths...)
		return func() {
			if err != nil {
				v.w.showError(fmt.Errorf("cannot share %s: %v", strings.Join(paths, ", "), err))
			}
			v.reload()
			v.w.neighbours.RefreshItem(0)
		}
	})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
