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
	"strings"
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
		if !strings.EqualFold(fp, i.Fingerprint) {
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
	case strings.EqualFold(d.Fingerprint, s.opts.Cert.Fingerprint):
	case s.opts.Seen != nil:
		s.opts.Seen(d)
	}
	self := s.Self()
	self.Port, self.Protocol = 0, ""
	reply(w, http.StatusOK, self)
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
