package peer

import (
	"errors"
	"fmt"

	"porch/share"
)

// ErrClientOnly is returned by the share methods of a ClientOnly engine,
// which has no library.
var ErrClientOnly = errors.New("this engine only browses and fetches: it shares nothing (run it without ClientOnly)")

// ShareInfo is one item this machine shares, with its indexing state.
type ShareInfo struct {
	share.ItemStatus
	Dir bool `json:"dir"` // the item is a folder
}

// Shares returns this machine's shared items (none for a ClientOnly
// engine).
func (e *Engine) Shares() []ShareInfo {
	if e.lib == nil {
		return nil
	}
	items := e.lib.Items()
	out := make([]ShareInfo, 0, len(items))
	for _, it := range items {
		top, _ := e.lib.Stat(it.Name)
		out = append(out, ShareInfo{ItemStatus: it, Dir: top.Dir})
	}
	return out
}

// AddShares shares local files or folders (likely secrets inside them are
// excluded) and returns the items added, indexed.
func (e *Engine) AddShares(paths ...string) ([]ShareInfo, error) {
	if e.lib == nil {
		return nil, fmt.Errorf("cannot share %d paths: %w", len(paths), ErrClientOnly)
	}
	added, err := e.lib.Add(paths...)
	if err != nil {
		return nil, err
	}
	return e.sharesOf(added), nil
}

// RemoveShare stops sharing an item, given by its local path or shared
// name.
func (e *Engine) RemoveShare(pathOrName string) error {
	if e.lib == nil {
		return fmt.Errorf("cannot stop sharing %s: %w", pathOrName, ErrClientOnly)
	}
	return e.lib.Remove(pathOrName)
}

// RescanShares looks through every shared item again now, for changes the
// operating system did not report (see share.Library.RescanNow).
func (e *Engine) RescanShares() error {
	if e.lib == nil {
		return fmt.Errorf("cannot rescan: %w", ErrClientOnly)
	}
	return e.lib.RescanNow()
}

// Totals returns how many files and bytes this machine shares.
func (e *Engine) Totals() (files int, bytes int64) {
	if e.lib == nil {
		return 0, 0
	}
	return e.lib.Totals()
}
