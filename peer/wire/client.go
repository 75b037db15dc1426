package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"porch/peer/identity"
	"porch/share"
)

// Remote names a peer to talk to: its id, display name, the fingerprint it
// announced, and the addresses (host:port) it may be reached at.
type Remote struct {
	ID, Name, Fingerprint string
	Addrs                 []string
	// Scope, when set, replaces the /v1 of every call but Info (see
	// OfferedScope): the client then fetches the items of an offer.
	Scope string
}

// Client talks to one remote peer over pinned mutual TLS. It is safe for
// concurrent use; connections are pooled (at most 16 per peer).
//
// With Remote.ID and Fingerprint set, every handshake must present that
// fingerprint and Known must agree with it. With Fingerprint empty (a peer
// given by address), the first handshake's fingerprint is learned and pinned
// for the client's life, and the first call checks the peer's /v1/info: the
// id it reports is checked against Known (and Remote.ID if set) before any
// other request is made.
type Client struct {
	self   *identity.Identity
	known  *identity.Known
	remote Remote
	hc     *http.Client
	tr     *http.Transport

	lastOK atomic.Int64 // UnixNano of the last response received; 0 for none

	mu      sync.Mutex
	addrs   []string
	fp      string // pinned fingerprint; "" until learned
	id      string // verified peer id; "" until verified
	lastErr error
}

// clientHost is the placeholder host in request URLs; dialing ignores it and
// tries the Remote's addresses.
const clientHost = "peer.porch"

// NewClient returns a client for r, presenting id's certificate. known may be
// nil (no trust-on-first-use check).
func NewClient(id *identity.Identity, known *identity.Known, r Remote) *Client {
	c := &Client{self: id, known: known, remote: r, addrs: append([]string(nil), r.Addrs...), fp: r.Fingerprint}
	if r.ID != "" && r.Fingerprint != "" {
		c.id = r.ID
	}
	tcfg := id.ClientTLS(c.verify)
	tcfg.NextProtos = []string{"http/1.1"}
	var protos http.Protocols
	protos.SetHTTP1(true)
	c.tr = &http.Transport{
		DialContext:           c.dial,
		TLSClientConfig:       tcfg,
		TLSHandshakeTimeout:   TLSHandshakeTimeout,
		ResponseHeaderTimeout: ResponseHeaderTimeout,
		MaxConnsPerHost:       16,
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       IdleTimeout / 2,
		Protocols:             &protos,
		ForceAttemptHTTP2:     false,
		DisableCompression:    true,
	}
	c.hc = &http.Client{
		Transport: c.tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c
}

// SetAddrs replaces the addresses new connections are dialed at.
func (c *Client) SetAddrs(addrs []string) {
	c.mu.Lock()
	c.addrs = append([]string(nil), addrs...)
	c.mu.Unlock()
}

// Fingerprint returns the pinned fingerprint ("" before the first handshake
// of a client created without one).
func (c *Client) Fingerprint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fp
}

// Close closes idle connections. Calls in progress are not interrupted.
func (c *Client) Close() { c.tr.CloseIdleConnections() }

