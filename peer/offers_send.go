package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"porch/peer/wire"
	"porch/share"
)

// Sending an offer to a Porch neighbour (PROTOCOL.md, "Offers"). The items
// are opened as a library of their own, under DATA/outgoing/TOKEN (a catalog
// of them; hashes go to the data folder's cache), hashed, and served under
// /v1/offered/TOKEN/ to the receiver's certificate only, for as long as Send
// runs and the offer is alive. They never enter this machine's shares.

// Offer sending errors.
var (
	// ErrOfferRefused is wrapped by Send's error when the receiver declined
	// the offer, let it expire or cancelled it.
	ErrOfferRefused = errors.New("the offer was not accepted")
	// ErrOfferFailed is wrapped by Send's error when the receiver accepted
	// but could not receive everything.
	ErrOfferFailed = errors.New("the receiver could not receive the offer")
)

const (
	sendPollMin   = 100 * time.Millisecond // between the first two questions to the receiver
	sendPollMax   = time.Second            // between two questions, at most (the pause grows by half each time)
	sendPollFails = 20                     // questions in a row that may fail before Send gives up (about 20 s)
	grantGrace    = time.Minute            // a pending offer's grant outlives OfferTTL by this
	grantIdle     = 2 * time.Minute        // an accepted offer's grant lasts this long after the last good answer
	cancelWait    = 2 * time.Second        // for telling the receiver the offer is withdrawn
	outgoingDir   = "outgoing"             // in the data folder: one library per offer being sent
	hashStall     = time.Minute            // preparing gives up when hashing makes no progress for this long
)

// SendProgress reports where an offer being sent stands.
type SendProgress struct {
	State       OfferState // "" while the items are being prepared (hashed)
	Done, Total int64      // bytes hashed while preparing, then bytes the receiver has
	Rate        float64    // bytes per second the receiver gets, smoothed; 0 until known
	Reason      string     // the receiver's words, once decided
}

// SendResult summarises an offer the receiver took.
type SendResult struct {
	Peer  string // the receiver's name
	Items int
	Files int
	Bytes int64
}

// grant is the permission to fetch one offer's items: for the holder of
// one certificate, until a time.
type grant struct {
	fp    string
	lib   wire.Library
	until time.Time
}

// grants are the offers this machine is sending; mu guards m.
type grants struct {
	mu sync.Mutex
	m  map[string]*grant // by token
}

func (g *grants) add(tok string, gr *grant) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]*grant{}
	}
	g.m[tok] = gr
}

func (g *grants) extend(tok string, until time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gr, ok := g.m[tok]; ok && until.After(gr.until) {
		gr.until = until
	}
}

func (g *grants) remove(tok string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.m, tok)
}

// offered is the server's Offered hook: the library of the offer with token
// tok, for the certificate it was made to, while the grant lasts. Everyone
// else, and the receiver once it lapsed, find nothing there.
func (e *Engine) offered(fp, tok string) (wire.Library, error) {
	e.grants.mu.Lock()
	defer e.grants.mu.Unlock()
	gr, ok := e.grants.m[tok]
	if !ok || gr.fp != fp || !time.Now().Before(gr.until) {
		return nil, fmt.Errorf("%w: no such offer", share.ErrNotFound)
	}
	return gr.lib, nil
}

