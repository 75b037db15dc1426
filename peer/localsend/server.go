package localsend

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"sync"
	"time"

	"porch/share"
)

// Server limits and timeouts.
const (
	headerTimeout = 10 * time.Second // request headers
	bodyTimeout   = 10 * time.Second // a JSON body
	idleRead      = 30 * time.Second // an upload that sends nothing for this long fails
	idleConn      = 60 * time.Second // a kept-alive connection
	decideTimeout = 5 * time.Minute  // the user's answer to an offer
	sessionIdle   = 2 * time.Minute  // an accepted session with no upload for this long is dropped
	maxConns      = 64               // connections in total
	maxConnsPerIP = 16               // connections from one address
	maxPINFails   = 3                // wrong PINs from one address before 429
	pinLockout    = time.Minute      // how long those 429s last
	prepareBurst  = 30               // prepare-uploads from one address per prepareWindow
	prepareWindow = time.Minute
	maxTracked    = 4096 // addresses the rate limits remember
	maxChecksum   = 3    // tries of one file whose sha256 does not match
)

// Errors a Decide function may return; any other error declines too.
var (
	ErrDeclined = errors.New("localsend: declined")
)

// Device is a LocalSend device as this machine saw it.
type Device struct {
	Info
	Addr     netip.Addr // where it was heard from
	Verified bool       // its fingerprint was proven by a TLS certificate
}

// AddrPort is where the device's server listens.
func (d Device) AddrPort() netip.AddrPort { return netip.AddrPortFrom(d.Addr, uint16(d.Port)) }

// Offer is what a sender proposes in one prepare-upload.
type Offer struct {
	SessionID string // the session the offer opens (empty for a text message)
	From      Device
	Files     []File // by name
	Bytes     int64  // total size
	Text      string // the message, when the offer is a text message (no file is written)
}

// ServerOptions configures a Server. Cert, Self and Store are required.
type ServerOptions struct {
	Cert *Cert
	// Self is how this machine describes itself (alias, port, download);
	// Fingerprint and Version are filled in, DeviceType and DeviceModel
	// when empty (desktop, Porch).
	Self func() Info
	// Store opens the download folder an accepted session writes into.
	Store func() (*share.Store, error)
	// Receive says whether offers are considered at all; when it is nil or
	// returns false, prepare-upload answers 403.
	Receive func() bool
	// Decide is asked about every offer (files or a text message) that
	// passed the checks; nil error accepts. It may block (a prompt) until
	// ctx ends.
	Decide func(ctx context.Context, o Offer) error
	// PIN returns the PIN senders must give ("" for none).
	PIN func() string
	// Seen reports a device that registered.
	Seen func(Device)
	// Text reports an accepted text message.
	Text func(o Offer)
	// Received reports a file kept, with its final slash path under the
	// download folder, and Ended a session that ended.
	Received func(o Offer, rel string, size int64)
	Ended    func(o Offer, files, failed int, cancelled bool)
	Logger   *slog.Logger
}

// Server is LocalSend's HTTPS server. Its state (the one session, the rate
// limits) is guarded by mu. Safe for concurrent use.
type Server struct {
	opts ServerOptions
	log  *slog.Logger

	mu      sync.Mutex
	sess    *session
	limits  map[netip.Addr]*addrLimit
	conns   map[netip.Addr]int
	nconns  int
	clients map[string]context.CancelFunc // our own sends, by the receiver's session id
	after   []func()                      // callbacks to run once mu is released
}

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

type addrLimit struct {
	pinFails  int
	pinUntil  time.Time
	prepares  int
	windowEnd time.Time
}

// NewServer checks opts and makes a server.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Cert == nil || opts.Self == nil || opts.Store == nil {
		return nil, errors.New("localsend: server needs a certificate, Self and Store")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts, log: opts.Logger, limits: map[netip.Addr]*addrLimit{},
		conns: map[netip.Addr]int{}, clients: map[string]context.CancelFunc{}}, nil
}

// Self returns this machine's Info as it is sent.
func (s *Server) Self() Info { return sent(s.opts.Self(), s.opts.Cert.Fingerprint) }

// sent completes this machine's Info i as it goes out: the certificate's
// fingerprint fp, the protocol version, and the defaults for what i leaves
// empty (device type and model, https).
func sent(i Info, fp string) Info {
	i.Fingerprint, i.Version = fp, Version
	if i.DeviceType == "" {
		i.DeviceType = DeviceType
	}
	if i.DeviceModel == "" {
		i.DeviceModel = DeviceModel
	}
	if i.Protocol == "" {
		i.Protocol = "https"
	}
	return i
}

// Serve answers on ln until ctx ends, then closes ln and waits for the
// handlers to return.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		TLSConfig:         s.opts.Cert.ServerTLS(),
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       idleConn,
		MaxHeaderBytes:    16 << 10,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1 only
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	lim := &limitListener{Listener: ln, s: s}
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(lim, "", "") }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
		<-errc
		return nil
	case err := <-errc:
		return err
	}
}

// ServeHTTP routes LocalSend's endpoints; anything else is 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip, err := remoteAddr(r)
	if err != nil {
		fail(w, http.StatusBadRequest, "bad remote address")
		return
	}
	s.route(w, r, ip)
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, ip netip.Addr) {
	switch r.URL.Path {
	case "/api/localsend/v1/info", "/api/localsend/v2/info":
		if r.Method != http.MethodGet {
			fail(w, http.StatusMethodNotAllowed, "GET only")
			return
		}
		i := s.Self()
		i.Port, i.Protocol, i.Announce = 0, "", nil
		reply(w, http.StatusOK, i)
	case "/api/localsend/v2/register":
		s.register(w, r, ip)
	case "/api/localsend/v2/prepare-upload":
		s.prepareUpload(w, r, ip)
	case "/api/localsend/v2/upload":
		s.upload(w, r, ip)
	case "/api/localsend/v2/cancel":
		s.cancel(w, r, ip)
	default:
		fail(w, http.StatusNotFound, "not found")
	}
}

