package wire

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"porch/peer/identity"
	"porch/share"
)

// File is an open shared file as the server reads it (satisfied by
// *share.File). ReadAt returns share.ErrChanged if the file changed since it
// was hashed.
type File interface {
	io.ReaderAt
	io.Closer
	Entry() share.Entry
}

// Library is what the server serves. It must be safe for concurrent use.
// LibraryOf adapts a *share.Library.
type Library interface {
	Stat(p string) (share.Entry, error)
	List(p string) ([]share.Entry, error)
	Walk(p string, fn func(share.Entry) error) error
	Open(p string) (File, error)
	OpenContent(cid string) (File, error)
	Hashes(cid string) (share.Hashes, error)
	Has(cid string) bool
	Search(q string, max int) []share.Entry
	Totals() (files int, bytes int64)
	HashProgress() (hashedBytes, totalBytes int64)
}

// Hooks are called by the server for the notifications peers send. They run
// on the request's goroutine, possibly concurrently, and should return
// quickly. fp is the caller's certificate fingerprint. Nil hooks are skipped.
type Hooks struct {
	Hello   func(fp string, remote netip.Addr, info Info) // POST /v1/hello from remote; info.Fingerprint == fp
	Goodbye func(fp string, info Info)                    // POST /v1/goodbye; info is the optional body
}

// ServerOptions configure a Server. Zero fields take defaults.
type ServerOptions struct {
	Identity      *identity.Identity // required
	Library       Library            // required
	Self          func() Info        // name and port for /v1/info; id, fp, v and totals are filled in
	Hooks         Hooks
	UploadSlots   int   // concurrent file-bytes responses (default DefaultSlots)
	MaxUpload     int64 // bytes per second shared by all uploads; <= 0 unlimited
	MaxConns      int   // default MaxConns
	MaxConnsPerIP int   // default MaxConnsPerIP
	Logger        *slog.Logger
}

// Server serves protocol v1 over mutual TLS. Serve may be called once; the
// other methods are safe for concurrent use at any time.
type Server struct {
	opts   ServerOptions
	log    *slog.Logger
	slots  *fairSem
	bucket *tokenBucket
	mux    *http.ServeMux
	lnMu   sync.Mutex
	ln     *limitListener
	stall  time.Duration // WriteStallTimeout; shorter in tests
}

// bufSize is the size of the pooled buffers file bytes are sent from.
const bufSize = 512 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// NewServer returns a server for opts. It does not listen; call Serve.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Identity == nil || opts.Library == nil {
		return nil, errors.New("peer: server needs an identity and a library")
	}
	if opts.UploadSlots <= 0 {
		opts.UploadSlots = DefaultSlots
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = MaxConns
	}
	if opts.MaxConnsPerIP <= 0 {
		opts.MaxConnsPerIP = MaxConnsPerIP
	}
	if opts.Self == nil {
		opts.Self = func() Info { return Info{} }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:   opts,
		log:    opts.Logger,
		slots:  newFairSem(opts.UploadSlots),
		bucket: newTokenBucket(opts.MaxUpload),
		mux:    http.NewServeMux(),
		stall:  WriteStallTimeout,
	}
	s.mux.HandleFunc("GET /v1/info", s.info)
	s.mux.HandleFunc("GET /v1/ls", s.ls)
	s.mux.HandleFunc("GET /v1/tree", s.tree)
	s.mux.HandleFunc("GET /v1/file", s.file)
	s.mux.HandleFunc("GET /v1/hashes/{cid}", s.hashes)
	s.mux.HandleFunc("GET /v1/content/{cid}", s.content)
	s.mux.HandleFunc("POST /v1/has", s.has)
	s.mux.HandleFunc("GET /v1/search", s.search)
	s.mux.HandleFunc("POST /v1/batch", s.batch)
	s.mux.HandleFunc("POST /v1/goodbye", s.goodbye)
	s.mux.HandleFunc("POST /v1/hello", s.hello)
	return s, nil
}

// SetMaxUpload changes the upload rate limit (bytes per second, <= 0 for
// none); uploads in progress follow the new rate at once.
func (s *Server) SetMaxUpload(rate int64) { s.bucket.SetRate(rate) }

// MaxUpload returns the upload rate limit (0: none).
func (s *Server) MaxUpload() int64 { return s.bucket.Rate() }