// Send offers files and folders to an online neighbour and waits until the
// neighbour has received them (nil), declined the offer or let it expire
// (an error wrapping ErrOfferRefused), or failed (ErrOfferFailed). When ctx
// ends first the offer is withdrawn. onProgress, which may be nil, hears of
// the hashing of the items and then of the receiver's answer and progress.
//
// Likely secrets inside the items are left out, as they are from shares; an
// item that is itself one, or Porch's own data folder, is refused.
func (e *Engine) Send(ctx context.Context, peerID string, paths []string, onProgress func(SendProgress)) (SendResult, error) {
	if len(paths) == 0 {
		return SendResult{}, errors.New("nothing to send")
	}
	if len(paths) > wire.MaxOfferItems {
		return SendResult{}, fmt.Errorf("at most %d items can be sent at once", wire.MaxOfferItems)
	}
	c, info, err := e.peers.client(peerID)
	if err != nil {
		return SendResult{}, err
	}
	if err := e.checkSendPaths(paths); err != nil {
		return SendResult{}, err
	}
	report := func(p SendProgress) {
		if onProgress != nil {
			onProgress(p)
		}
	}
	tok := newOfferID()
	dir := filepath.Join(e.opts.DataDir, outgoingDir, tok)
	defer os.RemoveAll(dir)
	changed := make(chan struct{}, 1)
	lib, err := share.OpenLibrary(share.LibraryOptions{DataDir: dir, DB: e.db, Logger: e.log, Transient: true, OnChange: func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		return SendResult{}, fmt.Errorf("preparing the offer: %w", err)
	}
	libCtx, stopLib := context.WithCancel(ctx)
	var libWG sync.WaitGroup
	defer func() {
		stopLib()
		libWG.Wait()
		lib.Close()
	}()
	if _, err := lib.Add(paths...); err != nil {
		return SendResult{}, err
	}
	req, err := offerRequest(lib)
	if err != nil {
		return SendResult{}, err
	}
	libWG.Go(func() {
		if err := lib.Run(libCtx); err != nil && libCtx.Err() == nil {
			e.log.Warn("preparing the offer", "err", err)
		}
	})
	lastHashed, lastMove := int64(-1), time.Now()
	for {
		hashed, total := lib.HashProgress()
		report(SendProgress{Done: hashed, Total: total})
		if hashed >= total {
			break
		}
		if hashed != lastHashed {
			lastHashed, lastMove = hashed, time.Now()
		} else if time.Since(lastMove) > hashStall {
			return SendResult{}, fmt.Errorf("preparing the offer stopped at %d of %d bytes: some files cannot be read (see the log)", hashed, total)
		}
		select {
		case <-ctx.Done():
			return SendResult{}, ctx.Err()
		case <-changed:
		case <-time.After(250 * time.Millisecond):
		}
	}
	req2, err := offerRequest(lib) // the items may have changed while they were hashed
	if err != nil {
		return SendResult{}, err
	}
	req.Items, req.Files, req.Bytes = req2.Items, req2.Files, req2.Bytes

	port := e.port
	if e.srv == nil {
		// A browse-only engine (the command line) serves the offer on a
		// server of its own, which serves nothing else.
		srvPort, stop, err := e.offerServer(ctx)
		if err != nil {
			return SendResult{}, err
		}
		defer stop()
		port = srvPort
	}
	req.ID = tok
	req.From = wire.Info{V: wire.ProtocolVersion, ID: e.id.ID, Name: e.Name(), Fingerprint: e.id.Fingerprint, Port: port}
	e.grants.add(tok, &grant{fp: info.Fingerprint, lib: wire.LibraryOf(lib), until: time.Now().Add(OfferTTL + grantGrace)})
	defer e.grants.remove(tok)
	res := SendResult{Peer: info.Name, Items: len(req.Items), Files: req.Files, Bytes: req.Bytes}
	e.log.Info("offering", "to", info.Name, "items", res.Items, "files", res.Files, "bytes", res.Bytes)
	st, err := c.Offer(ctx, req)
	switch {
	case errors.Is(err, share.ErrNotFound):
		return res, fmt.Errorf("%w: %s takes no offers (a Porch from before offers?): %w", ErrOfferRefused, info.Name, err)
	case errors.Is(err, wire.ErrBusy):
		return res, fmt.Errorf("%w: %s has too many offers waiting for an answer; try again later: %w", ErrOfferRefused, info.Name, err)
	case err != nil:
		return res, friendly(info, err)
	}
	fails, pause := 0, sendPollMin
	var rate rateMeter
	for {
		sp := SendProgress{State: OfferState(st.State), Done: st.Done, Total: st.Total, Reason: st.Reason}
		if sp.State == OfferAccepted {
			sp.Rate = rate.add(st.Done)
		}
		report(sp)
		switch OfferState(st.State) {
		case OfferDone:
			return res, nil
		case OfferFailed:
			return res, fmt.Errorf("%w: %s says: %s", ErrOfferFailed, info.Name, st.Reason)
		case OfferDeclined, OfferExpired, OfferCancelled:
			return res, fmt.Errorf("%w: %s %s (%s)", ErrOfferRefused, info.Name, st.State, st.Reason)
		case OfferAccepted:
			e.grants.extend(tok, time.Now().Add(grantIdle))
		}
		select {
		case <-ctx.Done():
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelWait)
			c.CancelOffer(cctx, tok)
			cancel()
			return res, ctx.Err()
		case <-time.After(pause):
		}
		pause = min(pause*3/2, sendPollMax)
		next, err := c.OfferStatus(ctx, tok)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			if fails++; fails >= sendPollFails || errors.Is(err, share.ErrNotFound) {
				return res, fmt.Errorf("%w: lost track of the offer: %w", ErrOfferFailed, friendly(info, err))
			}
			continue
		}
		fails = 0
		st = next
	}
}

