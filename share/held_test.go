package share

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"porch/share/db"
)

// absent checks that p is nowhere in l: not listed, walked, found, opened,
// counted, nor its content id known.
func absent(t *testing.T, l *Library, p, cid string) {
	t.Helper()
	if _, err := l.Stat(p); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat(%s) = %v, want ErrNotFound", p, err)
	}
	if _, err := l.Open(p); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(%s) = %v, want ErrNotFound", p, err)
	}
	l.Walk("", func(e Entry) error {
		if e.Path == p {
			t.Errorf("Walk lists %s", p)
		}
		return nil
	})
	if found := l.Search(filepath.Base(p), 0); len(found) != 0 {
		t.Errorf("Search(%s) = %+v", filepath.Base(p), found)
	}
	if cid != "" {
		if l.Has(cid) {
			t.Errorf("Has(%s's content)", p)
		}
		if _, err := l.Hashes(cid); !errors.Is(err, ErrNotFound) {
			t.Errorf("Hashes(%s's content) = %v", p, err)
		}
		if _, err := l.OpenContent(cid); !errors.Is(err, ErrNotFound) {
			t.Errorf("OpenContent(%s's content) = %v", p, err)
		}
	}
}

func secretsByPath(t *testing.T, l *Library) map[string]SecretFile {
	t.Helper()
	list, err := l.Secrets()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]SecretFile{}
	for _, f := range list {
		m[f.Path] = f
	}
	return m
}

func TestHeldBack(t *testing.T) {
	cases := secretCases(t)
	key, pub := cases[0].text, ""
	for _, c := range cases {
		if c.name == "public key pem" {
			pub = c.text
		}
	}
	src, data := t.TempDir(), t.TempDir()
	item := filepath.Base(src)
	writeFile(t, filepath.Join(src, "notes.txt"), "nothing to see")
	writeFile(t, filepath.Join(src, "deploy.txt"), "server: web1\n"+key)
	writeFile(t, filepath.Join(src, "sub", "app.conf"), "PORT=8080\nDB_PASSWORD=Zq8vLm2pXr7tKw4n\n")
	writeFile(t, filepath.Join(src, "sub", "server.pub.txt"), pub)
	l := openLib(t, data, LibraryOptions{}, src)
	hashAll(t, l)

	deploy, conf := item+"/deploy.txt", item+"/sub/app.conf"
	if got := names(mustList(t, l, item)); !slices.Equal(got, []string{"sub", "notes.txt"}) {
		t.Fatalf("listed %q", got)
	}
	if got := names(mustList(t, l, item+"/sub")); !slices.Equal(got, []string{"server.pub.txt"}) {
		t.Fatalf("listed %q in sub", got)
	}
	sec := secretsByPath(t, l)
	if len(sec) != 2 || sec[deploy].Rule != "private-key" || sec[conf].Rule != "env-secrets" ||
		sec[deploy].Status != SecretHeld || sec[conf].Status != SecretHeld || sec[deploy].Local != filepath.Join(src, "deploy.txt") {
		t.Fatalf("Secrets = %+v", sec)
	}
	absent(t, l, deploy, sec[deploy].CID)
	absent(t, l, conf, sec[conf].CID)
	if files, bytes := l.Totals(); files != 2 || bytes != int64(len("nothing to see")+len(pub)) {
		t.Fatalf("Totals = %d files, %d bytes", files, bytes)
	}
	if st := l.Items(); st[0].Held != 2 || st[0].Files != 2 {
		t.Fatalf("Items = %+v", st)
	}

	// A restart holds them back again from the hash cache, reading nothing.
	l.Close()
	l = openLib(t, data, LibraryOptions{})
	hashAll(t, l)
	if n := l.hashedFiles.Load(); n != 0 {
		t.Fatalf("read %d files again after a restart", n)
	}
	absent(t, l, deploy, sec[deploy].CID)
	absent(t, l, conf, sec[conf].CID)

	// Released: served like any file. Kept: stays absent.
	if f, err := l.DecideSecret(deploy, true); err != nil || f.Status != SecretReleased {
		t.Fatalf("release: %+v %v", f, err)
	}
	if _, err := l.DecideSecret(filepath.Join(src, "sub", "app.conf"), false); err != nil {
		t.Fatalf("keep by local path: %v", err)
	}
	e, err := l.Stat(deploy)
	if err != nil || e.ContentID != sec[deploy].CID || !l.Has(e.ContentID) {
		t.Fatalf("released file: %+v %v", e, err)
	}
	f, err := l.Open(deploy)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.NewSectionReader(f, 0, e.Size))
	f.Close()
	if string(b) != "server: web1\n"+key {
		t.Fatal("released file read wrong")
	}
	absent(t, l, conf, sec[conf].CID)
	if sec := secretsByPath(t, l); sec[deploy].Status != SecretReleased || sec[conf].Status != SecretKept {
		t.Fatalf("after deciding: %+v", sec)
	}
	if _, err := l.DecideSecret(item+"/notes.txt", true); !errors.Is(err, ErrNotSecret) {
		t.Fatalf("deciding on a clean file: %v", err)
	}

	// New content is checked again: a new key in the released file is held
	// back again; the kept file, now clean, is shared.
	later := time.Now().Add(time.Minute)
	writeFile(t, filepath.Join(src, "deploy.txt"), "server: web2\n"+key)
	writeFile(t, filepath.Join(src, "sub", "app.conf"), "PORT=8081\n")
	for _, p := range []string{"deploy.txt", "sub/app.conf"} {
		os.Chtimes(filepath.Join(src, p), later, later)
	}
	if err := l.Rescan(); err != nil {
		t.Fatal(err)
	}
	hashAll(t, l)
	sec2 := secretsByPath(t, l)
	if len(sec2) != 1 || sec2[deploy].Status != SecretHeld || sec2[deploy].CID == sec[deploy].CID {
		t.Fatalf("after the changes: %+v", sec2)
	}
	absent(t, l, deploy, sec2[deploy].CID)
	if e, err := l.Stat(conf); err != nil || e.ContentID == "" {
		t.Fatalf("cleaned file: %+v %v", e, err)
	}
}

