package ui

import (
	"reflect"
	"testing"

	"fyne.io/fyne/v2/test"

	"porch/share"
)

func (f *fakeEngine) Secrets() []share.SecretFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]share.SecretFile(nil), f.held...)
}

func (f *fakeEngine) DecideSecret(path string, release bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	verb, status := "keep", share.SecretKept
	if release {
		verb, status = "release", share.SecretReleased
	}
	f.decided = append(f.decided, verb+" "+path)
	for i := range f.held {
		if f.held[i].Path == path {
			f.held[i].Status = status
			return nil
		}
	}
	return share.ErrNotSecret
}

// heldEngine is an engine that holds back two files and keeps one private.
func heldEngine() *fakeEngine {
	f := newFakeEngine()
	f.shares = []ShareItem{{Name: "Projects", Path: "/home/me/Projects", Dir: true, Files: 40, Bytes: 9_000_000, HashedBytes: 9_000_000, Held: 2}}
	f.held = []share.SecretFile{
		{Path: "Projects/deploy/notes.txt", Local: "/home/me/Projects/deploy/notes.txt", Rule: "private-key", Status: share.SecretHeld},
		{Path: "Projects/web/settings.conf", Local: "/home/me/Projects/web/settings.conf", Rule: "env-secrets", Status: share.SecretHeld},
		{Path: "Projects/old/token.txt", Local: "/home/me/Projects/old/token.txt", Rule: "github-pat", Status: share.SecretKept},
	}
	return f
}

// detailOf returns the detail line of the review row named name.
func detailOf(t *testing.T, w *Window, name string) string {
	t.Helper()
	return rowNamed(t, w, name).detail.Text
}

func TestSecretsBannerAndReview(t *testing.T) {
	f := heldEngine()
	w := newTestWindow(t, f)
	settle(w)
	if !w.shares.held.root.Visible() || !hasText(w, "2 files held back as likely secrets: not shared until you review them.") {
		t.Fatalf("no banner: %q", texts(w))
	}
	if !hasText(w, "40 files · 9.0 MB · 2 held back as likely secrets") {
		t.Fatalf("the share does not say what it holds back: %q", texts(w))
	}
	test.Tap(button(t, w, "Review…"))
	settle(w)
	if !hasText(w, "Likely secrets") {
		t.Fatalf("no review: %q", texts(w))
	}
	if d := detailOf(t, w, "Projects/deploy/notes.txt"); d != "Looks like a private key · held back" {
		t.Fatalf("detail %q", d)
	}
	if d := detailOf(t, w, "Projects/old/token.txt"); d != "Looks like a GitHub token · kept private" {
		t.Fatalf("detail %q", d)
	}
	if r := rowNamed(t, w, "Projects/old/token.txt"); !r.buttons[1].Disabled() || r.buttons[0].Disabled() {
		t.Fatal("a kept file can be released, not kept again")
	}

	test.Tap(rowNamed(t, w, "Projects/deploy/notes.txt").buttons[0]) // Release
	settle(w)
	if !hasText(w, "1 file held back as likely secrets: not shared until you review it.") {
		t.Fatalf("after a release: %q", texts(w))
	}
	if d := detailOf(t, w, "Projects/deploy/notes.txt"); d != "Looks like a private key · shared" {
		t.Fatalf("released detail %q", d)
	}
	test.Tap(rowNamed(t, w, "Projects/web/settings.conf").buttons[1]) // Keep private
	settle(w)
	if want := []string{"release Projects/deploy/notes.txt", "keep Projects/web/settings.conf"}; !reflect.DeepEqual(f.decided, want) {
		t.Fatalf("decisions %q, want %q", f.decided, want)
	}
	test.AssertRendersToImage(t, "secrets.png", w.Window().Canvas())
	test.Tap(button(t, w, "Done"))
	settle(w)
	if w.shares.held.root.Visible() || w.shares.held.review != nil || hasText(w, "Likely secrets") {
		t.Fatal("after everything is decided the banner or the review stays")
	}
}
