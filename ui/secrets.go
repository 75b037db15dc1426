package ui

import (
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/share"
)

// Secrets implements Engine. A database that cannot be read lists none, as
// FindSecrets finds none in a folder it cannot walk; the files stay held
// back all the same.
func (a *Adapter) Secrets() []share.SecretFile {
	list, _ := a.e.Secrets()
	return list
}

// DecideSecret implements Engine.
func (a *Adapter) DecideSecret(path string, release bool) error {
	_, err := a.e.DecideSecret(path, release)
	return err
}

// secretsBanner is the notice on "My shares" about files held back because
// their content looks like a secret, with the review dialog where each is
// released or kept private. It is used on the UI goroutine only; decisions
// (which rescan the shares) are made off it.
type secretsBanner struct {
	w      *Window
	root   *fyne.Container // hidden while nothing waits for review
	text   *widget.Label
	files  []share.SecretFile
	list   *widget.List
	review dialog.Dialog // open, or nil
}

func newSecretsBanner(w *Window) *secretsBanner {
	b := &secretsBanner{w: w, text: widget.NewLabel("")}
	b.text.Wrapping = fyne.TextWrapWord
	b.text.Importance = widget.WarningImportance
	open := widget.NewButtonWithIcon("Review…", theme.WarningIcon(), b.showReview)
	open.Importance = widget.WarningImportance
	b.root = container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), open, b.text)
	b.root.Hide()
	b.list = widget.NewList(
		func() int { return len(b.files) },
		func() fyne.CanvasObject {
			return newItemRow(false, widget.NewButton("Release", nil), widget.NewButton("Keep private", nil))
		},
		b.updateRow,
	)
	b.list.OnSelected = func(widget.ListItemID) { b.list.UnselectAll() }
	return b
}

// reload asks the engine for the likely secrets (one small query of the
// database, as prompt as Shares).
func (b *secretsBanner) reload() { b.show(b.w.eng.Secrets()) }

// show updates the banner and an open review with files.
func (b *secretsBanner) show(files []share.SecretFile) {
	b.files = files
	held := 0
	for _, f := range files {
		if f.Status == share.SecretHeld {
			held++
		}
	}
	if held == 0 {
		b.root.Hide()
	} else {
		b.text.SetText(fmt.Sprintf("%d %s held back as likely secrets: not shared until you review %s.",
			held, plural(held, "file", "files"), plural(held, "it", "them")))
		b.root.Show()
	}
	b.list.Refresh()
}

func (b *secretsBanner) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(b.files) {
		return
	}
	f := b.files[id]
	r := o.(*itemRow)
	r.icon.SetResource(theme.WarningIcon())
	r.name.SetText(f.Path)
	state := map[string]string{
		share.SecretHeld:     "held back",
		share.SecretKept:     "kept private",
		share.SecretReleased: "shared",
	}[f.Status]
	r.detail.SetText(fmt.Sprintf("Looks like %s · %s", ruleWords(f.Rule), state))
	r.buttons[0].Enable()
	r.buttons[1].Enable()
	switch f.Status {
	case share.SecretReleased:
		r.buttons[0].Disable()
	case share.SecretKept:
		r.buttons[1].Disable()
	}
	r.Refresh()
	r.on(0, func() { b.decide(f, true) })
	r.on(1, func() { b.decide(f, false) })
}

// showReview opens the list of likely secrets.
func (b *secretsBanner) showReview() {
	msg := widget.NewLabel("Porch found what looks like keys, tokens or passwords in these files, so it does not share them. " +
		"Release a file to share it anyway, or keep it private: it stays out and you are not asked again.")
	msg.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustom("Likely secrets", "Done", container.NewBorder(msg, nil, nil, nil, b.list), b.w.win)
	d.SetOnClosed(func() { b.review = nil })
	d.Resize(fyne.NewSize(620, 420))
	b.review = d
	d.Show()
	b.reload()
}

// decide releases or keeps f, off the UI goroutine.
func (b *secretsBanner) decide(f share.SecretFile, release bool) {
	b.w.goAsync(func() func() {
		err := b.w.eng.DecideSecret(f.Path, release)
		files := b.w.eng.Secrets()
		return func() {
			if err != nil {
				b.w.showError(fmt.Errorf("cannot change how %s is shared: %v", f.Path, err))
			}
			b.show(files)
			b.w.shares.reload()
		}
	})
}

// ruleWords says in plain words what a secret rule found.
func ruleWords(rule string) string {
	switch rule {
	case "private-key":
		return "a private key"
	case "putty-private-key":
		return "a PuTTY private key"
	case "aws-access-token":
		return "an AWS access key"
	case "github-pat", "github-fine-grained-pat":
		return "a GitHub token"
	case "gitlab-pat":
		return "a GitLab token"
	case "slack-token":
		return "a Slack token"
	case "stripe-access-token":
		return "a Stripe key"
	case "npm-access-token":
		return "an npm token"
	case "gcp-api-key":
		return "a Google API key"
	case "anthropic-api-key", "openai-api-key":
		return "an AI service's API key"
	case "env-secrets":
		return "passwords or tokens in KEY=value lines"
	}
	return "a secret (" + rule + ")"
}
