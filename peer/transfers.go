package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"porch/share"
)

// Transfer states.
const (
	TransferQueued   = "queued"
	TransferRunning  = "running"
	TransferPaused   = "paused"
	TransferDone     = "done"
	TransferFailed   = "failed"
	TransferCanceled = "canceled"
)

// ErrNoTransfer is returned for an unknown transfer id.
var ErrNoTransfer = errors.New("no such transfer")

// TransferInfo is one download the window manages.
type TransferInfo struct {
	ID        string    `json:"id"`
	PeerID    string    `json:"peer_id"`
	PeerName  string    `json:"peer_name"`
	Path      string    `json:"path"` // on the neighbour
	Dir       string    `json:"dir"`  // local download folder
	Name      string    `json:"name"`
	Folder    bool      `json:"folder,omitempty"` // known once the download has started
	FinalPath string    `json:"final_path,omitempty"`
	State     string    `json:"state"`
	Err       string    `json:"err,omitempty"`
	Done      int64     `json:"done"`
	Total     int64     `json:"total"`
	Rate      float64   `json:"-"`
	Sources   int       `json:"-"`
	Started   time.Time `json:"started"`
}

// Transfers runs the window's downloads: one at a time per neighbour path,
// pausable, resumable and persisted in DATA/transfers.json so that
// unfinished ones come back (paused) after a restart. mu guards the list.
type Transfers struct {
	e      *Engine
	file   string
	onEvt  func(TransferInfo)
	mu     sync.Mutex
	list   []*transfer
	wg     sync.WaitGroup
	closed bool
}

type transfer struct {
	info   TransferInfo
	cancel context.CancelFunc // non-nil while running
	done   chan struct{}      // closed when the running goroutine ends
}

// Transfers returns the engine's transfer manager, loading saved transfers
// on first use. Unfinished ones come back paused.
func (e *Engine) Transfers() *Transfers {
	e.transfersOnce.Do(func() {
		t := &Transfers{e: e, file: filepath.Join(e.opts.DataDir, "transfers.json")}
		t.onEvt = func(ti TransferInfo) { e.emit(Event{Kind: TransferUpdated, Transfer: ti}) }
		var saved []TransferInfo
		if b, err := os.ReadFile(t.file); err == nil {
			if err := json.Unmarshal(b, &saved); err != nil {
				e.log.Warn("ignoring unreadable transfers file", "file", t.file, "err", err)
			}
		}
		for _, ti := range saved {
			if ti.State == TransferRunning || ti.State == TransferQueued {
				ti.State = TransferPaused
			}
			t.list = append(t.list, &transfer{info: ti})
		}
		e.transfers = t
	})
	return e.transfers
}

// Start begins downloading a neighbour's file or folder into dir.
func (t *Transfers) Start(peerID, p, dir string) (TransferInfo, error) {
	_, info, err := t.e.client(peerID)
	if err != nil {
		return TransferInfo{}, err
	}
	ti := TransferInfo{
		ID: uuid.NewString(), PeerID: peerID, PeerName: info.Name, Path: p, Dir: dir,
		Name: path.Base(p), State: TransferQueued, Started: time.Now(),
	}
	tr := &transfer{info: ti}
	t.mu.Lock()
	t.list = append(t.list, tr)
	t.mu.Unlock()
	t.run(tr)
	return ti, nil
}

// run starts tr's goroutine.
func (t *Transfers) run(tr *transfer) {
	t.mu.Lock()
	if t.closed || tr.cancel != nil {
		t.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr.cancel, tr.done = cancel, make(chan struct{})
	tr.info.State, tr.info.Err = TransferRunning, ""
	info := tr.info
	t.wg.Add(1)
	t.mu.Unlock()
	t.changed(info)
	go func() {
		defer t.wg.Done()
		defer close(tr.done)
		res, err := t.e.Get(ctx, info.PeerID, info.Path, info.Dir, func(p GetProgress) {
			t.mu.Lock()
			tr.info.Done, tr.info.Total, tr.info.Rate, tr.info.Sources = p.Done, p.Total, p.Rate, p.Sources
			tr.info.Folder = p.Folder
			info := tr.info
			t.mu.Unlock()
			t.onEvt(info)
		})
		t.mu.Lock()
		tr.cancel = nil
		switch {
		case tr.info.State == TransferCanceled || tr.info.State == TransferPaused:
		case err != nil:
			tr.info.State, tr.info.Err = TransferFailed, err.Error()
		default:
			tr.info.State = TransferDone
			tr.info.FinalPath = filepath.Join(info.Dir, filepath.FromSlash(res.Target))
			tr.info.Done = tr.info.Total
			tr.info.Folder = res.Folder
		}
		tr.info.Rate, tr.info.Sources = 0, 0
		info := tr.info
		t.mu.Unlock()
		cancel()
		t.changed(info)
	}()
}

// changed saves the list and reports one transfer's change.
func (t *Transfers) changed(ti TransferInfo) {
	t.save()
	t.onEvt(ti)
}

func (t *Transfers) save() {
	t.mu.Lock()
	list := make([]TransferInfo, 0, len(t.list))
	for _, tr := range t.list {
		list = append(list, tr.info)
	}
	t.mu.Unlock()
	b, err := json.MarshalIndent(list, "", "  ")
	if err == nil {
		tmp := t.file + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, t.file)
		}
	}
	if err != nil {
		t.e.log.Warn("cannot save transfers", "err", err)
	}
}

// List returns every transfer, oldest first.
func (t *Transfers) List() []TransferInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]TransferInfo, 0, len(t.list))
	for _, tr := range t.list {
		out = append(out, tr.info)
	}
	return out
}

func (t *Transfers) find(id string) (*transfer, error) {
	i := slices.IndexFunc(t.list, func(tr *transfer) bool { return tr.info.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("%w %s", ErrNoTransfer, id)
	}
	return t.list[i], nil
}

// stop ends a running transfer and marks it with state; it waits for the
// goroutine so that its files are closed before returning.
func (t *Transfers) stop(id, state string) (TransferInfo, error) {
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
	t.changed(info)
	return info, nil
}

// Pause stops a transfer, keeping what it verified for Resume.
func (t *Transfers) Pause(id string) error {
	_, err := t.stop(id, TransferPaused)
	return err
}

// Resume continues a paused or failed transfer where it stopped.
func (t *Transfers) Resume(id string) error {
	t.mu.Lock()
	tr, err := t.find(id)
	t.mu.Unlock()
	if err != nil {
		return err
	}
	t.run(tr)
	return nil
}

// Cancel stops a transfer and deletes its unfinished files; finished files
// stay.
func (t *Transfers) Cancel(id string) error {
	info, err := t.stop(id, TransferCanceled)
	if err != nil || info.State == TransferDone {
		return err
	}
	return t.e.discardPartials(info.Dir, path.Base(info.Path))
}

// Close stops every running transfer, leaving them to resume next time.
func (t *Transfers) Close() {
	type stopper struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	t.mu.Lock()
	t.closed = true
	var running []stopper
	for _, tr := range t.list {
		if tr.cancel != nil {
			tr.info.State = TransferPaused
			running = append(running, stopper{tr.cancel, tr.done})
		}
	}
	t.mu.Unlock()
	for _, r := range running {
		r.cancel()
		<-r.done
	}
	t.wg.Wait()
	t.save()
}

// discardPartials removes the unfinished files of a download of name into dir.
func (e *Engine) discardPartials(dir, name string) error {
	store, err := share.OpenStore(dir)
	if err != nil {
		return err
	}
	defer store.Close()
	return store.DiscardPartials(name)
}
