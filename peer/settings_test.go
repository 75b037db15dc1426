package peer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"porch/share/db"
)

// Two engines with two data folders keep two names across a restart; a
// name given in Options wins for that run only.
func TestSettingsLiveInTheDataFolder(t *testing.T) {
	b := newBus()
	dirs := map[string]string{"Attic": t.TempDir(), "Basement": t.TempDir()}
	for name, dir := range dirs {
		e, err := New(Options{DataDir: dir, Listen: "127.0.0.1:0", Discovery: b.join})
		if err != nil {
			t.Fatal(err)
		}
		changed := make(chan struct{}, 1)
		cancel := e.Subscribe(func(ev Event) {
			if ev.Kind == SettingsChanged {
				changed <- struct{}{}
			}
		})
		s := e.Settings()
		s.Name, s.Visible, s.MaxUpload = name, false, 5<<20
		if err := e.SetSettings(s); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
		default:
			t.Error("SetSettings sent no SettingsChanged")
		}
		cancel()
		if e.Name() != name {
			t.Errorf("Name() = %q after SetSettings, want %q", e.Name(), name)
		}
		e.Close()
		fi, err := os.Stat(filepath.Join(dir, db.FileName))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("database mode %v, want 0600", fi.Mode().Perm())
		}
	}
	for name, dir := range dirs {
		e, err := New(Options{DataDir: dir, Listen: "127.0.0.1:0", Discovery: b.join})
		if err != nil {
			t.Fatal(err)
		}
		s := e.Settings()
		if s.Name != name || s.Visible || s.MaxUpload != 5<<20 {
			t.Errorf("after a restart %s has %+v", dir, s)
		}
		e.Close()
	}

	// --name wins for the run it is given to, and is not saved.
	dir := dirs["Attic"]
	e, err := New(Options{DataDir: dir, Name: "Flagged", Listen: "127.0.0.1:0", Discovery: b.join})
	if err != nil {
		t.Fatal(err)
	}
	if e.Name() != "Flagged" || e.selfInfo().Name != "Flagged" {
		t.Errorf("Name() = %q, want the name given in Options", e.Name())
	}
	e.Close()
	e, err = New(Options{DataDir: dir, Listen: "127.0.0.1:0", Discovery: b.join})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Name() != "Attic" {
		t.Errorf("Name() = %q after a run with a flag, want the saved %q", e.Name(), "Attic")
	}
}

// Settings that cannot be used are refused, and nothing changes.
func TestSetSettingsRefusesBadValues(t *testing.T) {
	e, err := New(Options{DataDir: t.TempDir(), ClientOnly: true, Discovery: newBus().join})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	before := e.Settings()
	for _, s := range []Settings{{Name: "  "}, {Name: "ok", MaxUpload: -1}} {
		if err := e.SetSettings(s); !errors.Is(err, ErrSettings) {
			t.Errorf("SetSettings(%+v): %v, want ErrSettings", s, err)
		}
	}
	if e.Settings() != before {
		t.Errorf("refused settings changed them: %+v", e.Settings())
	}
	if _, ok, err := e.db.Setting(db.SettingsKey); ok || err != nil {
		t.Errorf("refused settings were saved (%v)", err)
	}
	// An empty download folder means the default one.
	if err := e.SetSettings(Settings{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if e.Settings().DownloadDir != DefaultDownloadDir() {
		t.Errorf("DownloadDir = %q, want the default", e.Settings().DownloadDir)
	}
}

// settings.json of the current version is taken over on the first start.
func TestSettingsMigratedFromJSON(t *testing.T) {
	dir := t.TempDir()
	old := "{\n  \"name\": \"Cellar\",\n  \"download_dir\": \"/srv/dl\",\n  \"visible\": false,\n  \"max_upload\": 1048576\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "settings.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		e, err := New(Options{DataDir: dir, ClientOnly: true, Discovery: newBus().join})
		if err != nil {
			t.Fatal(err)
		}
		if s := e.Settings(); s != (Settings{Name: "Cellar", DownloadDir: "/srv/dl", MaxUpload: 1 << 20, Accept: AcceptNone}) {
			t.Errorf("settings after migration: %+v", s)
		}
		e.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "settings.json.migrated")); err != nil {
		t.Error(err)
	}
}
