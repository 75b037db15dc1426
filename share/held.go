package share

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"porch/share/db"
)

// Files held back. When hashing finds that a file likely holds a secret
// (see secretScanner), the file is held back: the next scan leaves it out
// of the index, so it is absent from every listing, search, content id
// lookup and count, exactly as if it were not there, until the user
// releases it. Its verdict is stored with its hashes, so a restart or a
// rescan that finds the file unchanged holds it back again without reading
// it; a file whose content changed is read and checked again, and a
// decision covers the content it was made for only. A file waiting for its
// first hashing is listed (name and size) but none of its bytes is served
// (Open answers ErrNotHashed), so nothing leaves before the check.

// SecretFile is one shared file found to hold a likely secret.
type SecretFile struct {
	Path   string `json:"path"`   // the path neighbours would see (the item's name first)
	Local  string `json:"local"`  // the file on this machine
	Rule   string `json:"rule"`   // the rule that matched (see the secret rules)
	CID    string `json:"cid"`    // its content id when it was checked
	Status string `json:"status"` // SecretHeld, SecretKept or SecretReleased
}

// The statuses of a SecretFile.
const (
	SecretHeld     = "held"     // held back until the user decides
	SecretKept     = "kept"     // kept private by the user: not shared, not asked again
	SecretReleased = "released" // shared after all by the user
)

// suspect is a file the secret rules flagged, as of one version of it.
type suspect struct {
	key  fileKey
	cid  string
	rule string
}

// heldState is what the library knows of likely secrets: the flagged files
// (from the hash cache), the folders holding them, and the user's
// decisions (re-read at every scan, since `porch share secrets` writes them
// from another process). mu guards the maps.
type heldState struct {
	mu        sync.Mutex
	suspects  map[string]suspect // by absolute path
	dirs      map[string]int     // absolute folder -> suspects in it
	decisions map[string]db.SecretDecision
	found     atomic.Bool // hashing held a file back since the last scan
}

// loadSuspects reads the flagged files from the hash cache.
func (l *Library) loadSuspects() error {
	recs, err := l.opts.DB.SecretHashes()
	if err != nil {
		return err
	}
	h := &l.held
	h.mu.Lock()
	defer h.mu.Unlock()
	h.suspects, h.dirs = map[string]suspect{}, map[string]int{}
	for _, r := range recs {
		var hs Hashes
		if r.Rules != secretRulesVersion || hs.UnmarshalBinary(r.Hashes) != nil {
			continue
		}
		h.addLocked(r.Path, suspect{key: fileKey{Size: r.Size, MTime: r.MTime, Ino: r.Ino}, cid: hs.ContentID(), rule: r.Secret})
	}
	return nil
}

// reloadDecisions re-reads the user's decisions; on failure the ones known
// stay.
func (l *Library) reloadDecisions() {
	dec, err := l.opts.DB.SecretDecisions()
	if err != nil {
		l.log.Warn("reading decisions on likely secrets", "err", err)
		return
	}
	l.held.mu.Lock()
	l.held.decisions = dec
	l.held.mu.Unlock()
}

func (h *heldState) addLocked(abs string, s suspect) {
	if _, ok := h.suspects[abs]; !ok {
		h.dirs[filepath.Dir(abs)]++
	}
	h.suspects[abs] = s
}

// noteVerdict records what hashing found in the file at abs.
func (l *Library) noteVerdict(abs string, key fileKey, fh *fileHash) {
	h := &l.held
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.suspects == nil {
		h.suspects, h.dirs = map[string]suspect{}, map[string]int{}
	}
	if fh.secret != "" {
		h.addLocked(abs, suspect{key: key, cid: fh.cid, rule: fh.secret})
		return
	}
	if _, ok := h.suspects[abs]; ok {
		delete(h.suspects, abs)
		if d := filepath.Dir(abs); h.dirs[d] <= 1 {
			delete(h.dirs, d)
		} else {
			h.dirs[d]--
		}
	}
}

// holdBack reports whether the file at abs, of version key with hashes fh,
// is held back: the rules flagged it and the user did not release that
// content. It records the verdict, so the next scan leaves the file out.
func (l *Library) holdBack(abs string, key fileKey, fh *fileHash) bool {
	if l.opts.IncludeSecrets || fh.secret == "" {
		return false
	}
	l.noteVerdict(abs, key, fh)
	l.held.mu.Lock()
	d, ok := l.held.decisions[abs]
	l.held.mu.Unlock()
	if ok && d.CID == fh.cid && d.Decision == db.Release {
		return false
	}
	l.held.found.Store(true)
	return true
}

