package db

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

func TestTrusted(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := d.Trust("a", "fp-a", "Alice", now); err != nil {
		t.Fatal(err)
	}
	if err := d.Trust("b", "fp-b", "Bob", now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := d.Trust("a", "fp-a2", "Alice again", now.Add(2*time.Second)); err != nil { // trusted again with a new key
		t.Fatal(err)
	}
	got, err := d.Trusted()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "b" || got[1].ID != "a" || got[1].Fingerprint != "fp-a2" || got[1].Name != "Alice again" || !got[1].Since.Equal(now.Add(2*time.Second)) {
		t.Fatalf("Trusted() = %+v", got)
	}
	if err := d.Untrust("b"); err != nil {
		t.Fatal(err)
	}
	if err := d.Untrust("nobody"); err != nil {
		t.Fatal(err)
	}
	if got, _ := d.Trusted(); len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("after Untrust: %+v", got)
	}
}

func TestKnownPeersOwner(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	k := d.KnownPeers()
	if _, err := k.Pin("a", "fp"); err != nil {
		t.Fatal(err)
	}
	if id, ok, err := k.Owner("fp"); err != nil || !ok || id != "a" {
		t.Fatalf("Owner(fp) = %q %v %v", id, ok, err)
	}
	if _, ok, err := k.Owner("other"); err != nil || ok {
		t.Fatalf("Owner(other) = %v %v", ok, err)
	}
}

// A database of schema version 1 (before trust existed) is upgraded in
// place, keeping what it holds.
func TestUpgradeFromVersion1(t *testing.T) {
	dir := t.TempDir()
	raw, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	v1 := `CREATE TABLE hashes(dir TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
		ino INTEGER NOT NULL, seen INTEGER NOT NULL, hashes BLOB NOT NULL, PRIMARY KEY (dir, name)) WITHOUT ROWID;
		CREATE TABLE peers(id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL) WITHOUT ROWID;
		CREATE TABLE transfers(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, info TEXT NOT NULL);
		CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
		INSERT INTO peers VALUES('p', 'fp-p');
		PRAGMA user_version = 1;`
	if _, err := raw.Exec(v1); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if fp, ok, err := d.KnownPeers().Lookup("p"); err != nil || !ok || fp != "fp-p" {
		t.Fatalf("known peer after the upgrade: %q %v %v", fp, ok, err)
	}
	if err := d.Trust("p", "fp-p", "P", time.Now()); err != nil {
		t.Fatalf("trust after the upgrade: %v", err)
	}
	var v int
	if err := d.sql.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d, %v; want %d", v, err, schemaVersion)
	}
}
