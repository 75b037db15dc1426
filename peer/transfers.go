package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"porch/share"
)

// TransferState is where a transfer is in its life.
type TransferState string

// Transfer states.
const (
	TransferQueued   TransferState = "queued"
	TransferRunning  TransferState = "running"
	TransferPaused   TransferState = "paused"
	TransferDone     TransferState = "done"
	TransferFailed   TransferState = "failed"
	TransferCanceled TransferState = "canceled"
)

// ErrNoTransfer is returned for an unknown transfer id.
var ErrNoTransfer = errors.New("no such transfer")

// TransferInfo is one download the engine manages for the window.
type TransferInfo struct {
	ID        string        `json:"id"`
	PeerID    string        `json:"peer_id"`
	PeerName  string        `json:"peer_name"`
	Path      string        `json:"path"` // on the neighbour
	Dir       string        `json:"dir"`  // local download folder
	Name      string        `json:"name"`
	Folder    bool          `json:"folder,omitempty"` // known once the download has started
	FinalPath string        `json:"final_path,omitempty"`
	State     TransferState `json:"state"`
	Err       string        `json:"err,omitempty"`
	Done      int64         `json:"done"`
	Total     int64         `json:"total"`
	Rate      float64       `json:"-"`
	Sources   int           `json:"-"`
	Started   time.Time     `json:"started"`
}

// transfers runs the engine's managed downloads: pausable, resumable and
// persisted, one row each, in the transfers table of DATA/porch.db, so that
// unfinished ones come back (paused) after a restart. Each running transfer
// is a goroutine started with Engine.spawn, so it ends with the engine. mu
// guards list, closed and every transfer's fields; saveMu serialises saves
// so that the last state of a transfer is the one saved.
type transfers struct {
	e      *Engine
	saveMu sync.Mutex

	mu     sync.Mutex
	list   []*transfer
	closed bool // the engine is stopping: nothing starts any more
}

type transfer struct {
	info   TransferInfo
	cancel context.CancelFunc // non-nil while running
	done   chan struct{}      // closed when the running goroutine ends
}

// loadTransfers reads the saved list; unfinished transfers come back paused.
func loadTransfers(e *Engine) *transfers {
	t := &transfers{e: e}
	saved, err := e.db.Transfers()
	if err != nil {
		e.log.Warn("ignoring the saved transfers", "err", err)
	}
	for _, raw := range saved {
		var ti TransferInfo
		if err := json.Unmarshal(raw, &ti); err != nil {
			e.log.Warn("ignoring an unreadable saved transfer", "err", err)
			continue
		}
		if ti.State == TransferRunning || ti.State == TransferQueued {
			ti.State = TransferPaused
		}
		t.list = append(t.list, &transfer{info: ti})
	}
	return t
}

// Download starts fetching a neighbour's file or folder into dir ("" means
// the download folder of the Settings) as a managed transfer, reported by
// TransferUpdated events.
func (e *Engine) Download(peerID, p, dir string) (TransferInfo, error) {
	_, info, err := e.peers.client(peerID)
	if err != nil {
		return TransferInfo{}, err
	}
	if dir == "" {
		dir = e.Settings().DownloadDir
	}
	ti := TransferInfo{
		ID: uuid.NewString(), PeerID: peerID, PeerName: info.Name, Path: p, Dir: dir,
		Name: path.Base(p), State: TransferQueued, Started: time.Now(),
	}
	tr := &transfer{info: ti}
	t := e.xfers
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return TransferInfo{}, fmt.Errorf("cannot start %s: %w", ti.Name, ErrClosed)
	}
	t.list = append(t.list, tr)
	t.mu.Unlock()
	t.run(tr)
	return ti, nil
}

// Transfers returns every managed transfer, oldest first.
func (e *Engine) Transfers() []TransferInfo {
	t := e.xfers
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TransferInfo, 0, len(t.list))
	for _, tr := range t.list {
		out = append(out, tr.info)
	}
	return out
}

// PauseTransfer stops a transfer, keeping what it verified for
// ResumeTransfer; it returns once the transfer's files are closed.
func (e *Engine) PauseTransfer(id string) error {
	_, err := e.xfers.stop(id, TransferPaused)
	return err
}

// ResumeTransfer continues a paused or failed transfer where it stopped.
func (e *Engine) ResumeTransfer(id string) error {
	t := e.xfers
	t.mu.Lock()
	tr, err := t.find(id)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	t.run(tr)
	return nil
}

// CancelTransfer stops a transfer and deletes its unfinished files; finished
// files stay.
func (e *Engine) CancelTransfer(id string) error {
	info, err := e.xfers.stop(id, TransferCanceled)
	if err != nil || info.State == TransferDone {
		return err
	}
	return discardPartials(info.Dir, path.Base(info.Path))
}