// A decision made by another process (porch share secrets release) reaches
// a running library through a rescan request.
func TestHeldBackReleasedElsewhere(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "id.txt"), secretCases(t)[1].text)
	l := openLib(t, data, LibraryOptions{Rescan: time.Hour, Poll: time.Hour}, src)
	runLibrary(t, l)
	p := filepath.Base(src) + "/id.txt"
	waitFor(t, func() bool { s, _ := l.Secrets(); return len(s) == 1 })
	// Held back: listed no more once the rescan that its verdict asks for
	// has run (at once under Run).
	waitFor(t, func() bool { _, err := l.Stat(p); return errors.Is(err, ErrNotFound) })
	other, err := db.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cat, err := OpenCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecideSecret(other, cat.Items(), p, true); err != nil {
		t.Fatal(err)
	}
	if err := RequestRescan(data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { e, err := l.Stat(p); return err == nil && e.ContentID != "" })
}

// Under Run a file held back leaves the listings as soon as its verdict is
// in, not when the hashing pass that found it ends: here the pass is held
// up on the next file until the test has seen the key gone.
func TestHeldBackLeavesTheListingAtOnce(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a-key.txt"), secretCases(t)[1].text)
	writeFile(t, filepath.Join(src, "b-notes.txt"), "nothing to see")
	l := openLib(t, t.TempDir(), LibraryOptions{Rescan: time.Hour, Poll: time.Hour}, src)
	gate := make(chan struct{})
	defer close(gate)
	l.onHashed = func(abs string) {
		if filepath.Base(abs) == "b-notes.txt" {
			<-gate // the pass waits here, after the key's verdict
		}
	}
	runLibrary(t, l)
	p := filepath.Base(src) + "/a-key.txt"
	waitFor(t, func() bool { _, err := l.Stat(p); return errors.Is(err, ErrNotFound) })
}

// With IncludeSecrets nothing is held back, and files are served before
// they are hashed.
func TestHeldBackIncludeSecrets(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "k.txt"), secretCases(t)[1].text)
	l := openLib(t, t.TempDir(), LibraryOptions{IncludeSecrets: true}, src)
	p := filepath.Base(src) + "/k.txt"
	f, err := l.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	hashAll(t, l)
	if e, err := l.Stat(p); err != nil || e.ContentID == "" {
		t.Fatalf("%+v %v", e, err)
	}
}

// A shared file (not a folder) that holds a key is held back as a whole:
// the item lists nothing until it is released.
func TestHeldBackSingleFile(t *testing.T) {
	src := t.TempDir()
	p := filepath.Join(src, "backup.txt")
	writeFile(t, p, secretCases(t)[3].text)
	l := openLib(t, t.TempDir(), LibraryOptions{}, p)
	hashAll(t, l)
	if top := mustList(t, l, ""); len(top) != 0 {
		t.Fatalf("listed %+v", top)
	}
	if st := l.Items(); len(st) != 1 || st[0].Held != 1 || st[0].Files != 0 {
		t.Fatalf("Items = %+v", st)
	}
	sec, err := l.Secrets()
	if err != nil || len(sec) != 1 || sec[0].Path != "backup.txt" || sec[0].Local != p {
		t.Fatalf("Secrets = %+v, %v", sec, err)
	}
	if _, err := l.DecideSecret("backup.txt", true); err != nil {
		t.Fatal(err)
	}
	if e, err := l.Stat("backup.txt"); err != nil || e.ContentID != sec[0].CID {
		t.Fatalf("released: %+v %v", e, err)
	}
}
