package share

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// find validates p and returns the current snapshot and p's node; p ""
// gives ok false and no error. A path inside an item the view may not see
// fails just as a path that does not exist.
func (v *View) find(p string) (t *tree, n nodeRef, ok bool, err error) {
	if err := ValidatePath(p); err != nil {
		return nil, nodeRef{}, false, err
	}
	t = v.l.tree.Load()
	if p == "" {
		return t, nodeRef{}, false, nil
	}
	n, ok = t.lookup(p, v.sees)
	if !ok {
		return nil, nodeRef{}, false, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	return t, n, true, nil
}

// Stat returns the entry at p; p "" is the top of the tree (a folder holding
// every item the view sees, with empty Name and Path).
func (v *View) Stat(p string) (Entry, error) {
	t, n, ok, err := v.find(p)
	if err != nil {
		return Entry{}, err
	}
	if !ok {
		files, bytes := v.totals(t)
		return Entry{Dir: true, Size: bytes, Files: files}, nil
	}
	return n.entry(), nil
}

// List returns the children of the folder at p, folders first, then by name;
// p "" lists the shared items the view sees. For a file it returns the
// file's own entry.
func (v *View) List(p string) ([]Entry, error) {
	t, n, ok, err := v.find(p)
	if err != nil {
		return nil, err
	}
	if !ok {
		out := make([]Entry, 0, len(t.items))
		for i := range t.items {
			if v.sees(t, i) {
				out = append(out, t.items[i].ref().entry())
			}
		}
		return out, nil
	}
	if !n.isDir() {
		return []Entry{n.entry()}, nil
	}
	f := n.dir()
	out := make([]Entry, len(f.kids))
	for i := range f.kids {
		out[i] = f.entry(i)
	}
	return out, nil
}

// Walk calls fn for p and everything below it, pre-order, in List order. For p
// "" it visits every shared item the view sees and what is below (not the top
// itself). An error from fn stops the walk and is returned.
func (v *View) Walk(p string, fn func(Entry) error) error {
	return v.WalkFrom(p, 0, fn)
}

// WalkFrom is Walk without the first skip entries (of those the view sees),
// which it neither builds nor visits: a page of a long walk costs the page,
// not what comes before it.
func (v *View) WalkFrom(p string, skip int, fn func(Entry) error) error {
	t, n, ok, err := v.find(p)
	if err != nil {
		return err
	}
	skip = max(skip, 0)
	visit := func(r nodeRef) bool {
		err = fn(r.entry())
		return err == nil
	}
	if ok {
		n.walkFrom(&skip, visit)
		return err
	}
	for i := range t.items {
		if v.sees(t, i) && !t.items[i].ref().walkFrom(&skip, visit) {
			return err
		}
	}
	return nil
}

// searchBudget bounds the time one search spends walking the index; a
// variable so that tests can shorten it.
var searchBudget = time.Second

// Search returns up to max entries (files and folders, pre-order, in the
// items the view sees) that match query in the syntax of ParseQuery; a query
// that does not parse, or asks for nothing, finds nothing. max <= 0 means 500. A search stops after
// searchBudget (a second) with what it found by then. Only the entries found
// are built; the names are matched where the index holds them.
func (v *View) Search(query string, max int) []Entry {
	q, err := ParseQuery(query)
	if err != nil || q.Empty() {
		return nil
	}
	if max <= 0 {
		max = 500
	}
	var out []Entry
	t := v.l.tree.Load()
	start, visited := time.Now(), 0
	visit := func(r nodeRef) bool {
		// A search answers with what it found within searchBudget, so a
		// burst of searches cannot keep this peer walking for long.
		if visited++; visited%1024 == 0 && time.Since(start) > searchBudget {
			return false
		}
		var name string
		var size int64
		dir := r.isDir()
		switch {
		case r.i < 0:
			name, size = r.f.path, r.f.size
		case dir:
			name, size = r.f.name(r.i), r.f.subs[r.i].size
		default:
			name, size = r.f.name(r.i), r.f.kids[r.i].size
		}
		if q.Match(name, dir, size) {
			out = append(out, r.entry())
			return len(out) < max
		}
		return true
	}
	for i := range t.items {
		if v.sees(t, i) && !t.items[i].ref().walk(visit) {
			break
		}
	}
	return out
}

// Version identifies the state of the index as neighbours see it: it changes
// whenever a listing or search could answer differently (files added,
// changed, renamed or removed, a hashing pass done), and only then, so a
// neighbour can keep what it listed until the version moves.
func (l *Library) Version() uint64 { return l.version.Load() }

// Totals returns the number of shared files and their bytes that the view
// sees.
func (v *View) Totals() (files int, bytes int64) {
	return v.totals(v.l.tree.Load())
}

// HashProgress returns how many of the bytes the view sees have a content
// id, and how many it sees.
func (v *View) HashProgress() (hashedBytes, totalBytes int64) {
	t := v.l.tree.Load()
	if v.everyone {
		return hashedBytesOf(t.folders), t.bytes
	}
	for i := range t.items {
		if v.sees(t, i) {
			it := &t.items[i]
			hashedBytes += hashedBytesOf(t.folders[it.first:it.end])
			totalBytes += it.f.size
		}
	}
	return hashedBytes, totalBytes
}

// Items returns the status of every shared item, sorted by name.
func (l *Library) Items() []ItemStatus {
	t := l.tree.Load()
	var unwatched map[string]string
	if w := l.watch.Load(); w != nil {
		unwatched = w.unwatched()
	}
	out := make([]ItemStatus, len(t.status))
	for i, st := range t.status {
		st.Secrets = slices.Clone(st.Secrets)
		if ti := t.tops[i]; ti >= 0 {
			it := &t.items[ti]
			st.HashedBytes = hashedBytesOf(t.folders[it.first:it.end])
			if why, ok := unwatched[st.Path]; ok {
				st.Unwatched = why
			}
		}
		out[i] = st
	}
	return out
}

// Hashes returns the block hashes of content cid: ErrBadContentID if cid is
// malformed, ErrNotFound if no shared file the view sees has that content
// (or has not been hashed yet). The index keeps content ids only; the block hashes come from
// the hash cache, or from reading the file again when the cache no longer
// has them.
func (v *View) Hashes(cid string) (Hashes, error) {
	if !ValidContentID(cid) {
		return Hashes{}, ErrBadContentID
	}
	err := fmt.Errorf("%w: %s", ErrNotFound, cid)
	for _, n := range v.l.tree.Load().withCID(digestOf(cid), v.sees) {
		h, herr := v.l.hashesOf(n, cid)
		if herr == nil {
			return h, nil
		}
		if !errors.Is(herr, ErrChanged) {
			v.l.log.Debug("reading hashes", "path", n.f.childPath(n.i), "err", herr)
		}
	}
	return Hashes{}, err
}

// Has reports whether a shared file the view sees has content cid.
func (v *View) Has(cid string) bool {
	if !ValidContentID(cid) {
		return false
	}
	return v.l.tree.Load().hasCID(digestOf(cid), v.sees)
}
