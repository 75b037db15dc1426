package db

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The JSON files earlier versions kept in the data folder.
const (
	hashCacheJSON = "hashcache.json"
	knownJSON     = "known_peers.json"
	transfersJSON = "transfers.json"
	settingsJSON  = "settings.json"
)

// SettingsKey is the settings key the engine's Settings are saved under;
// settings.json is imported as it.
const SettingsKey = "settings"

// migrate imports the JSON files of earlier versions found in dataDir into
// tx and returns the files it read, to be renamed once tx commits. A file
// that cannot be decoded is renamed too (so it is kept, and not read again)
// but imports nothing, except known_peers.json: forgetting which keys were
// pinned would weaken the trust-on-first-use check, so a damaged one fails
// the migration, as it failed the start of earlier versions.
func migrate(tx *sql.Tx, dataDir string) (read []string, err error) {
	steps := []struct {
		name string
		fn   func(*sql.Tx, *os.File) error
	}{
		{hashCacheJSON, importHashCache},
		{knownJSON, importKnown},
		{transfersJSON, importTransfers},
		{settingsJSON, importSettings},
	}
	for _, s := range steps {
		file := filepath.Join(dataDir, s.name)
		f, err := os.Open(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("importing %s: %w", file, err)
		}
		err = s.fn(tx, f)
		f.Close()
		var bad badFile
		switch {
		case errors.As(err, &bad) && s.name != knownJSON:
		case err != nil:
			return nil, fmt.Errorf("importing %s: %w", file, err)
		}
		read = append(read, file)
	}
	return read, nil
}

// badFile wraps a decoding error: the file is not what it should be.
type badFile struct{ error }

func decodeErr(err error) error {
	if err == nil {
		return nil
	}
	return badFile{err}
}

// importHashCache streams hashcache.json (an array of records) into the
// hashes table, a record at a time, so that a file of hundreds of megabytes
// is not held in memory. Records before a damaged spot are kept.
func importHashCache(tx *sql.Tx, f *os.File) error {
	type record struct {
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		MTime  int64  `json:"mtime"`
		Ino    uint64 `json:"ino"`
		Hashes []byte `json:"hashes"`
		Seen   int64  `json:"seen"`
	}
	dec := json.NewDecoder(f)
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return decodeErr(fmt.Errorf("not a JSON array (%v)", err))
	}
	batch := make([]HashRecord, 0, 1000)
	flush := func() error {
		err := putHashes(tx, batch, nil, 0)
		batch = batch[:0]
		return err
	}
	for dec.More() {
		var r record
		if err := dec.Decode(&r); err != nil {
			if err := flush(); err != nil {
				return err
			}
			return decodeErr(err)
		}
		if r.Path == "" {
			continue
		}
		batch = append(batch, HashRecord{Path: r.Path, Size: r.Size, MTime: r.MTime, Ino: r.Ino, Seen: r.Seen, Hashes: r.Hashes})
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

func importKnown(tx *sql.Tx, f *os.File) error {
	var m map[string]string
	if err := json.NewDecoder(f).Decode(&m); err != nil {
		return decodeErr(err)
	}
	for id, fp := range m {
		if _, err := tx.Exec(`INSERT INTO peers(id, fingerprint) VALUES(?, ?) ON CONFLICT(id) DO NOTHING`, id, fp); err != nil {
			return err
		}
	}
	return nil
}

func importTransfers(tx *sql.Tx, f *os.File) error {
	var list []json.RawMessage
	if err := json.NewDecoder(f).Decode(&list); err != nil {
		return decodeErr(err)
	}
	for _, raw := range list {
		var t struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &t) != nil || t.ID == "" {
			continue
		}
		if _, err := tx.Exec(`INSERT INTO transfers(id, info) VALUES(?, ?) ON CONFLICT(id) DO UPDATE SET info = excluded.info`,
			t.ID, string(raw)); err != nil {
			return err
		}
	}
	return nil
}

func importSettings(tx *sql.Tx, f *os.File) error {
	var raw json.RawMessage
	if err := json.NewDecoder(f).Decode(&raw); err != nil {
		return decodeErr(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return decodeErr(err)
	}
	_, err := tx.Exec(`INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
		SettingsKey, string(raw))
	return err
}
