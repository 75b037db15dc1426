package ui

import (
	"fmt"
	"slices"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"porch/share"
)

// The choices of the visibility dialog.
const (
	seenByEveryone = "Every neighbour"
	seenBySome     = "Only the neighbours ticked below"
)

// audienceText says in a share's row who may see a restricted share.
func audienceText(v share.Visibility) string {
	var who []string
	if v.Trusted {
		who = append(who, "trusted neighbours")
	}
	for _, p := range v.Peers {
		who = append(who, p.Name)
	}
	if len(who) == 0 {
		return "seen by no neighbour"
	}
	return "only for " + strings.Join(who, ", ")
}

// chooseAudience shows the dialog that sets who may see a shared item:
// every neighbour, or only the trusted ones and the neighbours ticked
// (the online ones with a verified key, and those chosen before).
func (v *sharesView) chooseAudience(pathOrName string, it ShareItem) {
	mode := widget.NewRadioGroup([]string{seenByEveryone, seenBySome}, nil)
	mode.Required = true
	trusted := widget.NewCheck("Trusted neighbours (paired with)", nil)
	trusted.SetChecked(it.To.Trusted)
	type choice struct {
		id     string
		kept   *share.ChosenPeer // chosen before: kept with the key it had then
		ticked *widget.Check
	}
	var choices []*choice
	for i := range it.To.Peers {
		c := it.To.Peers[i]
		choices = append(choices, &choice{id: c.ID, kept: &c, ticked: widget.NewCheck(c.Name, nil)})
		choices[len(choices)-1].ticked.SetChecked(true)
	}
	for _, p := range v.w.eng.Peers() {
		if !p.Online || p.KeyChanged || slices.ContainsFunc(choices, func(c *choice) bool { return c.id == p.ID }) {
			continue
		}
		choices = append(choices, &choice{id: p.ID, ticked: widget.NewCheck(p.Name, nil)})
	}
	some := container.NewVBox(trusted)
	for _, c := range choices {
		some.Add(c.ticked)
	}
	mode.OnChanged = func(s string) {
		if s == seenBySome {
			trusted.Enable()
			for _, c := range choices {
				c.ticked.Enable()
			}
			return
		}
		trusted.Disable()
		for _, c := range choices {
			c.ticked.Disable()
		}
	}
	if it.To.Restricted {
		mode.SetSelected(seenBySome)
	} else {
		mode.SetSelected(seenByEveryone)
	}
	note := widget.NewLabel("Neighbours who may not see it find nothing there: it is not listed, searched or served to them.")
	note.Wrapping = fyne.TextWrapWord
	note.Importance = widget.LowImportance
	content := container.NewBorder(container.NewVBox(mode), note, nil, nil, container.NewVScroll(some))
	d := dialog.NewCustomConfirm("Who sees "+it.Name, "Save", "Cancel", content, func(ok bool) {
		if !ok {
			return
		}
		to := share.Everyone
		var pick []string
		var kept []share.ChosenPeer
		if mode.Selected == seenBySome {
			to = share.Visibility{Restricted: true, Trusted: trusted.Checked}
			for _, c := range choices {
				switch {
				case !c.ticked.Checked:
				case c.kept != nil:
					kept = append(kept, *c.kept)
				default:
					pick = append(pick, c.id)
				}
			}
		}
		v.setAudience(pathOrName, it.Name, to, kept, pick)
	}, v.w.win)
	d.Resize(fyne.NewSize(460, 420))
	d.Show()
}

// setAudience pins the neighbours newly picked and saves who may see the
// item, off the UI goroutine.
func (v *sharesView) setAudience(pathOrName, name string, to share.Visibility, kept []share.ChosenPeer, pick []string) {
	v.w.goAsync(func() func() {
		err := func() error {
			to.Peers = kept
			for _, id := range pick {
				c, err := v.w.eng.ChosenPeer(id)
				if err != nil {
					return err
				}
				to.Peers = append(to.Peers, c)
			}
			return v.w.eng.SetShareVisibility(pathOrName, to)
		}()
		return func() {
			if err != nil {
				v.w.showError(fmt.Errorf("cannot change who sees %s: %v", name, err))
			}
			v.reload()
		}
	})
}
