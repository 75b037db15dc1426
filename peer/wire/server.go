package wire

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
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
	Version() uint64
}

// Hooks are called by the server for the notifications peers send. They run
// on the request's goroutine, possibly concurrently, and should return
// quickly. fp is the caller's certificate fingerprint. Nil hooks are skipped.
type Hooks struct {
	Hello   func(fp string, remote netip.Addr, info Info) // POST /v1/hello from remote; info.Fingerprint == fp
	Seen    func(fp, path string)                         // every request from an authenticated peer, before it is handled
	Goodbye func(fp string, info Info)                    // POST /v1/goodbye; info is the optional body
	Pair    func(fp string) error                         // POST /v1/pair: the caller asks this peer's user to compare the pairing code

	// Offers (offers.go): an offer from the caller at remote, a question
	// about one and its withdrawal (errors wrapping share.ErrNotFound for
	// tokens the caller did not offer), and the library of an offer this
	// peer made to the caller (share.ErrNotFound unless the grant holds).
	Offer       func(fp string, remote netip.Addr, req OfferRequest) (OfferStatus, error)
	OfferStatus func(fp, token string) (OfferStatus, error)
	OfferCancel func(fp, token string) error
	Offered     func(fp, token string) (Library, error)
}

// ServerOptions configure a Server. Zero fields take defaults.
type ServerOptions struct {
	Identity *identity.Identity // required
	Library  Library            // required
	// ViewFor returns the library as the caller whose client certificate
	// has fingerprint fp may see it (items it may not see absent from every
	// answer); it is called once per request and must be safe for
	// concurrent use. Nil: every caller sees Library.
	ViewFor       func(fp string) Library
	Self          func() Info // name and port for /v1/info; id, fp, v and totals are filled in
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
	grants *http.ServeMux // the endpoints under /v1/offered/{id}/
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
	s.mux.HandleFunc("POST /v1/pair", s.pair)
	s.mux.HandleFunc("POST /v1/offers", s.offer)
	s.mux.HandleFunc("GET /v1/offers/{id}", s.offerStatus)
	s.mux.HandleFunc("DELETE /v1/offers/{id}", s.offerCancel)
	s.mux.HandleFunc("/v1/offered/{id}/{rest...}", s.offered)
	s.grants = s.newGrantMux()
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
	if s.opts.Hooks.Seen != nil {
		s.opts.Hooks.Seen(callerFP(r), r.URL.Path)
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxRequestBody)
	s.mux.ServeHTTP(w, r)
}

func callerFP(r *http.Request) string { return identity.PeerFingerprint(*r.TLS) }

// lib returns the library as the caller of r may see it: under
// /v1/offered/{id}/, the offer's items (see offered), else the shares.
func (s *Server) lib(r *http.Request) Library {
	if l, ok := r.Context().Value(libKey{}).(Library); ok {
		return l
	}
	if s.opts.ViewFor == nil {
		return s.opts.Library
	}
	return s.opts.ViewFor(callerFP(r))
}

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
