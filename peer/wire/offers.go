package wire

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"porch/peer/identity"
	"porch/share"
)

// Bounds on one offer (PROTOCOL.md, "Offers"): what a receiver accepts from
// a sender's description of what it offers, and what a sender accepts from a
// receiver's status.
const (
	MaxOfferItems       = 1000      // top-level files and folders
	MaxOfferFiles       = 1_000_000 // files in all items
	MaxOfferBytes       = 1 << 50   // bytes in all items (1 PiB)
	MaxOfferStatusBytes = 4 << 10   // bytes of a status answer
	maxOfferReason      = 256       // bytes of a status's reason a sender keeps
)

// The states an offer's status reports.
var offerStates = map[string]bool{"pending": true, "accepted": true, "declined": true, "expired": true,
	"cancelled": true, "done": true, "failed": true}

// OfferItem is one top-level file or folder of an offer.
type OfferItem struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	Dir   bool   `json:"dir"`
	Files int    `json:"files,omitempty"` // a folder's number of files
}

// OfferRequest is the body of POST /v1/offers: what a sender offers. Its
// items are then served by the sender under /v1/offered/{ID}/ to the
// receiver's certificate only.
type OfferRequest struct {
	ID    string      `json:"id"`   // the sender's token: 32 lowercase hex digits
	From  Info        `json:"from"` // the sender; From.Fingerprint is the caller's certificate's
	Items []OfferItem `json:"items"`
	Files int         `json:"files"` // files in all items
	Bytes int64       `json:"bytes"` // bytes in all items
}

// OfferStatus is what a receiver says of an offer: POST /v1/offers and
// GET /v1/offers/{id}.
type OfferStatus struct {
	State   string    `json:"state"` // pending accepted declined expired cancelled done failed
	Done    int64     `json:"done"`  // bytes received so far
	Total   int64     `json:"total"` // bytes offered
	Expires time.Time `json:"expires"`
	Reason  string    `json:"reason,omitempty"`
}

// ValidOfferToken reports whether s is a well-formed offer token.
func ValidOfferToken(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// checkOfferRequest validates an offer from the caller with fingerprint fp.
func checkOfferRequest(req *OfferRequest, fp string) error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: offer: %s", ErrBadRequest, fmt.Sprintf(f, a...))
	}
	switch {
	case !ValidOfferToken(req.ID):
		return bad("id %s is not 32 hex digits", Quote(req.ID))
	case req.From.Fingerprint != fp:
		return bad("from.fp does not match the caller's certificate")
	case !identity.ValidID(req.From.ID):
		return bad("from.id %s is not a UUID", Quote(req.From.ID))
	case req.From.Port <= 0 || req.From.Port > 65535:
		return bad("from.port %d", req.From.Port)
	case len(req.Items) == 0 || len(req.Items) > MaxOfferItems:
		return bad("%d items (1 to %d)", len(req.Items), MaxOfferItems)
	}
	files, bytes := 0, int64(0)
	for _, it := range req.Items {
		if err := share.ValidateName(it.Name); err != nil {
			return bad("%v", err)
		}
		n := it.Files
		if !it.Dir {
			if n > 1 {
				return bad("file %s counts %d files", Quote(it.Name), n)
			}
			n = 1
		}
		if it.Size < 0 || it.Size > MaxOfferBytes || n < 0 || n > MaxOfferFiles {
			return bad("%s: size %d, %d files", Quote(it.Name), it.Size, n)
		}
		files += n
		bytes += it.Size
		if files > MaxOfferFiles || bytes > MaxOfferBytes {
			return bad("more than %d files or %d bytes", MaxOfferFiles, int64(MaxOfferBytes))
		}
	}
	if files != req.Files || bytes != req.Bytes {
		return bad("totals %d files, %d bytes; the items hold %d, %d", req.Files, req.Bytes, files, bytes)
	}
	return nil
}

// checkOfferStatus validates a receiver's status answer.
func checkOfferStatus(st *OfferStatus) error {
	if !offerStates[st.State] {
		return fmt.Errorf("%w: offer state %s", ErrBadResponse, Quote(st.State))
	}
	if st.Done < 0 || st.Total < 0 {
		return fmt.Errorf("%w: offer status with negative counts", ErrBadResponse)
	}
	st.Reason = strings.ToValidUTF8(st.Reason, "?")
	if len(st.Reason) > maxOfferReason {
		st.Reason = strings.ToValidUTF8(st.Reason[:maxOfferReason], "") + "…"
	}
	st.Reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, st.Reason)
	return nil
}

// Server side.

