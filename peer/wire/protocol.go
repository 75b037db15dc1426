package wire

import (
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"porch/share"
)

// ProtocolVersion is the wire protocol version served under /v1 and announced
// as v= in discovery.
const ProtocolVersion = 1

// Limits of protocol v1 (see PROTOCOL.md).
const (
	MaxListPage     = 1000      // entries per /v1/ls page
	MaxTreePage     = 5000      // entries per /v1/tree page
	MaxSearch       = 500       // results per /v1/search
	DefaultSearch   = 100       // results per /v1/search without limit
	MaxQuery        = 256       // bytes of a search query
	MaxCIDs         = 1000      // content ids per /v1/has or /v1/batch
	MaxBatchBytes   = 64 << 20  // payload bytes per /v1/batch response
	MaxRequestBody  = 1 << 20   // bytes of any request body
	MaxHeaderBytes  = 16 << 10  // bytes of request headers
	MaxInfoBytes    = 64 << 10  // bytes of a /v1/info response
	MaxPageBytes    = 8 << 20   // bytes of a /v1/ls or /v1/tree page
	MaxSearchBytes  = 8 << 20   // bytes of a /v1/search response
	MaxHasBytes     = 1 << 20   // bytes of a /v1/has response
	MaxErrorBytes   = 4 << 10   // bytes of an error body read by the client
	MaxConns        = 256       // connections a server accepts in total
	MaxConnsPerIP   = 32        // connections a server accepts from one IP address
	DefaultSlots    = 8         // concurrent uploads of file bytes
	MaxListEntries  = 1 << 20   // entries Client.List accepts over all pages
	MaxListBytes    = 64 << 20  // bytes of all the pages of one Client.List
	MaxTreeBytes    = 512 << 20 // bytes of all the pages of one Client.Tree
	batchMissing    = ^uint64(0)
	contentIDHeader = "X-Porch-Content-Id"
)

// Timeouts of protocol v1.
const (
	ReadHeaderTimeout     = 10 * time.Second
	IdleTimeout           = 90 * time.Second
	WriteStallTimeout     = 30 * time.Second
	BodyReadTimeout       = 30 * time.Second
	DialTimeout           = 5 * time.Second
	TLSHandshakeTimeout   = 5 * time.Second
	ResponseHeaderTimeout = 15 * time.Second
	BodyStallTimeout      = 20 * time.Second // a response body may pause this long between bytes
)

// Info describes a peer, as served by /v1/info and sent by /v1/hello.
type Info struct {
	V           int    `json:"v"`            // protocol version (1)
	ID          string `json:"id"`           // peer id (UUID)
	Name        string `json:"name"`         // display name
	Fingerprint string `json:"fp"`           // certificate fingerprint
	Port        int    `json:"port"`         // TCP port the peer serves on
	Files       int    `json:"files"`        // number of shared files
	Bytes       int64  `json:"bytes"`        // bytes of shared files
	HashedBytes int64  `json:"hashed_bytes"` // bytes hashed so far
	Index       uint64 `json:"iv,omitempty"` // version of the index: a listing may differ only when it changed
}

// ListPage is one page of /v1/ls or /v1/tree.
type ListPage struct {
	Entries []share.Entry `json:"entries"`
	Next    string        `json:"next"` // cursor of the next page; "" on the last page
}

type cidList struct {
	CIDs []string `json:"cids"`
}

type hasReply struct {
	Has []string `json:"has"`
}

type searchReply struct {
	Results []share.Entry `json:"results"`
}

type errorReply struct {
	Error string `json:"error"`
}

// Errors of the transport.
var (
	// ErrBadResponse means a peer sent a response that breaks the protocol
	// (malformed JSON, an invalid entry, a wrong length, too many bytes).
	ErrBadResponse = errors.New("peer: bad response")
	// ErrRange means a requested byte range lies outside the file.
	ErrRange = errors.New("peer: range not satisfiable")
	// ErrBusy means the peer refused the request for lack of resources.
	ErrBusy = errors.New("peer: busy")
	// ErrBadRequest means the peer rejected the request as malformed.
	ErrBadRequest = errors.New("peer: bad request")
)

// StatusError is an HTTP error status a peer answered with. It unwraps to the
// matching share or peer sentinel (share.ErrNotFound for 404, share.ErrChanged
// for 409, share.ErrNotHashed for 425, ErrRange for 416, ErrBusy for 503,
// ErrBadRequest for 400).
type StatusError struct {
	Code int
	Msg  string // the peer's {"error"} text, if any
}

func (e *StatusError) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("peer: %d %s: %s", e.Code, http.StatusText(e.Code), e.Msg)
	}
	return fmt.Sprintf("peer: %d %s", e.Code, http.StatusText(e.Code))
}

// Unwrap returns the sentinel matching the status code, or nil.
func (e *StatusError) Unwrap() error {
	switch e.Code {
	case http.StatusNotFound:
		return share.ErrNotFound
	case http.StatusConflict:
		return share.ErrChanged
	case http.StatusTooEarly:
		return share.ErrNotHashed
	case http.StatusRequestedRangeNotSatisfiable:
		return ErrRange
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		return ErrBusy
	case http.StatusBadRequest:
		return ErrBadRequest
	}
	return nil
}

// statusOf maps an error to the HTTP status the server answers with. It is
// the only place where errors become status codes.
func statusOf(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, share.ErrBadPath), errors.Is(err, share.ErrBadName),
		errors.Is(err, share.ErrBadContentID), errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, share.ErrNotFound), errors.Is(err, share.ErrNotShared):
		return http.StatusNotFound
	case errors.Is(err, share.ErrChanged):
		return http.StatusConflict
	case errors.Is(err, share.ErrNotHashed):
		return http.StatusTooEarly
	case errors.Is(err, ErrRange):
		return http.StatusRequestedRangeNotSatisfiable
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// checkEntry validates an entry received from a remote peer: a valid path
// whose last element is the name, non-negative sizes, and a well-formed
// content id on files only.
func checkEntry(e share.Entry) error {
	if err := share.ValidatePath(e.Path); err != nil || e.Path == "" {
		return fmt.Errorf("%w: entry path %s", ErrBadResponse, Quote(e.Path))
	}
	if path.Base(e.Path) != e.Name {
		return fmt.Errorf("%w: entry %s named %s", ErrBadResponse, Quote(e.Path), Quote(e.Name))
	}
	if e.Size < 0 || e.Files < 0 {
		return fmt.Errorf("%w: entry %s has a negative size", ErrBadResponse, Quote(e.Path))
	}
	if e.ContentID != "" && (e.Dir || !share.ValidContentID(e.ContentID)) {
		return fmt.Errorf("%w: entry %s has content id %s", ErrBadResponse, Quote(e.Path), Quote(e.ContentID))
	}
	return nil
}

// parent returns the folder p is in ("" for a top-level item).
func parent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// within reports whether p is base or below it ("" is the whole tree).
func within(p, base string) bool {
	return base == "" || p == base || strings.HasPrefix(p, base+"/")
}
