package ui

import (
	"context"
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

// searchView shows search results, one row per distinct file with the
// number of neighbours that have it.
type searchView struct {
	w       *Window
	root    fyne.CanvasObject
	title   *widget.Label
	sub     *widget.Label
	list    *widget.List
	message *fyne.Container

	results []SearchResult
	cancel  context.CancelFunc
	gen     int
}

func newSearchView(w *Window) *searchView {
	v := &searchView{w: w, title: widget.NewLabel(""), sub: widget.NewLabel("")}
	v.message = container.NewStack()
	v.list = widget.NewList(
		func() int { return len(v.results) },
		func() fyne.CanvasObject {
			return newItemRow(false, widget.NewButtonWithIcon("", theme.DownloadIcon(), nil))
		},
		v.updateRow,
	)
	v.list.OnSelected = func(widget.ListItemID) { v.list.UnselectAll() }
	v.root = container.NewBorder(container.NewPadded(header(v.title, v.sub)), nil, nil, nil,
		container.NewStack(v.list, v.message))
	return v
}

// run searches every neighbour for text and shows the results.
func (v *searchView) run(text string) {
	if v.cancel != nil {
		v.cancel()
	}
	v.gen++
	gen := v.gen
	v.title.SetText(fmt.Sprintf("Results for “%s”", text))
	if _, err := share.ParseQuery(text); err != nil {
		v.sub.SetText("")
		v.results = nil
		v.list.Refresh()
		v.setMessage(emptyState(theme.WarningIcon(), "Check the search",
			strings.TrimPrefix(err.Error(), share.ErrQuery.Error()+": ")+
				`. Search takes words, "a phrase", -word, ext:flac, size>100MB and type:folder.`))
		return
	}
	v.sub.SetText("Asking every neighbour…")
	v.results = nil
	v.list.Refresh()
	v.setMessage(widget.NewLabelWithStyle("Searching…", fyne.TextAlignCenter, fyne.TextStyle{Italic: true}))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	v.cancel = cancel
	v.w.goAsync(func() func() {
		defer cancel()
		res, err := v.w.eng.Search(ctx, text, func(partial []SearchResult) {
			v.w.do(func() {
				if gen == v.gen && len(partial) > 0 {
					v.show(text, partial, "so far; asking the others…")
				}
			})
		})
		return func() {
			if gen != v.gen {
				return
			}
			if err != nil && len(res) == 0 {
				v.sub.SetText("")
				v.setMessage(emptyState(theme.ErrorIcon(), "Search failed", err.Error()))
				return
			}
			v.show(text, res, "")
		}
	})
}

// show lists results; more says that answers are still coming.
func (v *searchView) show(text string, res []SearchResult, more string) {
	v.results = groupResults(res)
	sub := fmt.Sprintf("%d %s", len(v.results), plural(len(v.results), "file", "files"))
	if more != "" {
		sub += " " + more
	}
	v.sub.SetText(sub)
	v.list.Refresh()
	if len(v.results) == 0 {
		v.setMessage(emptyState(theme.SearchIcon(), "Nothing found",
			fmt.Sprintf("No neighbour shares anything called “%s”.", text)))
		return
	}
	v.setMessage(nil)
}

func (v *searchView) setMessage(o fyne.CanvasObject) { showInstead(v.message, v.list, o) }

// groupResults merges results that are the same file (same content id, or
// same name and size when not yet hashed), keeping the first one's order
// and listing every neighbour once.
func groupResults(in []SearchResult) []SearchResult {
	var out []SearchResult
	index := map[string]int{}
	for _, r := range in {
		key := "cid:" + r.Entry.ContentID
		if r.Entry.ContentID == "" || r.Entry.Dir {
			key = fmt.Sprintf("name:%t:%s:%d", r.Entry.Dir, strings.ToLower(r.Entry.Name), r.Entry.Size)
		}
		i, ok := index[key]
		if !ok {
			index[key] = len(out)
			out = append(out, SearchResult{Entry: r.Entry, Peers: nil})
			i = len(out) - 1
		}
		for _, p := range r.Peers {
			dup := false
			for _, q := range out[i].Peers {
				dup = dup || q.ID == p.ID
			}
			if !dup {
				out[i].Peers = append(out[i].Peers, p)
			}
		}
	}
	return out
}

func (v *searchView) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(v.results) {
		return
	}
	res := v.results[id]
	e := res.Entry
	r := o.(*itemRow)
	r.icon.SetResource(iconFor(e))
	r.name.SetText(e.Name)
	where := fmt.Sprintf("on %d peers", len(res.Peers))
	if len(res.Peers) == 1 {
		where = "on " + v.w.displayName(res.Peers[0])
	}
	size := human.Bytes(e.Size)
	if e.Dir {
		size = human.Summary(e.Files, e.Size)
	}
	r.detail.SetText(size + " · " + where)
	r.mark.Hide()
	if len(res.Peers) == 0 {
		r.on(0, nil)
		return
	}
	src := res.Peers[0] // Entry.Path is the path on the first neighbour
	if v.w.downloaded[peerPath{src.ID, e.Path}] {
		r.mark.Show()
	}
	r.on(0, func() { v.w.download(src.ID, e.Path, e.Name) })
	r.Refresh()
}