// heldDir reports whether the folder at abs holds a flagged file.
func (l *Library) heldDir(abs string) bool {
	if l.opts.IncludeSecrets {
		return false
	}
	l.held.mu.Lock()
	defer l.held.mu.Unlock()
	return l.held.dirs[abs] > 0
}

// isHeld reports whether the file at abs, as of version key, is held back
// (flagged as that version, and that content not released).
func (l *Library) isHeld(abs string, key fileKey) bool {
	if l.opts.IncludeSecrets {
		return false
	}
	h := &l.held
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.suspects[abs]
	if !ok || s.key != key {
		return false
	}
	d, ok := h.decisions[abs]
	return !ok || d.CID != s.cid || d.Decision != db.Release
}

// Secrets lists the shared files found to hold likely secrets (see
// ListSecrets).
// It reads the database only (hashing writes a verdict there at once).
func (l *Library) Secrets() ([]SecretFile, error) {
	return ListSecrets(l.opts.DB, l.cat.Items())
}

// DecideSecret releases (shares after all) or keeps private the file at p
// (its shared path or its local path; see DecideSecret) and rescans, so a
// released file is served at once.
func (l *Library) DecideSecret(p string, release bool) (SecretFile, error) {
	f, err := DecideSecret(l.opts.DB, l.cat.Items(), p, release)
	if err != nil {
		return f, err
	}
	return f, l.Rescan()
}

// ListSecrets lists the files of the shared items that the secret rules
// flagged in the hash cache of d, sorted by path, with what the user
// decided for each. A file that changed since it was checked is not listed
// (a running Porch reads and checks it again), nor is one outside every item.
// It reads the database only, so it answers from any process at once.
func ListSecrets(d *db.DB, items []Item) ([]SecretFile, error) {
	recs, err := d.SecretHashes()
	if err != nil {
		return nil, err
	}
	dec, err := d.SecretDecisions()
	if err != nil {
		return nil, err
	}
	out := []SecretFile{}
	for _, r := range recs {
		var hs Hashes
		if r.Rules != secretRulesVersion || hs.UnmarshalBinary(r.Hashes) != nil {
			continue
		}
		p, ok := sharedPath(items, r.Path)
		if !ok {
			continue
		}
		fi, err := os.Lstat(r.Path)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != r.Size || fi.ModTime().UnixNano() != r.MTime || inodeOf(fi) != r.Ino {
			continue
		}
		f := SecretFile{Path: p, Local: r.Path, Rule: r.Secret, CID: hs.ContentID(), Status: SecretHeld}
		if dd, ok := dec[r.Path]; ok && dd.CID == f.CID {
			switch dd.Decision {
			case db.Release:
				f.Status = SecretReleased
			case db.Keep:
				f.Status = SecretKept
			}
		}
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b SecretFile) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// sharedPath returns the tree path under which items share the file at the
// absolute path abs.
func sharedPath(items []Item, abs string) (string, bool) {
	for _, it := range items {
		if abs == it.Path {
			return it.Name, true // a shared file
		}
		if rel, err := filepath.Rel(it.Path, abs); err == nil && filepath.IsLocal(rel) {
			if inSecret(rel) {
				return "", false
			}
			return it.Name + "/" + filepath.ToSlash(rel), true
		}
		if real, err := filepath.EvalSymlinks(it.Path); err == nil && real == abs {
			return it.Name, true // a shared link to a file
		}
	}
	return "", false
}

// ErrNotSecret is returned by DecideSecret for a path that is not a file
// held back as a likely secret.
var ErrNotSecret = fmt.Errorf("%w: not a shared file found to hold a likely secret (see porch share secrets)", ErrNotFound)

// DecideSecret records in d that the file at p, one that ListSecrets lists,
// is released (shared after all) or kept private, for the content it has
// now; p is its shared path ("item/dir/file") or its local path. A running
// library applies it at its next scan (RequestRescan asks for one).
func DecideSecret(d *db.DB, items []Item, p string, release bool) (SecretFile, error) {
	list, err := ListSecrets(d, items)
	if err != nil {
		return SecretFile{}, err
	}
	abs, _ := filepath.Abs(p)
	for _, f := range list {
		if f.Path != p && f.Local != abs {
			continue
		}
		decision, status := db.Keep, SecretKept
		if release {
			decision, status = db.Release, SecretReleased
		}
		if err := d.DecideSecret(f.Local, f.CID, decision); err != nil {
			return f, err
		}
		f.Status = status
		return f, nil
	}
	return SecretFile{}, fmt.Errorf("%w: %s", ErrNotSecret, p)
}
