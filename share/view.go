package share

// View is the library as one neighbour may see it: items whose Visibility
// does not allow it are absent from every answer, as if they were not
// shared. A path inside one is ErrNotFound, with the same text as a path
// that never existed; a content id held only by such items is not held;
// totals leave them out. The Library's own methods are the view of this
// machine's user, who sees every item.
//
// A View reads whichever snapshot of the index is current at each call, so
// a visibility changed in the catalog applies from the rescan that follows.
// It is safe for concurrent use.
type View struct {
	l        *Library
	w        Viewer
	everyone bool // sees every item, whatever its visibility (this machine's user)
}

// For returns the view of the library that w may see.
func (l *Library) For(w Viewer) *View { return &View{l: l, w: w} }

// all returns the view of this machine's user.
func (l *Library) all() *View { return &View{l: l, everyone: true} }

// sees reports whether the view may see item i of t.
func (v *View) sees(t *tree, i int) bool {
	return v.everyone || t.status[t.items[i].status].To.Allows(v.w)
}

// totals returns the files and bytes of the items of t the view sees.
func (v *View) totals(t *tree) (files int, bytes int64) {
	if v.everyone {
		return t.files, t.bytes
	}
	for i := range t.items {
		if v.sees(t, i) {
			files += t.items[i].f.files
			bytes += t.items[i].f.size
		}
	}
	return files, bytes
}

// Version is Library.Version: it moves whenever any item, or who may see
// one, changes.
func (v *View) Version() uint64 { return v.l.Version() }

// Stat returns the entry at p (see View.Stat); the user sees every item.
func (l *Library) Stat(p string) (Entry, error) { return l.all().Stat(p) }

// List returns the children of the folder at p (see View.List).
func (l *Library) List(p string) ([]Entry, error) { return l.all().List(p) }

// Walk walks p and everything below it (see View.Walk).
func (l *Library) Walk(p string, fn func(Entry) error) error { return l.all().Walk(p, fn) }

// WalkFrom is Walk without the first skip entries (see View.WalkFrom).
func (l *Library) WalkFrom(p string, skip int, fn func(Entry) error) error {
	return l.all().WalkFrom(p, skip, fn)
}

// Search returns up to max entries that match query (see View.Search).
func (l *Library) Search(query string, max int) []Entry { return l.all().Search(query, max) }

// Totals returns the number of shared files and their bytes.
func (l *Library) Totals() (files int, bytes int64) { return l.all().Totals() }

// HashProgress returns how many of the shared bytes have a content id.
func (l *Library) HashProgress() (hashedBytes, totalBytes int64) { return l.all().HashProgress() }

// Hashes returns the block hashes of content cid (see View.Hashes).
func (l *Library) Hashes(cid string) (Hashes, error) { return l.all().Hashes(cid) }

// Has reports whether a shared file has content cid.
func (l *Library) Has(cid string) bool { return l.all().Has(cid) }

// Open opens the shared file at tree path p (see View.Open).
func (l *Library) Open(p string) (*File, error) { return l.all().Open(p) }

// OpenContent opens any shared file whose content id is cid (see
// View.OpenContent).
func (l *Library) OpenContent(cid string) (*File, error) { return l.all().OpenContent(cid) }

// ReadSmall is View.ReadSmall on every shared item.
func (l *Library) ReadSmall(cid string, limit int64, buf []byte) ([]byte, int64, error) {
	return l.all().ReadSmall(cid, limit, buf)
}

// AddVisible shares paths for the neighbours v allows (see
// Catalog.AddVisible) and rescans at once.
func (l *Library) AddVisible(v Visibility, paths ...string) ([]Item, error) {
	items, err := l.cat.AddVisible(v, paths...)
	if err != nil {
		return nil, err
	}
	return items, l.Rescan()
}

// SetVisibility changes who may see an item (see Catalog.SetVisibility)
// and rescans at once, so the change applies before it returns.
func (l *Library) SetVisibility(pathOrName string, v Visibility) (Item, error) {
	it, err := l.cat.SetVisibility(pathOrName, v)
	if err != nil {
		return Item{}, err
	}
	return it, l.Rescan()
}

// AudienceChanged moves the index version and calls OnChange, for a change
// of who may see what that the catalog does not hold (a neighbour trusted,
// or trusted no longer): neighbours then ask again instead of keeping what
// they listed.
func (l *Library) AudienceChanged() {
	l.version.Add(1)
	l.notify(true)
}
