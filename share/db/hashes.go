package db

import (
	"database/sql"
	"errors"
	"os"
	"strings"
)

// HashRecord is the hash cache's record of one version of one file: the
// block hashes (share.Hashes.MarshalBinary) of the file at Path when it had
// Size, MTime (Unix nanoseconds) and Ino, last used at Seen (Unix seconds),
// and the verdict of the secret rules of version Rules (0: not checked):
// Secret is the rule that matched, "" for none.
type HashRecord struct {
	Path   string
	Size   int64
	MTime  int64
	Ino    uint64
	Seen   int64
	Hashes []byte
	Rules  int
	Secret string
}

// splitPath splits an absolute path into its folder and name, the key of
// the hashes table, so that a folder's records are read together.
func splitPath(p string) (dir, name string) {
	i := strings.LastIndexByte(p, os.PathSeparator)
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func joinPath(dir, name string) string {
	return dir + string(os.PathSeparator) + name
}

// Hash returns the record of the file at path, if any.
func (d *DB) Hash(path string) (HashRecord, bool, error) {
	dir, name := splitPath(path)
	r := HashRecord{Path: path}
	var ino int64
	err := d.sql.QueryRow(`SELECT size, mtime, ino, seen, hashes, rules, secret FROM hashes WHERE dir = ? AND name = ?`, dir, name).
		Scan(&r.Size, &r.MTime, &ino, &r.Seen, &r.Hashes, &r.Rules, &r.Secret)
	if errors.Is(err, sql.ErrNoRows) {
		return HashRecord{}, false, nil
	}
	if err != nil {
		return HashRecord{}, false, d.wrap("reading a hash", err)
	}
	r.Ino = uint64(ino)
	return r, true, nil
}

// HashFolder returns the records of the files directly in the folder dir
// (not those in its subfolders), in one query.
func (d *DB) HashFolder(dir string) ([]HashRecord, error) {
	rows, err := d.sql.Query(`SELECT name, size, mtime, ino, seen, hashes, rules, secret FROM hashes WHERE dir = ?`, dir)
	if err != nil {
		return nil, d.wrap("reading a folder's hashes", err)
	}
	defer rows.Close()
	var out []HashRecord
	for rows.Next() {
		var r HashRecord
		var ino int64
		if err := rows.Scan(&r.Path, &r.Size, &r.MTime, &ino, &r.Seen, &r.Hashes, &r.Rules, &r.Secret); err != nil {
			return nil, d.wrap("reading a folder's hashes", err)
		}
		r.Path, r.Ino = joinPath(dir, r.Path), uint64(ino)
		out = append(out, r)
	}
	return out, d.wrap("reading a folder's hashes", rows.Err())
}

// EachHash calls fn on every record, in no particular order, until fn
// returns an error, which EachHash returns.
func (d *DB) EachHash(fn func(HashRecord) error) error {
	rows, err := d.sql.Query(`SELECT dir, name, size, mtime, ino, seen, hashes, rules, secret FROM hashes`)
	if err != nil {
		return d.wrap("reading hashes", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r HashRecord
		var dir string
		var ino int64
		if err := rows.Scan(&dir, &r.Path, &r.Size, &r.MTime, &ino, &r.Seen, &r.Hashes, &r.Rules, &r.Secret); err != nil {
			return d.wrap("reading hashes", err)
		}
		r.Path, r.Ino = joinPath(dir, r.Path), uint64(ino)
		if err := fn(r); err != nil {
			return err
		}
	}
	return d.wrap("reading hashes", rows.Err())
}

// UpdateHashes stores recs (replacing earlier records of their paths) and
// sets the last use of the records of touched to seen, all in one
// transaction: either everything is stored or nothing is.
func (d *DB) UpdateHashes(recs []HashRecord, touched []string, seen int64) error {
	if len(recs) == 0 && len(touched) == 0 {
		return nil
	}
	return d.wrap("storing hashes", d.tx(func(tx *sql.Tx) error { return putHashes(tx, recs, touched, seen) }))
}

func putHashes(tx *sql.Tx, recs []HashRecord, touched []string, seen int64) error {
	if len(recs) > 0 {
		st, err := tx.Prepare(`INSERT INTO hashes(dir, name, size, mtime, ino, seen, hashes, rules, secret) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(dir, name) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, ino = excluded.ino,
			seen = excluded.seen, hashes = excluded.hashes, rules = excluded.rules, secret = excluded.secret`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range recs {
			dir, name := splitPath(r.Path)
			if _, err := st.Exec(dir, name, r.Size, r.MTime, int64(r.Ino), r.Seen, r.Hashes, r.Rules, r.Secret); err != nil {
				return err
			}
		}
	}
	if len(touched) > 0 {
		st, err := tx.Prepare(`UPDATE hashes SET seen = ? WHERE dir = ? AND name = ? AND seen < ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, p := range touched {
			dir, name := splitPath(p)
			if _, err := st.Exec(seen, dir, name, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// ExpireHashes deletes the records last used before the Unix time before
// and returns how many it deleted.
func (d *DB) ExpireHashes(before int64) (int64, error) {
	res, err := d.sql.Exec(`DELETE FROM hashes WHERE seen < ?`, before)
	if err != nil {
		return 0, d.wrap("expiring hashes", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
