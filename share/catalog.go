package share

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// catalogFile is the catalog's file name inside the data folder.
const catalogFile = "shares.json"

// Item is one file or folder the user shared.
type Item struct {
	Name  string     `json:"name"` // top-level name in the tree: base name, clashes "name (2)"
	Path  string     `json:"path"` // absolute, cleaned path on this machine
	Added time.Time  `json:"added"`
	To    Visibility `json:"to,omitzero"` // who may see it; absent (as in earlier versions): everyone
}

// equalItems reports whether a and b hold the same items, visibility included.
func equalItems(a, b []Item) bool {
	return slices.EqualFunc(a, b, func(x, y Item) bool {
		return x.Name == y.Name && x.Path == y.Path && x.Added.Equal(y.Added) && x.To.Equal(y.To)
	})
}

// catalogDoc is the on-disk form of the catalog.
type catalogDoc struct {
	Items []Item `json:"items"`
}

// Catalog is the persisted list of shared items, kept in DATA/shares.json and
// written atomically (temporary file, then rename). Another process (the CLI's
// "porch share add") may edit the same file; Reload picks that up, and Add and
// Remove re-read the file before changing it.
//
// Catalog is safe for concurrent use: mu guards items and raw.
type Catalog struct {
	file string

	mu    sync.Mutex
	items []Item // sorted by Name
	raw   []byte // the file's bytes as last read or written
}

// OpenCatalog opens the catalog in dataDir, creating dataDir if needed. A
// missing file is an empty catalog.
func OpenCatalog(dataDir string) (*Catalog, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c := &Catalog{file: filepath.Join(dataDir, catalogFile)}
	if _, err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Items returns the shared items sorted by Name.
func (c *Catalog) Items() []Item {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.items)
}

// Reload re-reads the file and reports whether its items changed.
func (c *Catalog) Reload() (changed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reloadLocked()
}

func (c *Catalog) reloadLocked() (bool, error) {
	raw, err := os.ReadFile(c.file)
	if errors.Is(err, fs.ErrNotExist) {
		raw, err = nil, nil
	}
	if err != nil {
		return false, fmt.Errorf("catalog: %w", err)
	}
	if c.raw != nil && bytes.Equal(raw, c.raw) {
		return false, nil
	}
	var doc catalogDoc
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return false, fmt.Errorf("catalog %s: %w", c.file, err)
		}
	}
	items := make([]Item, 0, len(doc.Items))
	for _, it := range doc.Items {
		if it.Path == "" || !filepath.IsAbs(it.Path) || ValidateName(it.Name) != nil {
			continue // a hand-edited entry Porch cannot serve
		}
		items = append(items, it)
	}
	sortItems(items)
	changed := !equalItems(items, c.items)
	c.items, c.raw = items, raw
	if c.raw == nil {
		c.raw = []byte{}
	}
	return changed, nil
}

func sortItems(items []Item) {
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
}

// Add shares paths. Each is made absolute and cleaned and must exist; a path
// already shared is a no-op that returns the existing item. A new item is named
// after its base name, with " (2)", " (3)"... when that name (folded for case)
// is taken. If any path fails, none is added.
func (c *Catalog) Add(paths ...string) ([]Item, error) {
	return c.add(nil, paths)
}

// AddVisible is Add for items that only the neighbours v allows may see:
// new items are written with v, and paths already shared get v too, in the
// same write, so no item is ever visible to more than v lets see it.
func (c *Catalog) AddVisible(v Visibility, paths ...string) ([]Item, error) {
	if err := v.valid(); err != nil {
		return nil, err
	}
	v = v.normalized()
	return c.add(&v, paths)
}

// add adds paths; a non-nil to is set on every item named, new or not.
func (c *Catalog) add(to *Visibility, paths []string) ([]Item, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.reloadLocked(); err != nil {
		return nil, err
	}
	items := slices.Clone(c.items)
	out := make([]Item, 0, len(paths))
	now := time.Now().UTC().Truncate(time.Second)
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("share %s: %w", p, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("share %s: %w", p, err)
		}
		if i := slices.IndexFunc(items, func(it Item) bool { return it.Path == abs }); i >= 0 {
			if to != nil {
				items[i].To = *to
			}
			out = append(out, items[i])
			continue
		}
		it := Item{Name: uniqueItemName(items, filepath.Base(abs)), Path: abs, Added: now}
		if to != nil {
			it.To = *to
		}
		items = append(items, it)
		out = append(out, it)
	}
	sortItems(items)
	if err := c.saveLocked(items); err != nil {
		return nil, err
	}
	return out, nil
}

// uniqueItemName returns base, or base with " (n)" appended, that no item in
// items uses (compared with FoldKey).
func uniqueItemName(items []Item, base string) string {
	if ValidateName(base) != nil {
		base = "share" // e.g. a file system root
	}
	taken := make(map[string]bool, len(items))
	for _, it := range items {
		taken[FoldKey(it.Name)] = true
	}
	name := base
	for n := 2; taken[FoldKey(name)]; n++ {
		name = fmt.Sprintf("%s (%d)", base, n)
	}
	return name
}

// Remove stops sharing the items given by path or by name. If any of them is
// not shared it returns an error wrapping ErrNotShared and removes none.
func (c *Catalog) Remove(pathsOrNames ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.reloadLocked(); err != nil {
		return err
	}
	drop := make(map[int]bool)
	for _, p := range pathsOrNames {
		abs, _ := filepath.Abs(p)
		i := slices.IndexFunc(c.items, func(it Item) bool { return it.Name == p || it.Path == abs })
		if i < 0 {
			return fmt.Errorf("%w: %s", ErrNotShared, p)
		}
		drop[i] = true
	}
	var items []Item
	for i, it := range c.items {
		if !drop[i] {
			items = append(items, it)
		}
	}
	return c.saveLocked(items)
}

// SetVisibility changes who may see the item given by path or by name and
// returns it; ErrNotShared if it is not shared.
func (c *Catalog) SetVisibility(pathOrName string, v Visibility) (Item, error) {
	if err := v.valid(); err != nil {
		return Item{}, err
	}
	v = v.normalized()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.reloadLocked(); err != nil {
		return Item{}, err
	}
	abs, _ := filepath.Abs(pathOrName)
	i := slices.IndexFunc(c.items, func(it Item) bool { return it.Name == pathOrName || it.Path == abs })
	if i < 0 {
		return Item{}, fmt.Errorf("%w: %s", ErrNotShared, pathOrName)
	}
	items := slices.Clone(c.items)
	items[i].To = v
	if err := c.saveLocked(items); err != nil {
		return Item{}, err
	}
	return items[i], nil
}

// saveLocked writes items atomically and makes them current.
func (c *Catalog) saveLocked(items []Item) error {
	if items == nil {
		items = []Item{}
	}
	raw, err := json.MarshalIndent(catalogDoc{Items: items}, "", "  ")
	if err != nil {
		return err
	}
	raw = append(raw, '\n')
	if err := writeFileAtomic(c.file, raw); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	c.items, c.raw = items, raw
	return nil
}

// writeFileAtomic writes data to name through a temporary file in the same
// folder and a rename, so readers see the old or the new content, never a mix.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
