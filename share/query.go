package share

import (
	"errors"
	"fmt"
	"slices"
)

// lookup returns the node at tree path p, or nil.
func (t *tree) lookup(p string) *node {
	parts := splitPath(p)
	if len(parts) == 0 {
		return nil
	}
	n := t.byName[parts[0]]
	for _, part := range parts[1:] {
		if n == nil {
			return nil
		}
		n = n.byName[part]
	}
	return n
}

// find validates p and returns its node; p "" gives nil and no error.
func (l *Library) find(p string) (*tree, *node, error) {
	if err := ValidatePath(p); err != nil {
		return nil, nil, err
	}
	t := l.tree.Load()
	if p == "" {
		return t, nil, nil
	}
	n := t.lookup(p)
	if n == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrNotFound, p)
	}
	return t, n, nil
}

// Stat returns the entry at p; p "" is the top of the tree (a folder holding
// every item, with empty Name and Path).
func (l *Library) Stat(p string) (Entry, error) {
	t, n, err := l.find(p)
	if err != nil {
		return Entry{}, err
	}
	if n == nil {
		return Entry{Dir: true, Size: t.bytes, Files: t.files}, nil
	}
	return n.entry(), nil
}

// List returns the children of the folder at p, folders first, then by name;
// p "" lists the shared items. For a file it returns the file's own entry.
func (l *Library) List(p string) ([]Entry, error) {
	t, n, err := l.find(p)
	if err != nil {
		return nil, err
	}
	kids := t.items
	if n != nil {
		if !n.dir {
			return []Entry{n.entry()}, nil
		}
		kids = n.children
	}
	out := make([]Entry, len(kids))
	for i, c := range kids {
		out[i] = c.entry()
	}
	return out, nil
}

// Walk calls fn for p and everything below it, pre-order, in List order. For p
// "" it visits every shared item and what is below (not the top itself). An
// error from fn stops the walk and is returned.
func (l *Library) Walk(p string, fn func(Entry) error) error {
	t, n, err := l.find(p)
	if err != nil {
		return err
	}
	var walk func(*node) error
	walk = func(n *node) error {
		if err := fn(n.entry()); err != nil {
			return err
		}
		for _, c := range n.children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	if n != nil {
		return walk(n)
	}
	for _, top := range t.items {
		if err := walk(top); err != nil {
			return err
		}
	}
	return nil
}

// Search returns up to max entries (files and folders, pre-order) that match
// query in the syntax of ParseQuery; a query that does not parse, or asks
// for nothing, finds nothing. max <= 0 means 500.
func (l *Library) Search(query string, max int) []Entry {
	q, err := ParseQuery(query)
	if err != nil || q.Empty() {
		return nil
	}
	if max <= 0 {
		max = 500
	}
	var out []Entry
	errFull := errors.New("full")
	t := l.tree.Load()
	var walk func(*node) error
	walk = func(n *node) error {
		if q.Match(n.name, n.dir, n.size) {
			out = append(out, n.entry())
			if len(out) >= max {
				return errFull
			}
		}
		for _, c := range n.children {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, top := range t.items {
		if walk(top) != nil {
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

// Totals returns the number of shared files and their bytes.
func (l *Library) Totals() (files int, bytes int64) {
	t := l.tree.Load()
	return t.files, t.bytes
}

// HashProgress returns how many of the shared bytes have a content id.
func (l *Library) HashProgress() (hashedBytes, totalBytes int64) {
	t := l.tree.Load()
	return t.hashed.Load(), t.bytes
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
		if top := t.tops[i]; top != nil {
			st.HashedBytes = top.hashed.Load()
			if why, ok := unwatched[st.Path]; ok {
				st.Unwatched = why
			}
		}
		out[i] = st
	}
	return out
}

// Hashes returns the block hashes of content cid: ErrBadContentID if cid is
// malformed, ErrNotFound if no shared file has that content (or has not been
// hashed yet).
func (l *Library) Hashes(cid string) (Hashes, error) {
	if !ValidContentID(cid) {
		return Hashes{}, ErrBadContentID
	}
	t := l.tree.Load()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range t.byCID[cid] {
		if fh := n.hash.Load(); fh != nil {
			return fh.h, nil
		}
	}
	return Hashes{}, fmt.Errorf("%w: %s", ErrNotFound, cid)
}

// Has reports whether a shared file has content cid.
func (l *Library) Has(cid string) bool {
	t := l.tree.Load()
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byCID[cid]) > 0
}

// hashPending hashes every file of the current index without a content id,
