package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"porch/share"
)

// List returns the children of folder p ("" the top), fetching every page.
// Every entry must be a valid direct child of p; at most MaxListEntries are
// accepted.
func (c *Client) List(ctx context.Context, p string) ([]share.Entry, error) {
	if err := checkReqPath(p); err != nil {
		return nil, err
	}
	var out []share.Entry
	err := c.pages(ctx, "/v1/ls", p, listBytes, func(e share.Entry) error {
		if parent(e.Path) != p && e.Path != p { // a file lists as itself
			return fmt.Errorf("%w: %s is not in %s", ErrBadResponse, Quote(e.Path), Quote(p))
		}
		if len(out) >= MaxListEntries {
			return fmt.Errorf("%w: more than %d entries", ErrBadResponse, MaxListEntries)
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// Tree calls fn for p and everything below it, in pre-order, page by page.
// Every entry must be a valid path at or below p. An error from fn stops the
// walk and is returned.
func (c *Client) Tree(ctx context.Context, p string, fn func(share.Entry) error) error {
	if err := checkReqPath(p); err != nil {
		return err
	}
	return c.pages(ctx, "/v1/tree", p, treeBytes, func(e share.Entry) error {
		if !within(e.Path, p) {
			return fmt.Errorf("%w: %s is not under %s", ErrBadResponse, Quote(e.Path), Quote(p))
		}
		return fn(e)
	})
}

// pages fetches every page of a listing, at most maxBytes of them in all,
// and passes each entry to fn.
func (c *Client) pages(ctx context.Context, endpoint, p string, maxBytes int64, fn func(share.Entry) error) error {
	cursor := ""
	var total int64
	for {
		q := url.Values{"path": {p}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page ListPage
		n, err := c.getJSONn(ctx, http.MethodGet, endpoint, q, nil, &page, min(MaxPageBytes, maxBytes-total))
		if err != nil {
			if errors.Is(err, ErrBadResponse) && total+n >= maxBytes {
				return fmt.Errorf("peer %s: %s %s: %w: the listing goes on past %d MiB", c.label(), endpoint, Quote(p), ErrBadResponse, maxBytes>>20)
			}
			return err
		}
		total += n
		for _, e := range page.Entries {
			if err := checkEntry(e); err != nil {
				return fmt.Errorf("peer %s: %s %s: %w", c.label(), endpoint, Quote(p), err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if page.Next == "" {
			return nil
		}
		if len(page.Entries) == 0 || page.Next == cursor || len(page.Next) > 256 {
			return fmt.Errorf("peer %s: %s %s: %w: cursor does not advance", c.label(), endpoint, Quote(p), ErrBadResponse)
		}
		cursor = page.Next
	}
}

// Search asks the peer for entries matching q (at most MaxSearch).
func (c *Client) Search(ctx context.Context, q string) ([]share.Entry, error) {
	var res searchReply
	if err := c.getJSON(ctx, http.MethodGet, "/v1/search", url.Values{"q": {q}, "limit": {strconv.Itoa(MaxSearch)}}, nil, &res, MaxSearchBytes); err != nil {
		return nil, err
	}
	if len(res.Results) > MaxSearch {
		return nil, fmt.Errorf("peer %s: search: %w: %d results", c.label(), ErrBadResponse, len(res.Results))
	}
	for _, e := range res.Results {
		if err := checkEntry(e); err != nil {
			return nil, fmt.Errorf("peer %s: search: %w", c.label(), err)
		}
	}
	return res.Results, nil
}

// Has returns the subset of cids the peer holds (at most MaxCIDs per call).
func (c *Client) Has(ctx context.Context, cids []string) ([]string, error) {
	if len(cids) > MaxCIDs {
		return nil, fmt.Errorf("%w: more than %d content ids", ErrBadRequest, MaxCIDs)
	}
	asked := make(map[string]bool, len(cids))
	for _, id := range cids {
		asked[id] = true
	}
	var res hasReply
	if err := c.getJSON(ctx, http.MethodPost, "/v1/has", nil, cidList{CIDs: cids}, &res, MaxHasBytes); err != nil {
		return nil, err
	}
	for _, id := range res.Has {
		if !asked[id] {
			return nil, fmt.Errorf("peer %s: has: %w: %s was not asked for", c.label(), ErrBadResponse, Quote(id))
		}
	}
	return res.Has, nil
}

// Hashes fetches the block hashes of cid and checks that they derive cid.
func (c *Client) Hashes(ctx context.Context, cid string) (share.Hashes, error) {
	if !share.ValidContentID(cid) {
		return share.Hashes{}, fmt.Errorf("%w: %q", share.ErrBadContentID, cid)
	}
	if err := c.ensure(ctx); err != nil {
		return share.Hashes{}, err
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/hashes/"+cid, nil, nil, nil, http.StatusOK)
	if err != nil {
		return share.Hashes{}, err
	}
	defer resp.Body.Close()
	// A file's size fits in 63 bits, but a list for more than 2^40 bytes
	// (32 MiB of hashes) is refused as absurd.
	const maxHashes = 8 + (1<<40/share.BlockSize)*share.HashSize
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxHashes+1))
	if err != nil {
		return share.Hashes{}, fmt.Errorf("peer %s: hashes: %w", c.label(), err)
	}
	if len(b) > maxHashes {
		return share.Hashes{}, fmt.Errorf("peer %s: hashes: %w: too long", c.label(), ErrBadResponse)
	}
	var h share.Hashes
	if err := h.UnmarshalBinary(b); err != nil {
		return share.Hashes{}, fmt.Errorf("peer %s: %w: %v", c.label(), ErrBadResponse, err)
	}
	if h.ContentID() != cid {
		return share.Hashes{}, fmt.Errorf("peer %s: hashes for %s: %w", c.label(), cid, share.ErrHashMismatch)
	}
	return h, nil
}

// ReadRange fills p with the bytes of content cid starting at off, reading
// straight into p. The peer must answer 206 with exactly that range.
func (c *Client) ReadRange(ctx context.Context, cid string, off int64, p []byte) error {
	if !share.ValidContentID(cid) {
		return fmt.Errorf("%w: %q", share.ErrBadContentID, cid)
	}
	if off < 0 {
		return fmt.Errorf("%w: offset %d", ErrRange, off)
	}
	if len(p) == 0 {
		return nil
	}
	if err := c.ensure(ctx); err != nil {
		return err
	}
	end := off + int64(len(p)) - 1
	hdr := http.Header{"Range": {"bytes=" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(end, 10)}}
	resp, err := c.do(ctx, http.MethodGet, "/v1/content/"+cid, nil, nil, hdr, http.StatusPartialContent)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.ContentLength != int64(len(p)) {
		return fmt.Errorf("peer %s: content %s: %w: length %d, want %d", c.label(), cid, ErrBadResponse, resp.ContentLength, len(p))
	}
	cr := resp.Header.Get("Content-Range")
	prefix := "bytes " + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(end, 10) + "/"
	if !strings.HasPrefix(cr, prefix) {
		return fmt.Errorf("peer %s: content %s: %w: Content-Range %s, want %s*", c.label(), cid, ErrBadResponse, Quote(cr), prefix)
	}
	if _, err := io.ReadFull(resp.Body, p); err != nil {
		return fmt.Errorf("peer %s: content %s at %d: %w", c.label(), cid, off, err)
	}
	return nil
}

// Batch fetches the contents of small files (at most one block each) in one
// request and calls fn with each one the peer holds, in order: i is the index
// in cids, data the bytes (valid only during the call; not verified). Content
// the peer lacks is skipped. An error from fn stops the batch.
func (c *Client) Batch(ctx context.Context, cids []string, fn func(i int, data []byte) error) error {
	if len(cids) > MaxCIDs {
		return fmt.Errorf("%w: more than %d content ids", ErrBadRequest, MaxCIDs)
	}
	if len(cids) == 0 {
		return nil
	}
	if err := c.ensure(ctx); err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, "/v1/batch", nil, cidList{CIDs: cids}, nil, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Records are small: read the body in large pieces.
	err = readBatch(bufio.NewReaderSize(resp.Body, 64<<10), len(cids), fn)
	var bad *batchError
	if errors.As(err, &bad) {
		return fmt.Errorf("peer %s: batch item %d: %w", c.label(), bad.item, bad.err)
	}
	return err
}

// batchError is a malformed or cut record of a batch response.
type batchError struct {
	item int
	err  error
}

func (e *batchError) Error() string { return fmt.Sprintf("batch item %d: %v", e.item, e.err) }
func (e *batchError) Unwrap() error { return e.err }

// readBatch decodes the records of a batch response for n content ids from
// body and calls fn with each file's bytes (valid only during the call), in
// order; it stops at fn's first error. A record longer than a block, or
// records adding up to more than MaxBatchBytes, is ErrBadResponse before
// any of its bytes are read; a body that ends early is io.ErrUnexpectedEOF
// or io.EOF, as a *batchError naming the record. What follows the n-th
// record is not read.
func readBatch(body io.Reader, n int, fn func(i int, data []byte) error) error {
	var buf []byte
	var hdr [8]byte
	var total int64
	for i := range n {
		if _, err := io.ReadFull(body, hdr[:]); err != nil {
			return &batchError{i, err}
		}
		size := binary.BigEndian.Uint64(hdr[:])
		if size == batchMissing {
			continue
		}
		if size > share.BlockSize || total+int64(size) > MaxBatchBytes {
			return &batchError{i, fmt.Errorf("%w: %d bytes", ErrBadResponse, size)}
		}
		total += int64(size)
		if cap(buf) < int(size) {
			buf = make([]byte, size, max(size, 64<<10))
		}
		data := buf[:size]
		if _, err := io.ReadFull(body, data); err != nil {
			return &batchError{i, err}
		}
		if err := fn(i, data); err != nil {
			return err
		}
	}
	return nil
}

// Hello announces self to the peer (POST /v1/hello). self.Fingerprint must be
// this client's own fingerprint.
func (c *Client) Hello(ctx context.Context, self Info) error {
	return c.post(ctx, "/v1/hello", self)
}

// Goodbye tells the peer this one is leaving (POST /v1/goodbye).
func (c *Client) Goodbye(ctx context.Context) error {
	return c.post(ctx, "/v1/goodbye", struct{}{})
}

// Pair asks the peer's user to compare the pairing code with this one's.
func (c *Client) Pair(ctx context.Context) error {
	return c.post(ctx, "/v1/pair", struct{}{})
}

func (c *Client) post(ctx context.Context, p string, body any) error {
	if err := c.ensure(ctx); err != nil {
		return err
	}
	resp, err := c.do(ctx, http.MethodPost, p, nil, body, nil, http.StatusNoContent)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
