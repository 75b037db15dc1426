package db

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func open(t *testing.T, dir string) *DB {
	t.Helper()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func write(t *testing.T, file, s string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The JSON files of the current version are imported once, in one
// transaction, and kept renamed.
func TestMigratesJSONFiles(t *testing.T) {
	dir := t.TempDir()
	// hashcache.json as share wrote it: Hashes.MarshalBinary in base64.
	write(t, filepath.Join(dir, hashCacheJSON),
		`[{"path":"/s/a.txt","size":1,"mtime":5,"ino":7,"hashes":"AAAAAAAAAAEAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw==","seen":1700000000},`+
			`{"path":"/s/sub/b.txt","size":0,"mtime":6,"hashes":"AAAAAAAAAAA=","seen":1700000001}]`)
	write(t, filepath.Join(dir, knownJSON), "{\n  \"peer-1\": \"sha256:aa\",\n  \"peer-2\": \"sha256:bb\"\n}\n")
	write(t, filepath.Join(dir, transfersJSON),
		`[{"id":"t1","peer_id":"p","path":"x","state":"running","done":10,"total":100},{"id":"t2","state":"done"}]`)
	write(t, filepath.Join(dir, settingsJSON), "{\n  \"name\": \"Attic\",\n  \"download_dir\": \"/dl\",\n  \"visible\": false,\n  \"max_upload\": 5\n}\n")

	d := open(t, dir)
	r, ok, err := d.Hash("/s/a.txt")
	if err != nil || !ok || r.Size != 1 || r.MTime != 5 || r.Ino != 7 || r.Seen != 1700000000 || len(r.Hashes) != 40 {
		t.Fatalf("hash a: %+v %v %v", r, ok, err)
	}
	if rs, err := d.HashFolder("/s/sub"); err != nil || len(rs) != 1 || rs[0].Path != "/s/sub/b.txt" {
		t.Fatalf("folder /s/sub: %+v %v", rs, err)
	}
	if fp, ok, _ := d.KnownPeers().Lookup("peer-2"); !ok || fp != "sha256:bb" {
		t.Fatalf("peer-2: %q %v", fp, ok)
	}
	ts, err := d.Transfers()
	if err != nil || len(ts) != 2 {
		t.Fatalf("transfers: %d %v", len(ts), err)
	}
	var t1 struct {
		ID   string `json:"id"`
		Done int64  `json:"done"`
	}
	if json.Unmarshal(ts[0], &t1); t1.ID != "t1" || t1.Done != 10 {
		t.Fatalf("first transfer %s", ts[0])
	}
	s, ok, err := d.Setting(SettingsKey)
	var set struct {
		Name    string `json:"name"`
		Visible bool   `json:"visible"`
	}
	if err != nil || !ok || json.Unmarshal(s, &set) != nil || set.Name != "Attic" || set.Visible {
		t.Fatalf("settings %s %v %v", s, ok, err)
	}
	for _, name := range []string{hashCacheJSON, knownJSON, transfersJSON, settingsJSON} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", name, err)
		}
		if _, err := os.Stat(filepath.Join(dir, name+".migrated")); err != nil {
			t.Errorf("%s not kept: %v", name, err)
		}
	}
	d.Close()

	// A file that reappears (an older Porch ran again) is not imported
	// a second time.
	write(t, filepath.Join(dir, knownJSON), `{"peer-3": "sha256:cc"}`)
	d = open(t, dir)
	if _, ok, _ := d.KnownPeers().Lookup("peer-3"); ok {
		t.Error("known_peers.json imported twice")
	}
	if fi, err := os.Stat(filepath.Join(dir, FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database mode: %v %v", fi.Mode(), err)
	}
}

// Damaged files that can be rebuilt are set aside; damaged known peers stop
// the start, as before.
func TestMigrationOfDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, hashCacheJSON), `[{garbage`)
	write(t, filepath.Join(dir, settingsJSON), `nope`)
	d := open(t, dir)
	if _, err := os.Stat(filepath.Join(dir, hashCacheJSON+".migrated")); err != nil {
		t.Error(err)
	}
	if _, ok, _ := d.Setting(SettingsKey); ok {
		t.Error("damaged settings imported")
	}

	dir = t.TempDir()
	write(t, filepath.Join(dir, knownJSON), `{`)
	if d, err := Open(dir); err == nil {
		d.Close()
		t.Fatal("damaged known_peers.json accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, knownJSON)); err != nil {
		t.Errorf("damaged known_peers.json not left in place: %v", err)
	}
}

// Several handles (as several processes have) on one file see each other's
// writes; pinning is first come, first served.
func TestSeveralHandles(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	dbs := make([]*DB, 4)
	for i := range dbs {
		dbs[i] = open(t, dir)
	}
	pinned := make([]string, len(dbs))
	for i, d := range dbs {
		wg.Go(func() {
			fp, err := d.KnownPeers().Pin("peer", "fp-"+string(rune('a'+i)))
			if err != nil {
				t.Error(err)
			}
			pinned[i] = fp
			if err := d.UpdateHashes([]HashRecord{{Path: "/x/" + string(rune('a'+i)), Hashes: []byte{0}}}, nil, 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, p := range pinned {
		if p != pinned[0] {
			t.Fatalf("pins disagree: %q", pinned)
		}
	}
	if rs, err := dbs[0].HashFolder("/x"); err != nil || len(rs) != len(dbs) {
		t.Fatalf("folder /x: %d records, %v", len(rs), err)
	}
	if err := dbs[1].KnownPeers().Forget("peer"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := dbs[2].KnownPeers().Lookup("peer"); ok {
		t.Fatal("Forget not seen by another handle")
	}
	if n, err := dbs[3].ExpireHashes(2); err != nil || n != int64(len(dbs)) {
		t.Fatalf("expired %d, %v", n, err)
	}
	if err := dbs[0].Check(); err != nil {
		t.Fatal(err)
	}
}