func remoteAddr(r *http.Request) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, err
	}
	return ap.Addr().Unmap(), nil
}

// clientFingerprint is the fingerprint of the client's certificate, "" if
// it sent none.
func clientFingerprint(r *http.Request) string {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return ""
	}
	return Fingerprint(r.TLS.PeerCertificates[0].Raw)
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, code int, msg string) {
	reply(w, code, errorBody{Message: msg})
}

// readJSON reads a JSON body of at most limit bytes within bodyTimeout,
// whatever its Content-Type says (some senders send octet-stream).
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
	defer http.NewResponseController(w).SetReadDeadline(time.Time{})
	if r.ContentLength > limit {
		return fmt.Errorf("%w: body of %d bytes, at most %d", ErrBadMessage, r.ContentLength, limit)
	}
	return decode(r.Body, limit, v)
}

// device makes the Device a request speaks for: the certificate's
// fingerprint wins; a body that claims another is refused (ok false).
func device(r *http.Request, ip netip.Addr, i Info) (Device, bool) {
	d := Device{Info: i, Addr: ip}
	if fp := clientFingerprint(r); fp != "" {
		if !equalFold(fp, i.Fingerprint) {
			return d, false
		}
		d.Fingerprint, d.Verified = fp, true
	}
	return d, true
}

func (s *Server) register(w http.ResponseWriter, r *http.Request, ip netip.Addr) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "POST only")
		return
	}
	var i Info
	if err := readJSON(w, r, MaxInfoBody, &i); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := i.check(true); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	i.Announce, i.Announcement = nil, nil
	d, ok := device(r, ip, i)
	switch {
	case !ok:
		s.log.Debug("localsend: register whose fingerprint is not its certificate's, ignored", "from", ip)
	case equalFold(d.Fingerprint, s.opts.Cert.Fingerprint):
	case s.opts.Seen != nil:
		s.opts.Seen(d)
	}
	self := s.Self()
	self.Port, self.Protocol = 0, ""
	reply(w, http.StatusOK, self)
}

// allowPrepare counts a prepare-upload from ip and says whether it is
// within prepareBurst per prepareWindow.
func (s *Server) allowPrepare(ip netip.Addr) bool {
	s.mu.Lock()
	defer s.unlock()
	l := s.limitLocked(ip)
	now := time.Now()
	if now.After(l.windowEnd) {
		l.prepares, l.windowEnd = 0, now.Add(prepareWindow)
	}
	l.prepares++
	return l.prepares <= prepareBurst
}

// limitLocked returns ip's counters, forgetting stale ones when the table
// is full. s.mu is held.
func (s *Server) limitLocked(ip netip.Addr) *addrLimit {
	if l, ok := s.limits[ip]; ok {
		return l
	}
	if len(s.limits) >= maxTracked {
		now := time.Now()
		for a, l := range s.limits {
			if now.After(l.windowEnd) && now.After(l.pinUntil) {
				delete(s.limits, a)
			}
		}
		for a := range s.limits {
			if len(s.limits) < maxTracked {
				break
			}
			delete(s.limits, a)
		}
	}
	l := &addrLimit{}
	s.limits[ip] = l
	return l
}

// checkPIN answers 401 for a missing or wrong PIN and 429 after
// maxPINFails wrong ones from ip (for pinLockout); it returns false when it
// answered.
func (s *Server) checkPIN(w http.ResponseWriter, r *http.Request, ip netip.Addr) bool {
	pin := ""
	if s.opts.PIN != nil {
		pin = s.opts.PIN()
	}
	if pin == "" {
		return true
	}
	s.mu.Lock()
	defer s.unlock()
	l := s.limitLocked(ip)
	now := time.Now()
	if l.pinFails >= maxPINFails {
		if now.Before(l.pinUntil) {
			fail(w, http.StatusTooManyRequests, "too many wrong PINs; try again in a minute")
			return false
		}
		l.pinFails = 0
	}
	got, given := r.URL.Query()["pin"]
	switch {
	case !given:
		fail(w, http.StatusUnauthorized, "PIN required")
		return false
	case len(got) != 1 || got[0] != pin:
		l.pinFails++
		l.pinUntil = now.Add(pinLockout)
		fail(w, http.StatusUnauthorized, "Invalid PIN")
		return false
	}
	l.pinFails = 0
	return true
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
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

// limitListener bounds the connections a Server holds, in total and per
// address; connections beyond are closed at once.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
		if err != nil {
			c.Close()
			continue
		}
		ip := ap.Addr().Unmap()
		l.s.mu.Lock()
		ok := l.s.nconns < maxConns && l.s.conns[ip] < maxConnsPerIP
		if ok {
			l.s.nconns++
			l.s.conns[ip]++
		}
		l.s.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		return &countedConn{Conn: c, s: l.s, ip: ip}, nil
	}
}

type countedConn struct {
	net.Conn
	s    *Server
	ip   netip.Addr
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		c.s.nconns--
		if c.s.conns[c.ip]--; c.s.conns[c.ip] <= 0 {
			delete(c.s.conns, c.ip)
		}
		c.s.mu.Unlock()
	})
	return c.Conn.Close()
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