// Serve serves on ln (a plain TCP listener; Serve adds the connection limits
// and TLS) until ctx ends, then shuts down gracefully: it stops accepting,
// gives responses in progress a few seconds, closes what is left, and returns
// once every handler has returned. It closes ln. It returns nil after ctx
// ends, or the error that stopped serving.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ll := newLimitListener(ln, s.opts.MaxConns, s.opts.MaxConnsPerIP, func(ip string) {
		s.log.Debug("connection refused: limit reached", "remote", ip)
	})
	s.lnMu.Lock()
	s.ln = ll
	s.lnMu.Unlock()
	tcfg := s.opts.Identity.ServerTLS()
	tcfg.NextProtos = []string{"http/1.1"}
	baseCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Handlers are counted so that Serve returns only after the last one;
	// once closing, no new one is counted (it is refused instead).
	var (
		handlers sync.WaitGroup
		hmu      sync.Mutex
		closing  bool
	)
	var protos http.Protocols
	protos.SetHTTP1(true)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hmu.Lock()
			if closing {
				hmu.Unlock()
				writeError(w, http.StatusServiceUnavailable, errors.New("shutting down"))
				return
			}
			handlers.Add(1)
			hmu.Unlock()
			defer handlers.Done()
			s.serveHTTP(w, r)
		}),
		ReadHeaderTimeout: ReadHeaderTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		Protocols:         &protos,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ConnContext:       withBatchConn,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(batchListener{ll}, tcfg)) }()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), 3*time.Second)
		if srv.Shutdown(sctx) != nil {
			cancel()
			srv.Close()
		}
		scancel()
		err = <-errc
	}
	cancel()
	srv.Close()
	hmu.Lock()
	closing = true
	hmu.Unlock()
	handlers.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || identity.PeerFingerprint(*r.TLS) == "" {
		writeError(w, http.StatusUnauthorized, errors.New("client certificate required"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBody)
	s.mux.ServeHTTP(w, r)
}

func callerFP(r *http.Request) string { return identity.PeerFingerprint(*r.TLS) }

// fail answers err with its status code and a JSON error body.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if code == http.StatusInternalServerError {
		s.log.Warn("request failed", "path", r.URL.Path, "err", err)
		// The details stay in the log: they may name local paths.
		err = errors.New("internal error")
	}
	writeError(w, code, err)
}

func writeError(w http.ResponseWriter, code int, err error) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del(contentIDHeader)
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(errorReply{Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// readJSON decodes a bounded request body into v. The body must arrive
// within BodyReadTimeout.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(BodyReadTimeout))
	// Cleared at once: a deadline left on the connection would cancel a
	// long response that follows.
	defer rc.SetReadDeadline(time.Time{})
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	return nil
}

func (s *Server) selfInfo() Info {
	in := s.opts.Self()
	in.V = ProtocolVersion
	in.ID = s.opts.Identity.ID
	in.Fingerprint = s.opts.Identity.Fingerprint
	in.Files, in.Bytes = s.opts.Library.Totals()
	in.HashedBytes, _ = s.opts.Library.HashProgress()
	return in
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.selfInfo())
}

// pageArgs parses path, cursor and limit of a listing request.
func pageArgs(r *http.Request, maxLimit int) (p string, start, limit int, err error) {
	q := r.URL.Query()
	p = q.Get("path")
	if err := share.ValidatePath(p); err != nil {
		return "", 0, 0, err
	}
	limit = maxLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return "", 0, 0, fmt.Errorf("%w: limit %q", ErrBadRequest, v)
		}
		limit = min(n, maxLimit)
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return "", 0, 0, fmt.Errorf("%w: cursor %q", ErrBadRequest, v)
		}
		start = n
	}
	return p, start, limit, nil
}

func (s *Server) ls(w http.ResponseWriter, r *http.Request) {
	p, start, limit, err := pageArgs(r, MaxListPage)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	all, err := s.opts.Library.List(p)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := ListPage{Entries: []share.Entry{}}
	if start < len(all) {
		end := min(len(all), start+limit)
		page.Entries = all[start:end]
		if end < len(all) {
			page.Next = strconv.Itoa(end)
		}
	}
	writeJSON(w, page)
}

