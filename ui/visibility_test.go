package ui

import (
	"fmt"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"porch/share"
)

func (f *fakeEngine) SetShareVisibility(p string, v share.Visibility) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.shares {
		if s.Path == p || s.Name == p {
			f.shares[i].To = v
			return nil
		}
	}
	return fmt.Errorf("%s is not shared", p)
}

func (f *fakeEngine) ChosenPeer(id string) (share.ChosenPeer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.peers {
		if p.ID == id && p.Online {
			return share.ChosenPeer{ID: p.ID, Fingerprint: "key of " + p.ID, Name: p.Name}, nil
		}
	}
	return share.ChosenPeer{}, fmt.Errorf("no neighbour %s", id)
}

func check(t *testing.T, w *Window, text string) *widget.Check {
	t.Helper()
	for _, o := range objects(w) {
		if c, ok := o.(*widget.Check); ok && c.Text == text && c.Visible() {
			return c
		}
	}
	t.Fatalf("no check box %q; labels %q", text, texts(w))
	return nil
}

func hasCheck(w *Window, text string) bool {
	for _, o := range objects(w) {
		if c, ok := o.(*widget.Check); ok && c.Text == text && c.Visible() {
			return true
		}
	}
	return false
}

func radio(t *testing.T, w *Window) *widget.RadioGroup {
	t.Helper()
	for _, o := range objects(w) {
		if r, ok := o.(*widget.RadioGroup); ok && r.Visible() {
			return r
		}
	}
	t.Fatal("no choice of who sees the share")
	return nil
}

// The eye button of a share sets who may see it: every neighbour, or the
// trusted ones and the online neighbours ticked, pinned by their keys; the
// row says so.
func TestShareVisibilityFromTheWindow(t *testing.T) {
	f := newFakeEngine()
	f.peers = []Peer{alice, bob}
	f.shares = []ShareItem{{Name: "Music", Path: "/home/me/Music", Dir: true, Files: 3, Bytes: 9_000_000, HashedBytes: 9_000_000}}
	w := newTestWindow(t, f)
	r := rowNamed(t, w, "Music")
	if r.buttons[1].Icon != theme.VisibilityIcon() {
		t.Error("an open share does not show the open eye")
	}

	test.Tap(r.buttons[1])
	settle(w)
	if got := radio(t, w).Selected; got != seenByEveryone {
		t.Fatalf("an open share's dialog starts at %q", got)
	}
	if hasCheck(w, bob.Name) {
		t.Error("Bob, offline, is offered")
	}
	if !check(t, w, alice.Name).Disabled() {
		t.Error("neighbours can be ticked while every neighbour is chosen")
	}
	radio(t, w).SetSelected(seenBySome)
	test.Tap(check(t, w, "Trusted neighbours (paired with)"))
	test.Tap(check(t, w, alice.Name))
	test.Tap(button(t, w, "Save"))
	settle(w)

	want := share.Visibility{Restricted: true, Trusted: true,
		Peers: []share.ChosenPeer{{ID: alice.ID, Fingerprint: "key of " + alice.ID, Name: alice.Name}}}
	if got := f.Shares()[0].To; !got.Equal(want) {
		t.Fatalf("saved %+v, want %+v", got, want)
	}
	r = rowNamed(t, w, "Music")
	if got := r.detail.Text; got != "3 files · 9.0 MB · only for trusted neighbours, Alice's laptop" {
		t.Errorf("row detail %q", got)
	}
	if r.buttons[1].Icon != theme.VisibilityOffIcon() {
		t.Error("a restricted share does not show the closed eye")
	}

	// Alice goes offline: she stays chosen, with the key she had.
	f.mu.Lock()
	f.peers = []Peer{bob}
	f.mu.Unlock()
	test.Tap(r.buttons[1])
	settle(w)
	if got := radio(t, w).Selected; got != seenBySome || !check(t, w, alice.Name).Checked || !check(t, w, "Trusted neighbours (paired with)").Checked {
		t.Fatalf("the dialog does not show what was saved: %q", got)
	}
	test.Tap(check(t, w, "Trusted neighbours (paired with)"))
	test.Tap(button(t, w, "Save"))
	settle(w)
	want.Trusted = false
	if got := f.Shares()[0].To; !got.Equal(want) {
		t.Fatalf("saved %+v, want %+v", got, want)
	}

	test.Tap(rowNamed(t, w, "Music").buttons[1])
	settle(w)
	radio(t, w).SetSelected(seenByEveryone)
	test.Tap(button(t, w, "Save"))
	settle(w)
	if got := f.Shares()[0].To; got.Restricted {
		t.Fatalf("saved %+v, want every neighbour", got)
	}
	if got := rowNamed(t, w, "Music").detail.Text; got != "3 files · 9.0 MB" {
		t.Errorf("row detail %q", got)
	}
}
