// Package db is Porch's embedded database: one SQLite file, DATA/porch.db,
// holding the hash cache, the known peers' fingerprints, the managed
// transfers and the window's settings. Updates are small transactions, so a
// process killed at any moment loses at most what it had not committed yet
// and never leaves a damaged file; a restart reads what it needs instead of
// decoding whole JSON files.
//
// Why SQLite (modernc.org/sqlite, pure Go) rather than bbolt: several Porch
// processes use one data folder at once (`porch serve` or the window, and
// `porch peers`, `porch ls`, `porch get` beside them). bbolt holds an
// exclusive lock for as long as a writer has the file open, so the second
// process cannot even open it; SQLite in WAL mode lets readers and one
// writer at a time work across processes, a busy timeout queueing writers.
// On the hash cache's workload (scripts/dbbench, a million records) SQLite
// also needs half the disk (187 MB against 392 MB, and bbolt grew to 420 MB
// after 10,000 updates) and a fraction of the memory (18 MB peak RSS against
// 424 MB of mapped pages while reading); bbolt is faster per lookup (2.6 µs
// against 12 µs), which the hash cache makes up for by reading a folder's
// records at once (about 1 µs per record).
//
// Schema (version 3, in PRAGMA user_version; version 1 lacked trusted,
// version 2 the secret scan's verdicts):
//
//	hashes(dir, name, size, mtime, ino, seen, hashes, rules, secret)  PRIMARY KEY (dir, name)
//	                                                     rules: version of the secret rules that checked it (0: none)
//	                                                     secret: the rule that matched, "" for none
//	secrets(dir, name, cid, decision, since)             the user's choice for a file held as a likely secret
//	peers(id PRIMARY KEY, fingerprint)
//	transfers(seq INTEGER PRIMARY KEY, id UNIQUE, info)  info is TransferInfo as JSON
//	settings(key PRIMARY KEY, value)                     value is JSON
//	trusted(id PRIMARY KEY, fingerprint, name, since)    since is Unix seconds
//
// The database is created with mode 0600. On first creation the JSON files
// of earlier versions (hashcache.json, known_peers.json, transfers.json,
// settings.json) are imported in the same transaction that creates the
// schema, then renamed to NAME.migrated.
//
// A DB is safe for concurrent use by many goroutines, and any number of
// processes may open the same file at once. Every method fails after Close.
package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database's file name inside the data folder.
const FileName = "porch.db"

// schemaVersion is the PRAGMA user_version of the schema below.
const schemaVersion = 3

// upgrades[v] takes a database of schema version v to v+1.
var upgrades = map[int]string{
	1: trustedTable,
	2: secretsSchema,
}

// trustedTable holds the neighbours the user paired with: trust is given to
// an id with the key it had then, and ends if the key changes.
const trustedTable = `
CREATE TABLE trusted(
	id          TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	name        TEXT NOT NULL,
	since       INTEGER NOT NULL
) WITHOUT ROWID;
`

// secretsSchema adds the secret scan: each hash record keeps the verdict of
// the rules that read the file with it (records of earlier versions have
// none, so their files are read again), and secrets keeps what the user
// decided for a file held back, for the content it had then.
const secretsSchema = `
ALTER TABLE hashes ADD COLUMN rules INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hashes ADD COLUMN secret TEXT NOT NULL DEFAULT '';
CREATE INDEX hashes_secret ON hashes(secret) WHERE secret != '';
CREATE TABLE secrets(
	dir      TEXT NOT NULL,
	name     TEXT NOT NULL,
	cid      TEXT NOT NULL,
	decision TEXT NOT NULL,
	since    INTEGER NOT NULL,
	PRIMARY KEY (dir, name)
) WITHOUT ROWID;
`

// busyTimeout is how long a statement waits for another connection or
// process holding the write lock before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

