package share

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"porch/share/db"
)

// RescanRequest is the file in the data folder whose creation or change asks a
// running library to rescan every shared item at once ("porch share rescan"
// writes it; another process's request reaches the library through the same
// change notifications as a new file does).
const RescanRequest = "rescan-request"

// watcher tells a Library which shared items changed on disk, from the
// operating system's change notifications (inotify on Linux) through
// fsnotify. It watches every folder of every shared item, the folders that
// hold shared single files, and the data folder (for the catalog and for
// rescan requests). An item it cannot watch completely, because the watch
// limit is reached or its filesystem sends no notifications, is reported by
// unwatched, and the library polls it instead.
//
// One goroutine, loop, reads fsnotify's channels; mu guards everything else.
type watcher struct {
	fw   *fsnotify.Watcher
	data string // the data folder, watched for the catalog and rescan requests
	log  *slog.Logger

	mu      sync.Mutex
	dirs    map[string][]string // watched folder -> paths of the items it belongs to
	files   map[string][]string // shared single file -> its item paths (its folder is in dirs with no items)
	broken  map[string]string   // item path -> why it is not fully watched
	pending map[string]bool     // item paths changed since the last take
	catalog bool                // the catalog changed since the last take
	all     bool                // events were lost or a rescan was asked for: everything may have changed
	wake    chan struct{}       // 1-buffered: something is pending
	done    chan struct{}       // closed when loop returns
}

// newWatcher starts watching the data folder. It fails when the system gives
// no notifications at all (no inotify instance left, or an unsupported
// system); the library then polls.
func newWatcher(data string, log *slog.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("change notifications: %w", err)
	}
	w := &watcher{
		fw: fw, data: filepath.Clean(data), log: log,
		dirs: map[string][]string{}, files: map[string][]string{}, broken: map[string]string{}, pending: map[string]bool{},
		wake: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if err := fw.Add(w.data); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watching the data folder: %w", err)
	}
	go w.loop()
	return w, nil
}

// close stops watching and waits for loop to return.
func (w *watcher) close() {
	w.fw.Close()
	<-w.done
}

func (w *watcher) loop() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			w.event(ev)
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			// An overflow loses events: treat everything as changed.
			w.log.Debug("change notifications", "err", err)
			w.mu.Lock()
			w.all = true
			w.mu.Unlock()
			w.poke()
		}
	}
}

// event records which item (or the catalog) an event concerns.
func (w *watcher) event(ev fsnotify.Event) {
	if ev.Op == fsnotify.Chmod {
		return // permissions and times only; size and content changes come as Write
	}
	dir, name := filepath.Split(ev.Name)
	dir = filepath.Clean(dir)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case dir == w.data:
		switch name {
		case catalogFile:
			w.catalog = true
		case RescanRequest:
			w.all = true
		default:
			return
		}
	default:
		items := w.dirs[dir]
		if items == nil {
			items = w.dirs[filepath.Clean(ev.Name)] // the watched folder itself was removed or renamed
		}
		items = append(items, w.files[filepath.Clean(ev.Name)]...)
		if len(items) == 0 {
			return
		}
		for _, it := range items {
			w.pending[it] = true
		}
	}
	w.poke()
}

// poke wakes the library without blocking.
func (w *watcher) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns and clears what changed since the last take.
func (w *watcher) take() (items map[string]bool, catalog, all bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	items, catalog, all = w.pending, w.catalog, w.all
	w.pending, w.catalog, w.all = map[string]bool{}, false, false
	return items, catalog, all
}