var errPageFull = errors.New("page full")

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	p, start, limit, err := pageArgs(r, MaxTreePage)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := ListPage{Entries: []share.Entry{}}
	i := 0
	err = s.opts.Library.Walk(p, func(e share.Entry) error {
		if err := r.Context().Err(); err != nil {
			return err
		}
		defer func() { i++ }()
		if i < start {
			return nil
		}
		if len(page.Entries) == limit {
			page.Next = strconv.Itoa(i)
			return errPageFull
		}
		page.Entries = append(page.Entries, e)
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, page)
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	text := q.Get("q")
	if len(text) > MaxQuery {
		s.fail(w, r, fmt.Errorf("%w: query longer than %d bytes", ErrBadRequest, MaxQuery))
		return
	}
	limit := DefaultSearch
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			s.fail(w, r, fmt.Errorf("%w: limit %q", ErrBadRequest, v))
			return
		}
		limit = min(n, MaxSearch)
	}
	res := searchReply{Results: []share.Entry{}}
	if strings.TrimSpace(text) != "" {
		if found := s.opts.Library.Search(text, limit); found != nil {
			res.Results = found[:min(len(found), limit)]
		}
	}
	writeJSON(w, res)
}

// readCIDs reads and validates a {"cids":[...]} request body.
func readCIDs(w http.ResponseWriter, r *http.Request) ([]string, error) {
	var req cidList
	if err := readJSON(w, r, &req); err != nil {
		return nil, err
	}
	if len(req.CIDs) > MaxCIDs {
		return nil, fmt.Errorf("%w: more than %d content ids", ErrBadRequest, MaxCIDs)
	}
	for _, c := range req.CIDs {
		if !share.ValidContentID(c) {
			return nil, fmt.Errorf("%w: %q", share.ErrBadContentID, c)
		}
	}
	return req.CIDs, nil
}

func (s *Server) has(w http.ResponseWriter, r *http.Request) {
	cids, err := readCIDs(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res := hasReply{Has: []string{}}
	for _, c := range cids {
		if s.opts.Library.Has(c) {
			res.Has = append(res.Has, c)
		}
	}
	writeJSON(w, res)
}

func (s *Server) hashes(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	if !share.ValidContentID(cid) {
		s.fail(w, r, fmt.Errorf("%w: %q", share.ErrBadContentID, cid))
		return
	}
	h, err := s.opts.Library.Hashes(cid)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, _ := h.MarshalBinary()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}

func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query().Get("path")
	if p == "" {
		s.fail(w, r, fmt.Errorf("%w: empty path", share.ErrBadPath))
		return
	}
	if err := share.ValidatePath(p); err != nil {
		s.fail(w, r, err)
		return
	}
	s.sendFile(w, r, func() (File, error) { return s.opts.Library.Open(p) })
}

func (s *Server) content(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	if !share.ValidContentID(cid) {
		s.fail(w, r, fmt.Errorf("%w: %q", share.ErrBadContentID, cid))
		return
	}
	// faultContent: a test-only fault hook (build tag porchfault); otherwise it returns its arguments.
	s.sendFile(w, r, func() (File, error) { return faultContent(s.opts.Library.OpenContent(cid)) })
}

// sendFile serves a file's bytes, whole or one Range, inside an upload slot
// and through the rate limit.
func (s *Server) sendFile(w http.ResponseWriter, r *http.Request, open func() (File, error)) {
	fp := callerFP(r)
	if err := s.slots.Acquire(r.Context(), fp); err != nil {
		return // the caller went away
	}
	defer s.slots.Release(fp)
	f, err := open()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	e := f.Entry()
	if e.Dir {
		s.fail(w, r, fmt.Errorf("%w: %s is a folder", share.ErrNotFound, e.Path))
		return
	}
	off, n, partial, err := parseRange(r.Header.Get("Range"), e.Size)
	h := w.Header()
	if err != nil {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", e.Size))
		s.fail(w, r, err)
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	// Read the first chunk before the status line, so that a file that
	// changed since it was hashed is a clean 409 in the common case.
	first := min(int64(len(buf)), n)
	m, err := f.ReadAt(buf[:first], off)
	if int64(m) < first {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: %s is shorter than hashed", share.ErrChanged, e.Path)
		}
		s.fail(w, r, err)
		return
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	if !e.ModTime.IsZero() {
		h.Set("Last-Modified", e.ModTime.UTC().Format(http.TimeFormat))
	}
	if e.ContentID != "" {
		h.Set(contentIDHeader, e.ContentID)
	}
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, e.Size))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.WriteHeader(http.StatusOK)
	}
	if r.Method == http.MethodHead {
		return
	}
	if err := s.stream(w, r, f, buf, off, n, m); err != nil {
		s.log.Debug("upload aborted", "path", r.URL.Path, "err", err)
		// The status line is out: only a broken connection tells the
		// client that the body is short.
		panic(http.ErrAbortHandler)
	}
}

