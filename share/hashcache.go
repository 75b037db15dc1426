package share

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// hashCacheFile is the hash cache's file name inside the data folder.
const hashCacheFile = "hashcache.json"

// hashCacheMaxAge is how long an entry that no scan has used is kept.
const hashCacheMaxAge = 90 * 24 * time.Hour

// fileKey identifies one version of a file on this machine.
type fileKey struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"` // Unix nanoseconds
	Ino   uint64 `json:"ino,omitempty"`
}

// cacheEntry is one cached version's hashes.
type cacheEntry struct {
	key  fileKey
	hash *fileHash
	seen time.Time
}

// cacheRecord is the on-disk form of one entry.
type cacheRecord struct {
	Path string `json:"path"`
	fileKey
	Hashes []byte `json:"hashes"` // Hashes.MarshalBinary
	Seen   int64  `json:"seen"`   // Unix seconds
}

// hashCache maps absolute file paths to the hashes of the version last hashed
// there, persisted in DATA/hashcache.json so a restart or a re-share does not
// hash again. mu guards m and dirty; save writes outside mu from a snapshot.
type hashCache struct {
	file   string
	saveMu sync.Mutex // serialises writers of the file

	mu    sync.Mutex
	m     map[string]cacheEntry
	dirty bool
}

// loadHashCache reads the cache in dataDir; a missing or unreadable file is an
// empty cache (hashes can always be recomputed).
func loadHashCache(dataDir string) (*hashCache, error) {
	c := &hashCache{file: filepath.Join(dataDir, hashCacheFile)}
	m, err := readHashCache(c.file)
	if err != nil {
		return nil, err
	}
	c.m = m
	return c, nil
}

// readHashCache decodes the cache file; a missing or corrupt file is empty.
func readHashCache(file string) (map[string]cacheEntry, error) {
	m := map[string]cacheEntry{}
	raw, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("hash cache: %w", err)
	}
	var recs []cacheRecord
	if err := json.Unmarshal(raw, &recs); err != nil {
		return m, nil // corrupt: start over
	}
	for _, r := range recs {
		var h Hashes
		if h.UnmarshalBinary(r.Hashes) != nil || h.Size != r.Size {
			continue
		}
		m[r.Path] = cacheEntry{key: r.fileKey, hash: &fileHash{cid: h.ContentID(), h: h}, seen: time.Unix(r.Seen, 0)}
	}
	return m, nil
}

// get returns the cached hashes of the file at path if its key matches.
func (c *hashCache) get(path string, k fileKey) *fileHash {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[path]
	if !ok || e.key != k {
		return nil
	}
	e.seen = time.Now()
	c.m[path] = e
	return e.hash
}

// put records the hashes of the version k of the file at path.
func (c *hashCache) put(path string, k fileKey, fh *fileHash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[path] = cacheEntry{key: k, hash: fh, seen: time.Now()}
	c.dirty = true
}

// touch marks the entries of paths as in use, so save keeps them.
func (c *hashCache) touch(paths []string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range paths {
		if e, ok := c.m[p]; ok {
			e.seen = now
			c.m[p] = e
		}
	}
}

// isDirty reports whether entries were added since the last save.
func (c *hashCache) isDirty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirty
}

// save writes the cache atomically if it changed, dropping entries unused for
// hashCacheMaxAge. Entries another process (sharing the data folder) saved
// meanwhile are merged in rather than lost.
func (c *hashCache) save() error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	if !c.isDirty() {
		return nil
	}
	disk, _ := readHashCache(c.file)
	c.mu.Lock()
	for p, e := range disk {
		if cur, ok := c.m[p]; !ok || (cur.key != e.key && e.seen.After(cur.seen)) {
			c.m[p] = e
		}
	}
	cutoff := time.Now().Add(-hashCacheMaxAge)
	recs := make([]cacheRecord, 0, len(c.m))
	for p, e := range c.m {
		if e.seen.Before(cutoff) {
			delete(c.m, p)
			continue
		}
		b, _ := e.hash.h.MarshalBinary()
		recs = append(recs, cacheRecord{Path: p, fileKey: e.key, Hashes: b, Seen: e.seen.Unix()})
	}
	c.dirty = false
	c.mu.Unlock()
	raw, err := json.Marshal(recs)
	if err == nil {
		err = writeFileAtomic(c.file, raw)
	}
	if err != nil {
		c.mu.Lock()
		c.dirty = true
		c.mu.Unlock()
		return fmt.Errorf("hash cache: %w", err)
	}
	return nil
}
