package db

import (
	"database/sql"
	"encoding/json"
	"errors"
)

// KnownPeers is the peers table: the fingerprint each peer id presented
// first. It satisfies identity.KnownStore. Pin is atomic across processes.
type KnownPeers struct{ d *DB }

// KnownPeers returns the known peers' store.
func (d *DB) KnownPeers() KnownPeers { return KnownPeers{d} }

// Pin remembers fp for id unless a fingerprint is remembered already, and
// returns the one remembered now.
func (k KnownPeers) Pin(id, fp string) (string, error) {
	var pinned string
	err := k.d.tx(func(tx *sql.Tx) error {
		if _, err := tx.Exec(`INSERT INTO peers(id, fingerprint) VALUES(?, ?) ON CONFLICT(id) DO NOTHING`, id, fp); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT fingerprint FROM peers WHERE id = ?`, id).Scan(&pinned)
	})
	return pinned, k.d.wrap("pinning a peer", err)
}

// Lookup returns the fingerprint remembered for id, if any.
func (k KnownPeers) Lookup(id string) (string, bool, error) {
	var fp string
	err := k.d.sql.QueryRow(`SELECT fingerprint FROM peers WHERE id = ?`, id).Scan(&fp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, k.d.wrap("reading a peer", err)
	}
	return fp, true, nil
}

// Owner returns the id that fingerprint fp is remembered for, if any.
func (k KnownPeers) Owner(fp string) (string, bool, error) {
	var id string
	err := k.d.sql.QueryRow(`SELECT id FROM peers WHERE fingerprint = ? LIMIT 1`, fp).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, k.d.wrap("reading a peer", err)
	}
	return id, true, nil
}

// Forget removes what is remembered for id.
func (k KnownPeers) Forget(id string) error {
	_, err := k.d.sql.Exec(`DELETE FROM peers WHERE id = ?`, id)
	return k.d.wrap("forgetting a peer", err)
}

// Setting returns the JSON value saved under key, if any.
func (d *DB) Setting(key string) (json.RawMessage, bool, error) {
	var v string
	err := d.sql.QueryRow(`SELECT value FROM settings WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, d.wrap("reading settings", err)
	}
	return json.RawMessage(v), true, nil
}

// SetSetting saves the JSON value under key.
func (d *DB) SetSetting(key string, value json.RawMessage) error {
	_, err := d.sql.Exec(`INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
		key, string(value))
	return d.wrap("saving settings", err)
}

// Transfers returns the saved transfers (each a JSON object), in the order
// they were first saved.
func (d *DB) Transfers() ([]json.RawMessage, error) {
	rows, err := d.sql.Query(`SELECT info FROM transfers ORDER BY seq`)
	if err != nil {
		return nil, d.wrap("reading transfers", err)
	}
	defer rows.Close()
	var out []json.RawMessage
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, d.wrap("reading transfers", err)
		}
		out = append(out, json.RawMessage(s))
	}
	return out, d.wrap("reading transfers", rows.Err())
}

// PutTransfer saves the transfer id as the JSON object info, replacing what
// was saved for id and keeping its place in the order.
func (d *DB) PutTransfer(id string, info json.RawMessage) error {
	_, err := d.sql.Exec(`INSERT INTO transfers(id, info) VALUES(?, ?) ON CONFLICT(id) DO UPDATE SET info = excluded.info`,
		id, string(info))
	return d.wrap("saving a transfer", err)
}
