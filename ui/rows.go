package ui

import (
	"image/color"
	"path"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/share"
)

// peerRow is one row of the neighbours list: icon, online dot, name and
// how much it shares.
type peerRow struct {
	widget.BaseWidget
	icon   *widget.Icon
	dot    *canvas.Circle
	name   *widget.Label
	detail *widget.Label
	online bool
}

func newPeerRow() *peerRow {
	r := &peerRow{
		icon:   widget.NewIcon(theme.ComputerIcon()),
		dot:    canvas.NewCircle(color.Transparent),
		name:   widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		detail: widget.NewLabel(""),
	}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.detail.Truncation = fyne.TextTruncateEllipsis
	r.detail.Importance = widget.LowImportance
	r.detail.SizeName = theme.SizeNameCaptionText
	r.ExtendBaseWidget(r)
	return r
}

func (r *peerRow) set(icon fyne.Resource, name, detail string, online bool) {
	r.icon.SetResource(icon)
	r.name.SetText(name)
	r.detail.SetText(detail)
	r.online = online
	r.Refresh()
}

func (r *peerRow) Refresh() {
	if r.online {
		r.dot.FillColor = theme.Color(theme.ColorNameSuccess)
	} else {
		r.dot.FillColor = theme.Color(theme.ColorNameDisabled)
	}
	r.dot.Refresh()
	r.BaseWidget.Refresh()
}

func (r *peerRow) CreateRenderer() fyne.WidgetRenderer {
	dot := container.NewCenter(container.NewGridWrap(fyne.NewSquareSize(8), r.dot))
	text := container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2), r.name, r.detail)
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil,
		container.NewHBox(container.NewCenter(r.icon), dot), nil, text))
}

// iconFor picks a theme icon for a file or folder by its kind.
func iconFor(e share.Entry) fyne.Resource {
	if e.Dir {
		return theme.FolderIcon()
	}
	switch kindOf(e.Name) {
	case "image":
		return theme.FileImageIcon()
	case "audio":
		return theme.FileAudioIcon()
	case "video":
		return theme.FileVideoIcon()
	case "document":
		return theme.FileTextIcon()
	case "archive":
		return theme.FileApplicationIcon()
	}
	return theme.FileIcon()
}

var kinds = map[string]string{}

func init() {
	for kind, exts := range map[string]string{
		"image":    "jpg jpeg png gif webp heic bmp tif tiff svg raw cr2 nef",
		"audio":    "mp3 flac ogg opus wav m4a aac wma aiff",
		"video":    "mp4 mkv avi mov webm wmv m4v mpg mpeg",
		"document": "txt md pdf doc docx odt rtf xls xlsx ods ppt pptx odp csv epub",
		"archive":  "zip tar gz tgz bz2 xz zst 7z rar iso dmg",
	} {
		for _, e := range strings.Fields(exts) {
			kinds[e] = kind
		}
	}
}

// kindOf classifies a file name by extension: image, audio, video,
// document, archive, or "" for anything else.
func kindOf(name string) string {
	return kinds[strings.TrimPrefix(strings.ToLower(path.Ext(name)), ".")]
}

// itemRow is a row with an icon, a name, a detail line, an optional
// progress bar, and action buttons at the end. The shares, neighbour,
// search and downloads lists all use it.
type itemRow struct {
	widget.BaseWidget
	icon     *widget.Icon
	name     *widget.Label
	detail   *widget.Label
	mark     *widget.Icon // shown when the item was already downloaded
	progress *thinBar
	buttons  []*widget.Button
	tapped   []func()
}

func newItemRow(withProgress bool, buttons ...*widget.Button) *itemRow {
	r := &itemRow{
		icon:    widget.NewIcon(theme.FileIcon()),
		name:    widget.NewLabel(""),
		detail:  widget.NewLabel(""),
		mark:    widget.NewIcon(theme.ConfirmIcon()),
		buttons: buttons,
		tapped:  make([]func(), len(buttons)),
	}
	r.name.Truncation = fyne.TextTruncateEllipsis
	r.detail.Truncation = fyne.TextTruncateEllipsis
	r.detail.Importance = widget.LowImportance
	r.detail.SizeName = theme.SizeNameCaptionText
	r.mark.Hide()
	if withProgress {
		r.progress = newThinBar()
	}
	for i, b := range buttons {
		b.Importance = widget.LowImportance
		b.OnTapped = func() {
			if f := r.tapped[i]; f != nil {
				f()
			}
		}
	}
	r.ExtendBaseWidget(r)
	return r
}

