package db

import (
	"time"
)

// TrustedPeer is a neighbour the user paired with.
type TrustedPeer struct {
	ID          string    `json:"id"`
	Fingerprint string    `json:"fingerprint"` // the key it had when trusted
	Name        string    `json:"name"`        // its display name then
	Since       time.Time `json:"since"`
}

// Trust records that the user trusts peer id, called name, while it
// presents fingerprint fp, replacing any earlier trust in that id.
func (d *DB) Trust(id, fp, name string, now time.Time) error {
	_, err := d.sql.Exec(`INSERT INTO trusted(id, fingerprint, name, since) VALUES(?, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET fingerprint = excluded.fingerprint, name = excluded.name, since = excluded.since`,
		id, fp, name, now.Unix())
	return d.wrap("trusting a peer", err)
}

// Untrust ends the trust in id; it is not an error if there was none.
func (d *DB) Untrust(id string) error {
	_, err := d.sql.Exec(`DELETE FROM trusted WHERE id = ?`, id)
	return d.wrap("untrusting a peer", err)
}

// Trusted returns every trusted peer, oldest trust first.
func (d *DB) Trusted() ([]TrustedPeer, error) {
	rows, err := d.sql.Query(`SELECT id, fingerprint, name, since FROM trusted ORDER BY since, id`)
	if err != nil {
		return nil, d.wrap("reading trusted peers", err)
	}
	defer rows.Close()
	var out []TrustedPeer
	for rows.Next() {
		var p TrustedPeer
		var since int64
		if err := rows.Scan(&p.ID, &p.Fingerprint, &p.Name, &since); err != nil {
			return nil, d.wrap("reading trusted peers", err)
		}
		p.Since = time.Unix(since, 0).UTC()
		out = append(out, p)
	}
	return out, d.wrap("reading trusted peers", rows.Err())
}