func (s *Server) offer(w http.ResponseWriter, r *http.Request) {
	var req OfferRequest
	if err := readJSON(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	fp := callerFP(r)
	if err := checkOfferRequest(&req, fp); err != nil {
		s.fail(w, r, err)
		return
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if s.opts.Hooks.Offer == nil || err != nil {
		s.fail(w, r, fmt.Errorf("%w: this peer takes no offers", share.ErrNotFound))
		return
	}
	st, err := s.opts.Hooks.Offer(fp, ap.Addr().Unmap(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, st)
}

// offerToken returns the offer id of a request to /v1/offers/{id}, or
// answers 400 for a malformed one and 404 when hooked is false (this peer
// takes no offers) and reports false.
func (s *Server) offerToken(w http.ResponseWriter, r *http.Request, hooked bool) (string, bool) {
	tok := r.PathValue("id")
	if !ValidOfferToken(tok) {
		s.fail(w, r, fmt.Errorf("%w: offer id %s", ErrBadRequest, Quote(tok)))
		return "", false
	}
	if !hooked {
		s.fail(w, r, share.ErrNotFound)
		return "", false
	}
	return tok, true
}

func (s *Server) offerStatus(w http.ResponseWriter, r *http.Request) {
	tok, ok := s.offerToken(w, r, s.opts.Hooks.OfferStatus != nil)
	if !ok {
		return
	}
	st, err := s.opts.Hooks.OfferStatus(callerFP(r), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, st)
}

func (s *Server) offerCancel(w http.ResponseWriter, r *http.Request) {
	tok, ok := s.offerToken(w, r, s.opts.Hooks.OfferCancel != nil)
	if !ok {
		return
	}
	if err := s.opts.Hooks.OfferCancel(callerFP(r), tok); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// libKey is the context key of the library a request is served from when
// it is not the server's own (an offer's grant).
type libKey struct{}

// newGrantMux is the mux of what an offer's grant serves: the endpoints a
// download uses, under /v1/offered/{id}/ instead of /v1/.
func (s *Server) newGrantMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/ls", s.ls)
	m.HandleFunc("GET /v1/tree", s.tree)
	m.HandleFunc("GET /v1/file", s.file)
	m.HandleFunc("GET /v1/hashes/{cid}", s.hashes)
	m.HandleFunc("GET /v1/content/{cid}", s.content)
	m.HandleFunc("POST /v1/has", s.has)
	m.HandleFunc("POST /v1/batch", s.batch)
	return m
}

// offered serves /v1/offered/{id}/...: the items of an offer this peer made,
// to the certificate it made the offer to, while the grant lasts. To anyone
// else it does not exist (404).
func (s *Server) offered(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("id")
	if !ValidOfferToken(tok) || s.opts.Hooks.Offered == nil {
		s.fail(w, r, share.ErrNotFound)
		return
	}
	lib, err := s.opts.Hooks.Offered(callerFP(r), tok)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	r2 := r.WithContext(context.WithValue(r.Context(), libKey{}, lib))
	u := *r.URL
	u.Path, u.RawPath = "/v1/"+r.PathValue("rest"), ""
	r2.URL = &u
	s.grants.ServeHTTP(w, r2)
}

// Client side.

// Offer offers items to the peer (POST /v1/offers) and returns its first
// status.
func (c *Client) Offer(ctx context.Context, req OfferRequest) (OfferStatus, error) {
	var st OfferStatus
	if err := c.getJSON(ctx, http.MethodPost, "/v1/offers", nil, req, &st, MaxOfferStatusBytes); err != nil {
		return OfferStatus{}, err
	}
	if err := checkOfferStatus(&st); err != nil {
		return OfferStatus{}, fmt.Errorf("peer %s: %w", c.label(), err)
	}
	return st, nil
}

// OfferStatus asks the peer where the offer with token tok stands.
func (c *Client) OfferStatus(ctx context.Context, tok string) (OfferStatus, error) {
	if !ValidOfferToken(tok) {
		return OfferStatus{}, fmt.Errorf("%w: offer id %s", ErrBadRequest, Quote(tok))
	}
	var st OfferStatus
	if err := c.getJSON(ctx, http.MethodGet, "/v1/offers/"+tok, nil, nil, &st, MaxOfferStatusBytes); err != nil {
		return OfferStatus{}, err
	}
	if err := checkOfferStatus(&st); err != nil {
		return OfferStatus{}, fmt.Errorf("peer %s: %w", c.label(), err)
	}
	return st, nil
}

// CancelOffer withdraws the offer with token tok (DELETE /v1/offers/{id}).
func (c *Client) CancelOffer(ctx context.Context, tok string) error {
	if !ValidOfferToken(tok) {
		return fmt.Errorf("%w: offer id %s", ErrBadRequest, Quote(tok))
	}
	if err := c.ensure(ctx); err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodDelete, "/v1/offers/"+tok, nil, nil, nil, http.StatusNoContent)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// OfferedScope is the Remote.Scope of a client that fetches the items of
// the offer with token tok from the peer that offered them.
func OfferedScope(tok string) string { return "/v1/offered/" + tok }