// LastResponse is when the last response of any status arrived from the
// peer over this client (zero if none did): a sign of life. Safe for
// concurrent use.
func (c *Client) LastResponse() time.Time {
	if n := c.lastOK.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// verify pins the server's fingerprint during the TLS handshake.
func (c *Client) verify(fp string) error {
	c.mu.Lock()
	if c.fp == "" {
		c.fp = fp
	}
	want := c.fp
	c.mu.Unlock()
	if err := identity.Pin(want)(fp); err != nil {
		return err
	}
	if c.known != nil && c.remote.ID != "" {
		return c.known.Check(c.remote.ID, fp)
	}
	return nil
}

// dial tries each address in turn, the last one that worked first.
func (c *Client) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	c.mu.Lock()
	addrs := append([]string(nil), c.addrs...)
	c.mu.Unlock()
	if len(addrs) == 0 {
		return nil, fmt.Errorf("peer %s: no address", c.label())
	}
	d := net.Dialer{Timeout: DialTimeout}
	var errs []error
	for i, a := range addrs {
		conn, err := d.DialContext(ctx, network, a)
		if err == nil {
			if i > 0 {
				c.mu.Lock()
				if len(c.addrs) > i && c.addrs[i] == a {
					c.addrs[0], c.addrs[i] = c.addrs[i], c.addrs[0]
				}
				c.mu.Unlock()
			}
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (c *Client) label() string {
	switch {
	case c.remote.Name != "":
		return c.remote.Name
	case c.remote.ID != "":
		return c.remote.ID
	case len(c.remote.Addrs) > 0:
		return c.remote.Addrs[0]
	}
	return "?"
}

// do sends a request and returns the response if its status is want;
// otherwise it returns a *StatusError.
func (c *Client) do(ctx context.Context, method, rawPath string, query url.Values, body any, hdr http.Header, want int) (*http.Response, error) {
	if c.remote.Scope != "" && strings.HasPrefix(rawPath, "/v1/") && rawPath != "/v1/info" {
		rawPath = c.remote.Scope + rawPath[len("/v1"):]
	}
	u := url.URL{Scheme: "https", Host: clientHost, Path: rawPath}
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w", c.label(), err)
	}
	c.lastOK.Store(time.Now().UnixNano())
	if resp.StatusCode != want {
		defer resp.Body.Close()
		se := &StatusError{Code: resp.StatusCode}
		var er errorReply
		if json.NewDecoder(io.LimitReader(resp.Body, MaxErrorBytes)).Decode(&er) == nil {
			se.Msg = er.Error
		}
		return nil, fmt.Errorf("peer %s: %s %s: %w", c.label(), method, rawPath, se)
	}
	if resp.TLS != nil {
		if fp := identity.PeerFingerprint(*resp.TLS); fp != c.Fingerprint() {
			resp.Body.Close()
			return nil, fmt.Errorf("peer %s: %w", c.label(), identity.ErrFingerprint)
		}
	}
	resp.Body = guardBody(resp.Body, bodyStall)
	return resp, nil
}

// getJSON fetches a JSON document of at most max bytes into v.
func (c *Client) getJSON(ctx context.Context, method, p string, q url.Values, body, v any, max int64) error {
	_, err := c.getJSONn(ctx, method, p, q, body, v, max)
	return err
}

// getJSONn is getJSON that also says how many bytes the body had (max+1
// when it was longer).
func (c *Client) getJSONn(ctx context.Context, method, p string, q url.Values, body, v any, max int64) (int64, error) {
	if err := c.ensure(ctx); err != nil {
		return 0, err
	}
	return c.rawJSON(ctx, method, p, q, body, v, max)
}

func (c *Client) rawJSON(ctx context.Context, method, p string, q url.Values, body, v any, max int64) (int64, error) {
	resp, err := c.do(ctx, method, p, q, body, nil, http.StatusOK)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	n := int64(len(b))
	if err != nil {
		return n, fmt.Errorf("peer %s: %s: %w", c.label(), p, err)
	}
	if n > max {
		return n, fmt.Errorf("peer %s: %s: %w: more than %d bytes", c.label(), p, ErrBadResponse, max)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return n, fmt.Errorf("peer %s: %s: %w: %v", c.label(), p, ErrBadResponse, err)
	}
	return n, nil
}

// ensure verifies the peer's identity through /v1/info if that has not been
// done yet.
func (c *Client) ensure(ctx context.Context) error {
	c.mu.Lock()
	ok := c.id != ""
	c.mu.Unlock()
	if ok {
		return nil
	}
	_, err := c.Info(ctx)
	return err
}

// Info fetches the peer's /v1/info and checks it: the reported fingerprint
// must be the one of the TLS connection, the id must match Remote.ID (if
// set), and Known must accept the pair (ErrKeyChanged otherwise).
func (c *Client) Info(ctx context.Context) (Info, error) {
	var in Info
	if _, err := c.rawJSON(ctx, http.MethodGet, "/v1/info", nil, nil, &in, MaxInfoBytes); err != nil {
		return Info{}, err
	}
	fp := c.Fingerprint()
	if err := checkInfo(in, fp, c.remote.ID); err != nil {
		return Info{}, fmt.Errorf("peer %s: %w", c.label(), err)
	}
	if c.known != nil {
		if err := c.known.Check(in.ID, fp); err != nil {
			return Info{}, fmt.Errorf("peer %s: %w", c.label(), err)
		}
	}
	c.mu.Lock()
	c.id = in.ID
	c.mu.Unlock()
	return in, nil
}

// checkInfo validates a peer's /v1/info: it must report the fingerprint fp
// of the connection it came over, the id wantID if one is expected, an id
// that is a UUID, and counts that are not negative.
func checkInfo(in Info, fp, wantID string) error {
	switch {
	case in.Fingerprint != fp:
		return fmt.Errorf("%w: info reports %s, the connection presents %s", identity.ErrFingerprint, Quote(in.Fingerprint), fp)
	case wantID != "" && in.ID != wantID:
		return fmt.Errorf("%w: id %s, expected %s", ErrBadResponse, Quote(in.ID), Quote(wantID))
	case !identity.ValidID(in.ID):
		return fmt.Errorf("%w: id %s is not a UUID", ErrBadResponse, Quote(in.ID))
	case in.Files < 0 || in.Bytes < 0 || in.HashedBytes < 0:
		return fmt.Errorf("%w: info with negative counts", ErrBadResponse)
	}
	return nil
}

func checkReqPath(p string) error {
	if err := share.ValidatePath(p); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return nil
}