// checkSendPaths refuses paths that do not exist and paths that hold this
// machine's data folder (keys, peers).
func (e *Engine) checkSendPaths(paths []string) error {
	data, err := filepath.Abs(e.opts.DataDir)
	if err != nil {
		return err
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("cannot send %s: %w", p, err)
		}
		if rel, err := filepath.Rel(abs, data); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
			return fmt.Errorf("cannot send %s: it holds Porch's own data folder (its keys)", p)
		}
	}
	return nil
}

// offerRequest describes the items of lib.
func offerRequest(lib *share.Library) (wire.OfferRequest, error) {
	var req wire.OfferRequest
	for _, st := range lib.Items() {
		if st.Err != "" {
			return req, fmt.Errorf("cannot send %s: %s", st.Path, st.Err)
		}
		for _, s := range st.Secrets {
			if s == "." {
				return req, fmt.Errorf("cannot send %s: it looks like a secret (keys, passwords); Porch does not send those", st.Path)
			}
		}
		en, err := lib.Stat(st.Name)
		if err != nil {
			return req, fmt.Errorf("cannot send %s: %w", st.Path, err)
		}
		it := wire.OfferItem{Name: en.Name, Size: en.Size, Dir: en.Dir, Files: en.Files}
		n := en.Files
		if !en.Dir {
			it.Files, n = 0, 1
		}
		req.Items = append(req.Items, it)
		req.Files += n
		req.Bytes += en.Size
	}
	if len(req.Items) == 0 {
		return req, errors.New("nothing to send")
	}
	return req, nil
}

// offerServer starts a server that serves nothing but this engine's offers,
// on the configured address (--listen) or else a free port, until stop is
// called.
func (e *Engine) offerServer(ctx context.Context) (port int, stop func(), err error) {
	srv, err := wire.NewServer(wire.ServerOptions{
		Identity: e.id,
		Library:  noLibrary{},
		Self:     func() wire.Info { return wire.Info{Name: e.Name(), Port: port} },
		Hooks:    wire.Hooks{Offered: e.offered},
		Logger:   e.log,
	})
	if err != nil {
		return 0, nil, err
	}
	var ln net.Listener
	if e.opts.Listen != "" {
		ln, err = e.listen()
	} else {
		// The default port is most likely taken by this machine's own
		// Porch; any port will do, the offer names it.
		ln, err = net.Listen("tcp", ":0")
	}
	if err != nil {
		return 0, nil, err
	}
	port = ln.Addr().(*net.TCPAddr).Port
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(sctx, ln); err != nil {
			e.log.Warn("serving the offer", "err", err)
		}
	}()
	return port, func() { cancel(); <-done }, nil
}

// noLibrary is a library with nothing in it.
type noLibrary struct{}

func (noLibrary) Stat(p string) (share.Entry, error) { return share.Entry{}, share.ErrNotFound }
func (noLibrary) List(p string) ([]share.Entry, error) {
	if p == "" {
		return nil, nil
	}
	return nil, share.ErrNotFound
}
func (noLibrary) Walk(p string, fn func(share.Entry) error) error {
	if p == "" {
		return nil
	}
	return share.ErrNotFound
}
func (noLibrary) Open(string) (wire.File, error)           { return nil, share.ErrNotFound }
func (noLibrary) OpenContent(string) (wire.File, error)    { return nil, share.ErrNotFound }
func (noLibrary) Hashes(string) (share.Hashes, error)      { return share.Hashes{}, share.ErrNotFound }
func (noLibrary) Has(string) bool                          { return false }
func (noLibrary) Search(string, int) []share.Entry         { return nil }
func (noLibrary) Totals() (int, int64)                     { return 0, 0 }
func (noLibrary) HashProgress() (hashedBytes, total int64) { return 0, 0 }
func (noLibrary) Version() uint64                          { return 0 }