// run starts tr's goroutine, unless it runs already or the engine stops.
// A non-nil tr.cancel marks a transfer whose goroutine has not ended; until
// the goroutine installs its own, it is a no-op, and a transfer stopped
// before its goroutine began (its state is no longer running) ends at once.
func (t *transfers) run(tr *transfer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || tr.cancel != nil {
		return
	}
	done := make(chan struct{})
	started := t.e.spawn(func(life context.Context) {
		defer close(done)
		ctx, cancel := context.WithCancel(life)
		defer cancel()
		t.mu.Lock()
		if tr.info.State != TransferRunning {
			tr.cancel = nil
			t.mu.Unlock()
			return
		}
		tr.cancel = cancel
		info := tr.info
		t.mu.Unlock()
		t.changed(tr, info)
		res, err := t.e.Get(ctx, info.PeerID, info.Path, info.Dir, func(p GetProgress) {
			t.mu.Lock()
			tr.info.Done, tr.info.Total, tr.info.Rate, tr.info.Sources = p.Done, p.Total, p.Rate, p.Sources
			tr.info.Folder = p.Folder
			info := tr.info
			t.mu.Unlock()
			t.e.emit(Event{Kind: TransferUpdated, Transfer: info})
		})
		t.mu.Lock()
		tr.cancel = nil
		switch {
		case tr.info.State == TransferCanceled || tr.info.State == TransferPaused:
		case life.Err() != nil:
			tr.info.State = TransferPaused
		case err != nil:
			tr.info.State, tr.info.Err = TransferFailed, err.Error()
		default:
			tr.info.State = TransferDone
			tr.info.FinalPath = filepath.Join(info.Dir, filepath.FromSlash(res.Target))
			tr.info.Done = tr.info.Total
			tr.info.Folder = res.Folder
		}
		tr.info.Rate, tr.info.Sources = 0, 0
		info = tr.info
		t.mu.Unlock()
		t.changed(tr, info)
	})
	if started {
		tr.cancel, tr.done = func() {}, done
		tr.info.State, tr.info.Err = TransferRunning, ""
	}
}

// changed saves tr and reports its change ti.
func (t *transfers) changed(tr *transfer, ti TransferInfo) {
	t.save(tr)
	t.e.emit(Event{Kind: TransferUpdated, Transfer: ti})
}

// save writes tr's current state to the database.
func (t *transfers) save(tr *transfer) {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()
	t.mu.Lock()
	info := tr.info
	t.mu.Unlock()
	b, err := json.Marshal(info)
	if err == nil {
		err = t.e.db.PutTransfer(info.ID, b)
	}
	if err != nil {
		t.e.log.Warn("cannot save a transfer", "name", info.Name, "err", err)
	}
}

// find returns the transfer with id; t.mu must be held.
func (t *transfers) find(id string) (*transfer, error) {
	i := slices.IndexFunc(t.list, func(tr *transfer) bool { return tr.info.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("%w %s", ErrNoTransfer, id)
	}
	return t.list[i], nil
}

// stop ends a running transfer and marks it with state; it waits for the
// goroutine so that its files are closed before returning.
func (t *transfers) stop(id string, state TransferState) (TransferInfo, error) {
	t.mu.Lock()
	tr, err := t.find(id)
	if err != nil {
		t.mu.Unlock()
		return TransferInfo{}, err
	}
	if tr.info.State == TransferDone {
		t.mu.Unlock()
		return tr.info, nil
	}
	tr.info.State = state
	cancel, done := tr.cancel, tr.done
	t.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	t.mu.Lock()
	info := tr.info
	t.mu.Unlock()
	t.changed(tr, info)
	return info, nil
}

// close stops every running transfer, marking it paused so that it resumes
// next time, waits for their goroutines and saves them.
func (t *transfers) close() {
	type stopper struct {
		tr     *transfer
		cancel context.CancelFunc
		done   chan struct{}
	}
	t.mu.Lock()
	t.closed = true
	var running []stopper
	for _, tr := range t.list {
		if tr.cancel != nil {
			tr.info.State = TransferPaused
			running = append(running, stopper{tr, tr.cancel, tr.done})
		}
	}
	t.mu.Unlock()
	for _, r := range running {
		r.cancel()
		<-r.done
		t.save(r.tr)
	}
}

// discardPartials removes the unfinished files of a download of name into dir.
func discardPartials(dir, name string) error {
	store, err := share.OpenStore(dir)
	if err != nil {
		return err
	}
	defer store.Close()
	return store.DiscardPartials(name)
}
