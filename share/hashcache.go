package share

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"porch/share/db"
)

const (
	// hashCacheMaxAge is how long an entry that no scan has used is kept.
	hashCacheMaxAge = 90 * 24 * time.Hour
	// touchEvery is how stale an entry's last use may get before a lookup
	// records the use again: refreshing it on every lookup would turn each
	// restart into a million writes.
	touchEvery = 24 * time.Hour
	// flushEvery is how many new entries are buffered before they are
	// written in one transaction (Run also writes them every saveEvery).
	flushEvery = 1000
	// cachedFolders is how many folders' entries lookups keep at hand.
	cachedFolders = 8
)

// fileKey identifies one version of a file on this machine.
type fileKey struct {
	Size  int64
	MTime int64 // Unix nanoseconds
	Ino   uint64
}

// hashCache maps absolute file paths to the hashes of the version last
// hashed there, kept in the hashes table of DATA/porch.db so that a restart
// or a re-share does not hash again. New entries are buffered and written
// in transactions of up to flushEvery (save writes the rest); lookups read a
// whole folder's entries at once and keep the last cachedFolders folders.
//
// It is safe for concurrent use: mu guards the buffers and the folder
// cache; saveMu serialises writes so that they land in order. Another
// process writing the same database is seen when a folder is read again.
type hashCache struct {
	db     *db.DB
	saveMu sync.Mutex

	mu         sync.Mutex
	pending    map[string]db.HashRecord // written by the next save
	touched    map[string]struct{}      // entries whose use the next save records
	folders    map[string]map[string]db.HashRecord
	order      []string // folders, oldest first
	lastExpire time.Time
}

func newHashCache(d *db.DB) *hashCache {
	return &hashCache{db: d, pending: map[string]db.HashRecord{}, touched: map[string]struct{}{},
		folders: map[string]map[string]db.HashRecord{}}
}

// get returns the cached hashes of the file at path if its key matches. A
// database that cannot be read is a miss: hashes can always be recomputed.
func (c *hashCache) get(path string, k fileKey) *fileHash {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.pending[path]
	if !ok {
		r, ok = c.folderLocked(filepath.Dir(path))[path]
	}
	if !ok || r.Size != k.Size || r.MTime != k.MTime || r.Ino != k.Ino || r.Rules != secretRulesVersion {
		return nil // another version, or not checked for secrets by these rules
	}
	var h Hashes
	if h.UnmarshalBinary(r.Hashes) != nil || h.Size != r.Size {
		return nil
	}
	if time.Since(time.Unix(r.Seen, 0)) > touchEvery {
		c.touched[path] = struct{}{}
	}
	return &fileHash{cid: h.ContentID(), h: h, secret: r.Secret}
}

// folderLocked returns the entries of the files in dir, reading them when
// they are not at hand; c.mu must be held.
func (c *hashCache) folderLocked(dir string) map[string]db.HashRecord {
	if m, ok := c.folders[dir]; ok {
		return m
	}
	recs, err := c.db.HashFolder(dir)
	if err != nil {
		return nil
	}
	m := make(map[string]db.HashRecord, len(recs))
	for _, r := range recs {
		m[r.Path] = r
	}
	if len(c.order) == cachedFolders {
		delete(c.folders, c.order[0])
		c.order = append(c.order[:0], c.order[1:]...)
	}
	c.folders[dir] = m
	c.order = append(c.order, dir)
	return m
}

// put records the hashes of the version k of the file at path, writing the
// buffered entries when there are flushEvery of them.
func (c *hashCache) put(path string, k fileKey, fh *fileHash) error {
	b, _ := fh.h.MarshalBinary()
	r := db.HashRecord{Path: path, Size: k.Size, MTime: k.MTime, Ino: k.Ino, Seen: time.Now().Unix(), Hashes: b,
		Rules: secretRulesVersion, Secret: fh.secret}
	c.mu.Lock()
	c.pending[path] = r
	if m, ok := c.folders[filepath.Dir(path)]; ok {
		m[path] = r
	}
	full := len(c.pending) >= flushEvery
	c.mu.Unlock()
	if full {
		return c.save()
	}
	return nil
}

// touch records that the entries of paths are in use, so that they do not
// age out.
func (c *hashCache) touch(paths []string) error {
	const chunk = 10000
	now := time.Now().Unix()
	for len(paths) > 0 {
		n := min(chunk, len(paths))
		if err := c.db.UpdateHashes(nil, paths[:n], now); err != nil {
			return fmt.Errorf("hash cache: %w", err)
		}
		paths = paths[n:]
	}
	return nil
}

// isDirty reports whether entries wait to be written.
func (c *hashCache) isDirty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) > 0 || len(c.touched) > 0
}

// save writes the buffered entries in one transaction and, once a day,
// deletes the entries unused for hashCacheMaxAge. Entries that could not be
// written stay buffered for the next save.
func (c *hashCache) save() error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	c.mu.Lock()
	pending, touched := c.pending, c.touched
	c.pending, c.touched = map[string]db.HashRecord{}, map[string]struct{}{}
	expire := time.Since(c.lastExpire) >= touchEvery
	c.mu.Unlock()
	recs := make([]db.HashRecord, 0, len(pending))
	for _, r := range pending {
		recs = append(recs, r)
	}
	paths := make([]string, 0, len(touched))
	for p := range touched {
		paths = append(paths, p)
	}
	err := c.db.UpdateHashes(recs, paths, time.Now().Unix())
	if err != nil {
		c.mu.Lock()
		for p, r := range pending {
			if _, newer := c.pending[p]; !newer {
				c.pending[p] = r
			}
		}
		for p := range touched {
			c.touched[p] = struct{}{}
		}
		c.mu.Unlock()
		return fmt.Errorf("hash cache: %w", err)
	}
	if expire {
		if _, err := c.db.ExpireHashes(time.Now().Add(-hashCacheMaxAge).Unix()); err != nil {
			return fmt.Errorf("hash cache: %w", err)
		}
		c.mu.Lock()
		c.lastExpire = time.Now()
		c.mu.Unlock()
	}
	return nil
}

// errNoDataDir is returned by OpenLibrary without LibraryOptions.DataDir.
var errNoDataDir = errors.New("library: no data folder")

// openDB opens the database of dataDir for a library that was given none.
func openDB(dataDir string) (*db.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("library: %w", err)
	}
	d, err := db.Open(dataDir)
	if err != nil {
		return nil, fmt.Errorf("library: %w", err)
	}
	return d, nil
}