// on sets what button i does for the item the row now shows.
func (r *itemRow) on(i int, f func()) { r.tapped[i] = f }

func (r *itemRow) CreateRenderer() fyne.WidgetRenderer {
	lines := []fyne.CanvasObject{r.name}
	if r.progress != nil {
		lines = append(lines, r.progress)
	}
	lines = append(lines, r.detail)
	text := container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2), lines...)
	end := container.NewHBox(r.mark)
	for _, b := range r.buttons {
		end.Add(b)
	}
	return widget.NewSimpleRenderer(container.NewBorder(nil, nil,
		container.NewCenter(r.icon), container.NewCenter(end), text))
}

// emptyState is a centred, muted message with an icon for a list with
// nothing in it.
func emptyState(icon fyne.Resource, title, text string) fyne.CanvasObject {
	t := widget.NewLabelWithStyle(title, fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	l := widget.NewLabel(text)
	l.Alignment = fyne.TextAlignCenter
	l.Wrapping = fyne.TextWrapWord
	l.Importance = widget.LowImportance
	ic := widget.NewIcon(icon)
	return container.NewCenter(container.NewVBox(
		container.NewCenter(container.NewGridWrap(fyne.NewSquareSize(48), ic)), t,
		container.NewGridWrap(fyne.NewSize(380, l.MinSize().Height*2), l)))
}

// header is a view's title with a muted subtitle under it.
func header(title, subtitle *widget.Label) fyne.CanvasObject {
	title.TextStyle = fyne.TextStyle{Bold: true}
	title.SizeName = theme.SizeNameSubHeadingText
	title.Truncation = fyne.TextTruncateEllipsis
	subtitle.Importance = widget.LowImportance
	subtitle.Truncation = fyne.TextTruncateEllipsis
	return container.New(layout.NewCustomPaddedVBoxLayout(-theme.Padding()*2), title, subtitle)
}

// thinBar is a slim progress bar for list rows, where a full
// widget.ProgressBar would make every row twice as tall.
type thinBar struct {
	widget.BaseWidget
	Value  float64 // from 0 to 1
	bg, fg *canvas.Rectangle
}

func newThinBar() *thinBar {
	b := &thinBar{bg: canvas.NewRectangle(color.Transparent), fg: canvas.NewRectangle(color.Transparent)}
	b.bg.CornerRadius, b.fg.CornerRadius = 2, 2
	b.ExtendBaseWidget(b)
	return b
}

// SetValue sets the fraction done, clamped to [0, 1].
func (b *thinBar) SetValue(v float64) {
	b.Value = min(max(v, 0), 1)
	b.Refresh()
}

func (b *thinBar) CreateRenderer() fyne.WidgetRenderer {
	return &thinBarRenderer{b: b}
}

type thinBarRenderer struct{ b *thinBar }

func (r *thinBarRenderer) Layout(size fyne.Size) {
	const h = 4
	y := (size.Height - h) / 2
	r.b.bg.Move(fyne.NewPos(0, y))
	r.b.bg.Resize(fyne.NewSize(size.Width, h))
	r.b.fg.Move(fyne.NewPos(0, y))
	r.b.fg.Resize(fyne.NewSize(size.Width*float32(r.b.Value), h))
}

func (r *thinBarRenderer) MinSize() fyne.Size { return fyne.NewSize(40, 6) }

func (r *thinBarRenderer) Refresh() {
	r.b.bg.FillColor = theme.Color(theme.ColorNameInputBorder)
	r.b.fg.FillColor = theme.Color(theme.ColorNamePrimary)
	r.Layout(r.b.Size())
	r.b.bg.Refresh()
	r.b.fg.Refresh()
}

func (r *thinBarRenderer) Objects() []fyne.CanvasObject { return []fyne.CanvasObject{r.b.bg, r.b.fg} }

func (r *thinBarRenderer) Destroy() {}
