package localsend

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"porch/share"
	"sort"
	"time"
)

// Upload sessions: prepare-upload, upload and cancel, one session at a
// time (receive.go writes each file).

// session is the one upload session a Server holds at a time.
type session struct {
	id      string
	ip      netip.Addr
	offer   Offer
	pending bool // waiting for Decide
	cancel  context.CancelFunc
	ctx     context.Context // ends when the session is cancelled or ends
	store   *share.Store
	files   map[string]*sessionFile
	running int
	last    time.Time
	kept    int
	failed  int
}

type fileState int

const (
	filePending fileState = iota
	fileRunning
	fileDone
	fileFailed
)

type sessionFile struct {
	File
	token    string
	state    fileState
	attempts int
}

func (s *Server) prepareUpload(w http.ResponseWriter, r *http.Request, ip netip.Addr) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	if !s.allowPrepare(ip) {
		fail(w, http.StatusTooManyRequests, "too many requests from this address; wait a minute")
		return
	}
	if !s.checkPIN(w, r, ip) {
		return
	}
	var req PrepareUpload
	if err := readJSON(w, r, MaxPrepareBody, &req); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := req.Info.check(false); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := checkFiles(req.Files, share.ValidatePath); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	from, ok := device(r, ip, req.Info)
	if !ok {
		fail(w, http.StatusBadRequest, "the fingerprint in info is not the client certificate's")
		return
	}
	offer := Offer{From: from}
	for id, f := range req.Files {
		f.ID = id
		offer.Files = append(offer.Files, f)
		offer.Bytes += f.Size
	}
	sort.Slice(offer.Files, func(i, j int) bool { return offer.Files[i].FileName < offer.Files[j].FileName })
	if len(offer.Files) == 1 && offer.Files[0].IsText() {
		offer.Text = offer.Files[0].Preview
		s.text(w, r, offer)
		return
	}
	if s.opts.Receive == nil || !s.opts.Receive() {
		fail(w, http.StatusForbidden, "this Porch does not receive files now")
		return
	}
	store, err := s.opts.Store()
	if err != nil {
		s.log.Warn("localsend: download folder", "err", err)
		fail(w, http.StatusInternalServerError, "the download folder cannot be opened")
		return
	}
	if free, ok := freeSpace(store.Dir()); ok && uint64(offer.Bytes) > free {
		store.Close()
		fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("not enough free space: %d bytes offered, %d free", offer.Bytes, free))
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	offer.SessionID = newID()
	sess := &session{id: offer.SessionID, ip: ip, offer: offer, pending: true, ctx: ctx, cancel: cancel,
		store: store, files: map[string]*sessionFile{}, last: time.Now()}
	if !s.claim(sess) {
		cancel()
		store.Close()
		fail(w, http.StatusConflict, "Blocked by another session")
		return
	}
	err = s.decide(r.Context(), ctx, offer)
	s.mu.Lock()
	defer s.unlock()
	if s.sess != sess || sess.ctx.Err() != nil {
		// Cancelled by the sender while the user was deciding.
		s.endLocked(sess, true)
		fail(w, http.StatusForbidden, "Cancelled by sender")
		return
	}
	if err != nil {
		s.endLocked(sess, false)
		fail(w, http.StatusForbidden, "Rejected")
		return
	}
	sess.pending = false
	sess.last = time.Now()
	tokens := map[string]string{}
	for _, f := range offer.Files {
		sf := &sessionFile{File: f, token: newID()}
		sess.files[f.ID] = sf
		tokens[f.ID] = sf.token
	}
	s.log.Info("localsend: receiving", "from", from.Alias, "addr", ip, "files", len(offer.Files), "bytes", offer.Bytes)
	reply(w, http.StatusOK, PrepareUploadReply{SessionID: sess.id, Files: tokens})
}

// decide asks Decide, bounded by decideTimeout, the request and the session.
func (s *Server) decide(req, sess context.Context, o Offer) error {
	if s.opts.Decide == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(req, decideTimeout)
	defer cancel()
	stop := context.AfterFunc(sess, cancel)
	defer stop()
	return s.opts.Decide(ctx, o)
}

// text handles a text message: asked about like files, reported, 204.
func (s *Server) text(w http.ResponseWriter, r *http.Request, o Offer) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.decide(r.Context(), ctx, o); err != nil {
		fail(w, http.StatusForbidden, "Rejected")
		return
	}
	if s.opts.Text != nil {
		s.opts.Text(o)
	}
	w.WriteHeader(http.StatusNoContent)
}

// claim makes sess the session unless another one holds the slot; an
// accepted session idle for sessionIdle with no upload running gives way.
func (s *Server) claim(sess *session) bool {
	s.mu.Lock()
	defer s.unlock()
	if old := s.sess; old != nil {
		if old.pending || old.running > 0 || time.Since(old.last) < sessionIdle {
			return false
		}
		s.log.Info("localsend: dropping an idle session", "from", old.offer.From.Alias)
		s.endLocked(old, true)
	}
	s.sess = sess
	return true
}