// stream writes n bytes of f from off; the first have bytes are already in
// buf. Every chunk passes the rate limit and must be written within
// WriteStallTimeout.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, f File, buf []byte, off, n int64, have int) error {
	rc := http.NewResponseController(w)
	ctx := r.Context()
	bc := batchConnOf(ctx)
	for n > 0 {
		if have == 0 {
			want := min(int64(len(buf)), n)
			m, err := f.ReadAt(buf[:want], off)
			if int64(m) < want {
				if err == nil || err == io.EOF {
					err = share.ErrChanged
				}
				return err
			}
			have = m
		}
		if err := s.bucket.Wait(ctx, have); err != nil {
			return err
		}
		rc.SetWriteDeadline(time.Now().Add(s.stall))
		if err := writeBatched(w, bc, buf[:have]); err != nil {
			return err
		}
		off += int64(have)
		n -= int64(have)
		have = 0
	}
	rc.SetWriteDeadline(time.Time{})
	return nil
}

// writeBatched writes p to w with the TLS records it makes collected by bc
// (nil: written one by one).
func writeBatched(w io.Writer, bc *batchConn, p []byte) error {
	if bc == nil {
		_, err := w.Write(p)
		return err
	}
	bc.hold()
	_, err := w.Write(p)
	if rerr := bc.release(); err == nil {
		err = rerr
	}
	return err
}

// parseRange parses a Range header for a file of size bytes. Without one it
// returns the whole file. Only a single byte range is supported ("a-b", "a-",
// "-n"); anything else that is not satisfiable returns ErrRange.
func parseRange(v string, size int64) (off, n int64, partial bool, err error) {
	if v == "" {
		return 0, size, false, nil
	}
	bad := fmt.Errorf("%w: %q for %d bytes", ErrRange, v, size)
	spec, ok := strings.CutPrefix(v, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false, bad
	}
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, 0, false, bad
	}
	num := func(s string) (int64, bool) {
		if s == "" || len(s) > 19 {
			return 0, false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
		}
		x, err := strconv.ParseInt(s, 10, 64)
		return x, err == nil
	}
	if a == "" {
		k, ok := num(b)
		if !ok || k == 0 || size == 0 {
			return 0, 0, false, bad
		}
		k = min(k, size)
		return size - k, k, true, nil
	}
	start, ok := num(a)
	if !ok || start >= size {
		return 0, 0, false, bad
	}
	end := size - 1
	if b != "" {
		e, ok := num(b)
		if !ok || e < start {
			return 0, 0, false, bad
		}
		end = min(e, size-1)
	}
	return start, end - start + 1, true, nil
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request) {
	cids, err := readCIDs(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fp := callerFP(r)
	if err := s.slots.Acquire(r.Context(), fp); err != nil {
		return
	}
	defer s.slots.Release(fp)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	var total int64
	var hdr [8]byte
	for _, cid := range cids {
		f, err := s.opts.Library.OpenContent(cid)
		if err != nil {
			binary.BigEndian.PutUint64(hdr[:], batchMissing)
			if _, err := w.Write(hdr[:]); err != nil {
				return
			}
			continue
		}
		size := f.Entry().Size
		if size > share.BlockSize || total+size > MaxBatchBytes {
			f.Close()
			binary.BigEndian.PutUint64(hdr[:], batchMissing)
			if _, err := w.Write(hdr[:]); err != nil {
				return
			}
			continue
		}
		total += size
		binary.BigEndian.PutUint64(hdr[:], uint64(size))
		rc.SetWriteDeadline(time.Now().Add(s.stall))
		_, err = w.Write(hdr[:])
		if err == nil {
			err = s.stream(w, r, f, buf, 0, size, 0)
		}
		f.Close()
		if err != nil {
			s.log.Debug("batch aborted", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

func (s *Server) goodbye(w http.ResponseWriter, r *http.Request) {
	var in Info
	// The body is optional; a malformed one is ignored.
	readJSON(w, r, &in)
	if s.opts.Hooks.Goodbye != nil {
		s.opts.Hooks.Goodbye(callerFP(r), in)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) hello(w http.ResponseWriter, r *http.Request) {
	var in Info
	if err := readJSON(w, r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	fp := callerFP(r)
	if in.Fingerprint != fp {
		s.fail(w, r, fmt.Errorf("%w: hello fingerprint does not match the caller's certificate", ErrBadRequest))
		return
	}
	if s.opts.Hooks.Hello != nil {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			s.opts.Hooks.Hello(fp, ap.Addr().Unmap(), in)
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
