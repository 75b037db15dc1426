package db

import (
	"database/sql"
	"time"
)

// SecretHashes returns the hash records whose file the secret rules found
// to hold a likely secret (Secret not ""), through a partial index: cheap
// however large the hash cache is.
func (d *DB) SecretHashes() ([]HashRecord, error) {
	rows, err := d.sql.Query(`SELECT dir, name, size, mtime, ino, seen, hashes, rules, secret FROM hashes WHERE secret != ''`)
	if err != nil {
		return nil, d.wrap("reading likely secrets", err)
	}
	defer rows.Close()
	var out []HashRecord
	for rows.Next() {
		var r HashRecord
		var dir string
		var ino int64
		if err := rows.Scan(&dir, &r.Path, &r.Size, &r.MTime, &ino, &r.Seen, &r.Hashes, &r.Rules, &r.Secret); err != nil {
			return nil, d.wrap("reading likely secrets", err)
		}
		r.Path, r.Ino = joinPath(dir, r.Path), uint64(ino)
		out = append(out, r)
	}
	return out, d.wrap("reading likely secrets", rows.Err())
}

// SecretDecision is what the user chose for the file at a path while it had
// content id CID: Decision is "release" (share it after all) or "keep" (keep
// it private, and stop asking).
type SecretDecision struct {
	CID      string
	Decision string
	Since    int64 // Unix seconds
}

// Decisions a SecretDecision holds.
const (
	Release = "release"
	Keep    = "keep"
)

// SecretDecisions returns every decision, by absolute path.
func (d *DB) SecretDecisions() (map[string]SecretDecision, error) {
	rows, err := d.sql.Query(`SELECT dir, name, cid, decision, since FROM secrets`)
	if err != nil {
		return nil, d.wrap("reading decisions on secrets", err)
	}
	defer rows.Close()
	out := map[string]SecretDecision{}
	for rows.Next() {
		var dir, name string
		var s SecretDecision
		if err := rows.Scan(&dir, &name, &s.CID, &s.Decision, &s.Since); err != nil {
			return nil, d.wrap("reading decisions on secrets", err)
		}
		out[joinPath(dir, name)] = s
	}
	return out, d.wrap("reading decisions on secrets", rows.Err())
}

// DecideSecret records decision (Release or Keep) for the file at the
// absolute path p with content id cid, replacing an earlier one.
func (d *DB) DecideSecret(p, cid, decision string) error {
	dir, name := splitPath(p)
	return d.wrap("saving a decision on a secret", d.tx(func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO secrets(dir, name, cid, decision, since) VALUES(?, ?, ?, ?, ?)
			ON CONFLICT(dir, name) DO UPDATE SET cid = excluded.cid, decision = excluded.decision, since = excluded.since`,
			dir, name, cid, decision, time.Now().Unix())
		return err
	}))
}