// later queues f to run once s.mu is released (by unlock): callbacks never
// run under the lock, in the order they were queued. s.mu is held.
func (s *Server) later(f func()) { s.after = append(s.after, f) }

// unlock releases s.mu and runs what was queued with later.
func (s *Server) unlock() {
	fns := s.after
	s.after = nil
	s.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// endLocked ends sess; s.mu is held.
func (s *Server) endLocked(sess *session, cancelled bool) {
	if s.sess == sess {
		s.sess = nil
	}
	sess.cancel()
	if !sess.pending && s.opts.Ended != nil {
		o, kept, failed := sess.offer, sess.kept, len(sess.offer.Files)-sess.kept
		s.later(func() { s.opts.Ended(o, kept, failed, cancelled) })
	}
	if sess.running == 0 && sess.store != nil {
		sess.store.Close()
		sess.store = nil
	}
}

func (s *Server) upload(w http.ResponseWriter, r *http.Request, ip netip.Addr) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	q := r.URL.Query()
	sid, fid, tok := q.Get("sessionId"), q.Get("fileId"), q.Get("token")
	if sid == "" || fid == "" || tok == "" {
		fail(w, http.StatusBadRequest, "Missing parameters")
		return
	}
	s.mu.Lock()
	sess := s.sess
	var f *sessionFile
	switch {
	case sess == nil || sess.pending || sess.id != sid:
		s.unlock()
		fail(w, http.StatusConflict, "no such session")
		return
	case sess.ip != ip:
		s.unlock()
		fail(w, http.StatusForbidden, "Invalid token or IP address")
		return
	}
	f = sess.files[fid]
	if f == nil || f.token != tok || f.state != filePending {
		s.unlock()
		fail(w, http.StatusForbidden, "Invalid token or IP address")
		return
	}
	f.state, f.attempts = fileRunning, f.attempts+1
	sess.running++
	store, ctx := sess.store, sess.ctx
	s.unlock()

	var (
		rel  string
		code int
		err  error
	)
	if r.ContentLength >= 0 && r.ContentLength != f.Size {
		// Refused before a byte is written; the file fails like one
		// whose body turns out short or long.
		code, err = http.StatusBadRequest, fmt.Errorf("%w: a body of %d bytes for a file of %d", ErrSize, r.ContentLength, f.Size)
	} else {
		rel, code, err = receiveFile(ctx, w, r, store, f.File)
	}

	s.mu.Lock()
	sess.running--
	sess.last = time.Now()
	switch {
	case err == nil:
		f.state = fileDone
		sess.kept++
		if s.opts.Received != nil {
			o, size := sess.offer, f.Size
			s.later(func() { s.opts.Received(o, rel, size) })
		}
	case code == http.StatusUnprocessableEntity && f.attempts < maxChecksum:
		f.state = filePending
	default:
		f.state = fileFailed
		sess.failed++
	}
	done := true
	for _, sf := range sess.files {
		if sf.state == filePending || sf.state == fileRunning {
			done = false
		}
	}
	if s.sess != sess && sess.running == 0 && sess.store != nil {
		sess.store.Close()
		sess.store = nil
	}
	if done && s.sess == sess {
		s.endLocked(sess, false)
	}
	offer := sess.offer
	s.unlock()
	if err != nil {
		s.log.Warn("localsend: file refused", "from", offer.From.Alias, "name", f.FileName, "err", err)
		fail(w, code, err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request, ip netip.Addr) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	sid := r.URL.Query().Get("sessionId")
	s.mu.Lock()
	defer s.unlock()
	if sess := s.sess; sess != nil && sess.ip == ip && (sid == sess.id || sess.pending && sid == "") {
		s.log.Info("localsend: session cancelled by the sender", "from", sess.offer.From.Alias)
		if sess.pending {
			sess.cancel() // prepareUpload ends it
		} else {
			s.endLocked(sess, true)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	// A receiver cancels what this machine sends it.
	if stop, ok := s.clients[ip.String()+" "+sid]; ok && sid != "" {
		stop()
		w.WriteHeader(http.StatusOK)
		return
	}
	fail(w, http.StatusConflict, "no such session")
}

// trackSend registers a send to ip under the receiver's session id, so
// that the receiver's cancel stops it; the returned func unregisters it.
func (s *Server) trackSend(ip netip.Addr, sid string, stop context.CancelFunc) func() {
	key := ip.String() + " " + sid
	s.mu.Lock()
	s.clients[key] = stop
	s.unlock()
	return func() {
		s.mu.Lock()
		delete(s.clients, key)
		s.unlock()
	}
}