const schema = `
CREATE TABLE hashes(
	dir    TEXT NOT NULL,
	name   TEXT NOT NULL,
	size   INTEGER NOT NULL,
	mtime  INTEGER NOT NULL,
	ino    INTEGER NOT NULL,
	seen   INTEGER NOT NULL,
	hashes BLOB NOT NULL,
	PRIMARY KEY (dir, name)
) WITHOUT ROWID;
CREATE TABLE peers(
	id          TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE transfers(
	seq  INTEGER PRIMARY KEY,
	id   TEXT NOT NULL UNIQUE,
	info TEXT NOT NULL
);
CREATE TABLE settings(
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
` + trustedTable + secretsSchema

// DB is an open porch.db. See the package comment for its concurrency
// contract.
type DB struct {
	sql  *sql.DB
	file string
}

// Open opens (creating and, the first time, migrating) DATA/porch.db in
// dataDir. Close it when done; nothing it starts outlives Close.
func Open(dataDir string) (*DB, error) {
	file := filepath.Join(dataDir, FileName)
	// Create the file first so that it, and the -wal and -shm files SQLite
	// gives the same mode, are private.
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	// In WAL mode NORMAL loses nothing when a process dies, only (at worst)
	// the last transactions when the machine loses power, and never
	// damages the file.
	q.Add("_pragma", "synchronous(NORMAL)")
	// Write transactions take the write lock when they begin, so that two
	// of them never deadlock upgrading a read lock.
	q.Set("_txlock", "immediate")
	s, err := sql.Open("sqlite", "file:"+(&url.URL{Path: file}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", file, err)
	}
	s.SetMaxOpenConns(4)
	s.SetConnMaxIdleTime(time.Minute)
	d := &DB{sql: s, file: file}
	if err := d.setUp(dataDir); err != nil {
		s.Close()
		return nil, fmt.Errorf("database %s: %w", file, err)
	}
	return d, nil
}

// setUp creates the schema and imports the JSON files of earlier versions
// in one transaction, unless another process already did.
func (d *DB) setUp(dataDir string) error {
	var version int
	if err := d.sql.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version == schemaVersion {
		return nil
	}
	if version > schemaVersion {
		return fmt.Errorf("made by a newer Porch (schema %d; this one knows %d)", version, schemaVersion)
	}
	var migrated []string
	err := d.tx(func(tx *sql.Tx) error {
		// Another process may have set it up while this one waited.
		if err := tx.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
			return err
		}
		if version >= schemaVersion {
			return nil
		}
		if version > 0 {
			for v := version; v < schemaVersion; v++ {
				if _, err := tx.Exec(upgrades[v]); err != nil {
					return fmt.Errorf("upgrading the schema from version %d: %w", v, err)
				}
			}
		} else {
			if _, err := tx.Exec(schema); err != nil {
				return fmt.Errorf("creating the schema: %w", err)
			}
			var err error
			if migrated, err = migrate(tx, dataDir); err != nil {
				return err
			}
		}
		_, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion))
		return err
	})
	if err != nil {
		return err
	}
	for _, f := range migrated {
		// The database records that the import happened; a file left
		// behind by a failed rename is never imported again.
		_ = os.Rename(f, f+".migrated")
	}
	return nil
}

// tx runs fn in a write transaction and commits it if fn returns nil.
func (d *DB) tx(fn func(*sql.Tx) error) error {
	tx, err := d.sql.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Close closes the database. Call it once nothing uses the DB any more.
func (d *DB) Close() error {
	if err := d.sql.Close(); err != nil {
		return fmt.Errorf("database %s: %w", d.file, err)
	}
	return nil
}

// Path returns the database file's path.
func (d *DB) Path() string { return d.file }

// Check runs SQLite's integrity check and returns an error describing any
// damage it finds.
func (d *DB) Check() error {
	rows, err := d.sql.Query(`PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("database %s: integrity check: %w", d.file, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("database %s: integrity check: %w", d.file, err)
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("database %s: integrity check: %w", d.file, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("database %s is damaged: %s", d.file, strings.Join(problems, "; "))
	}
	return nil
}

// wrap adds the database's name to err.
func (d *DB) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("database %s: %s: %w", d.file, what, err)
}
