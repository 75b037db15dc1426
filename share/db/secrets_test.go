package db

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// A database of schema version 2 (before the secret scan) is upgraded in
// place: its hash records stay, marked as never checked (rules 0), so their
// files are read and checked again; verdicts and decisions are stored.
func TestUpgradeFromVersion2(t *testing.T) {
	dir := t.TempDir()
	raw, err := sql.Open("sqlite", filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	v2 := `CREATE TABLE hashes(dir TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL,
		ino INTEGER NOT NULL, seen INTEGER NOT NULL, hashes BLOB NOT NULL, PRIMARY KEY (dir, name)) WITHOUT ROWID;
		CREATE TABLE peers(id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL) WITHOUT ROWID;
		CREATE TABLE transfers(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, info TEXT NOT NULL);
		CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
		CREATE TABLE trusted(id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, name TEXT NOT NULL, since INTEGER NOT NULL) WITHOUT ROWID;
		INSERT INTO hashes VALUES('/s', 'old.txt', 1, 2, 3, 4, x'00');
		PRAGMA user_version = 2;`
	if _, err := raw.Exec(v2); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	d := open(t, dir)
	r, ok, err := d.Hash("/s/old.txt")
	if err != nil || !ok || r.Size != 1 || r.Rules != 0 || r.Secret != "" {
		t.Fatalf("old record after the upgrade: %+v %v %v", r, ok, err)
	}
	recs := []HashRecord{
		{Path: "/s/key.txt", Size: 5, Hashes: []byte{1}, Rules: 1, Secret: "private-key"},
		{Path: "/s/clean.txt", Size: 6, Hashes: []byte{2}, Rules: 1},
	}
	if err := d.UpdateHashes(recs, nil, 10); err != nil {
		t.Fatal(err)
	}
	sec, err := d.SecretHashes()
	if err != nil || len(sec) != 1 || sec[0].Path != "/s/key.txt" || sec[0].Secret != "private-key" || sec[0].Rules != 1 {
		t.Fatalf("SecretHashes: %+v %v", sec, err)
	}
	if err := d.DecideSecret("/s/key.txt", "p1-a", Keep); err != nil {
		t.Fatal(err)
	}
	if err := d.DecideSecret("/s/key.txt", "p1-b", Release); err != nil {
		t.Fatal(err)
	}
	dec, err := d.SecretDecisions()
	if got := dec["/s/key.txt"]; err != nil || len(dec) != 1 || got.CID != "p1-b" || got.Decision != Release || got.Since == 0 {
		t.Fatalf("decisions: %+v %v", dec, err)
	}
	var v int
	if err := d.sql.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d, %v; want %d", v, err, schemaVersion)
	}
}