// sync makes the watched folders those of dirs (folder -> item paths) and
// the folders holding files (shared single file -> item paths): new ones are
// added, gone ones removed. Events in a single file's folder count only for
// that file. It reports whether any folder was added, since a file created
// in a new folder before its watch began is seen only by the next scan, and
// whether the set of items that are not fully watched changed.
func (w *watcher) sync(dirs, files map[string][]string) (added, brokenChanged bool) {
	want := make(map[string][]string, len(dirs)+len(files))
	for d, items := range dirs {
		want[d] = items
	}
	for f, items := range files {
		d := filepath.Dir(f)
		if _, ok := want[d]; !ok {
			want[d] = nil
		}
		want[d] = append(want[d][:len(want[d]):len(want[d])], items...)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files = files
	for dir := range w.dirs {
		if _, ok := want[dir]; !ok {
			_ = w.fw.Remove(dir) // already gone with the folder, often
			delete(w.dirs, dir)
		}
	}
	broken := map[string]string{}
	for dir, items := range want {
		if _, ok := w.dirs[dir]; ok {
			w.dirs[dir] = dirs[dir]
			continue
		}
		why := noNotifications(dir)
		if why == "" {
			err := w.fw.Add(dir)
			switch {
			case err == nil:
				w.dirs[dir] = dirs[dir]
				added = true
				continue
			case errors.Is(err, syscall.ENOSPC):
				why = "the system's limit of watched folders is reached (fs.inotify.max_user_watches); raise it to watch this share"
			default:
				w.log.Debug("cannot watch folder", "dir", dir, "err", err)
				continue
			}
		}
		for _, it := range items {
			broken[it] = why
		}
	}
	for item, why := range broken {
		if w.broken[item] != why {
			w.log.Warn("share not watched for changes; rescanning it every while instead", "share", item, "reason", why)
			brokenChanged = true
		}
	}
	// An item that was broken and is now fully watched is no longer polled;
	// one that stays broken keeps its reason.
	for item := range w.broken {
		if _, still := broken[item]; !still {
			delete(w.broken, item)
			brokenChanged = true
		}
	}
	for item, why := range broken {
		w.broken[item] = why
	}
	return added, brokenChanged
}

// unwatched returns the items that are not fully watched, with the reason.
func (w *watcher) unwatched() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.broken))
	for k, v := range w.broken {
		out[k] = v
	}
	return out
}

// RequestRescan asks the library running on the data folder data, in this
// process or another, to rescan every shared item now.
func RequestRescan(data string) error {
	p := filepath.Join(data, RescanRequest)
	stamp := []byte(time.Now().UTC().Format(time.RFC3339Nano) + "\n")
	if err := os.WriteFile(p, stamp, 0o600); err != nil {
		return fmt.Errorf("asking for a rescan: %w", err)
	}
	return nil
}

// watchStatusKey is where the running library keeps, in the database, which
// items it cannot watch, so that another process ("porch share ls") can say
// so too.
const watchStatusKey = "watch-status"

// watchStatus is what the library running on a data folder tells about
// watching.
type watchStatus struct {
	PID       int               `json:"pid"`       // the process that runs the library
	Since     time.Time         `json:"since"`     // when this was written
	Unwatched map[string]string `json:"unwatched"` // item path -> why changes are found by rescans only
}

// saveWatchStatus records which items are not watched (none: nil) for other
// processes, unless the library is Transient; a failure is only logged,
// since watching goes on regardless.
func (l *Library) saveWatchStatus(unwatched map[string]string) {
	if l.opts.Transient {
		return
	}
	b, err := json.Marshal(watchStatus{PID: os.Getpid(), Since: time.Now().UTC(), Unwatched: unwatched})
	if err == nil {
		err = l.opts.DB.SetSetting(watchStatusKey, b)
	}
	if err != nil {
		l.log.Debug("cannot record what is watched", "err", err)
	}
}

// Unwatched returns the shared items that the Porch running on d's data
// folder, in this process or another, cannot watch for changes, with the
// reason; it returns none when no Porch runs there.
func Unwatched(d *db.DB) (map[string]string, error) {
	raw, ok, err := d.Setting(watchStatusKey)
	if err != nil || !ok {
		return nil, err
	}
	var st watchStatus
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("watch status: %w", err)
	}
	if !processAlive(st.PID) {
		return nil, nil // written by a Porch that was killed
	}
	return st.Unwatched, nil
}
