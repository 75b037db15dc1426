package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"porch/share"
)

// selfInfo is this peer's Info as lib shows it: the totals count only what
// the caller may see.
func (s *Server) selfInfo(lib Library) Info {
	in := s.opts.Self()
	in.V = ProtocolVersion
	in.ID = s.opts.Identity.ID
	in.Fingerprint = s.opts.Identity.Fingerprint
	in.Files, in.Bytes = lib.Totals()
	in.HashedBytes, _ = lib.HashProgress()
	in.Index = lib.Version()
	return in
}

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, s.selfInfo(s.lib(r)))
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
	all, err := s.lib(r).List(p)
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

// walkerFrom is implemented by a Library that can start a walk part of the
// way in (share.Library.WalkFrom), so that paging through /v1/tree does not
// walk again over every page before.
type walkerFrom interface {
	WalkFrom(p string, skip int, fn func(share.Entry) error) error
}

func (s *Server) tree(w http.ResponseWriter, r *http.Request) {
	p, start, limit, err := pageArgs(r, MaxTreePage)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := ListPage{Entries: []share.Entry{}}
	i := 0
	lib := s.lib(r)
	walk := func(fn func(share.Entry) error) error { return lib.Walk(p, fn) }
	if wf, ok := lib.(walkerFrom); ok {
		// The entries before the page are passed over, not built.
		i = start
		walk = func(fn func(share.Entry) error) error { return wf.WalkFrom(p, start, fn) }
	}
	err = walk(func(e share.Entry) error {
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
		if found := s.lib(r).Search(text, limit); found != nil {
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
	lib := s.lib(r)
	for _, c := range cids {
		if lib.Has(c) {
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
	h, err := s.lib(r).Hashes(cid)
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
	lib := s.lib(r)
	s.sendFile(w, r, func() (File, error) { return lib.Open(p) })
}

func (s *Server) content(w http.ResponseWriter, r *http.Request) {
	cid := r.PathValue("cid")
	if !share.ValidContentID(cid) {
		s.fail(w, r, fmt.Errorf("%w: %q", share.ErrBadContentID, cid))
		return
	}
	// faultContent: a test-only fault hook (build tag porchfault); otherwise it returns its arguments.
	lib := s.lib(r)
	s.sendFile(w, r, func() (File, error) { return faultContent(lib.OpenContent(cid)) })
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
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// Records of small files are gathered into chunks of batchChunk, and the
	// TLS records of those into writes of up to batchSize (the hold), instead
	// of a chunk, a record and a system call or more per file.
	if bc := batchConnOf(r.Context()); bc != nil {
		bc.hold()
		defer bc.release()
	}
	bw := bufio.NewWriterSize(w, batchChunk)
	defer bw.Flush()
	w = bufWriter{bw, w}
	var total int64
	var hdr [8]byte
	lib := s.lib(r)
	if sr, ok := lib.(smallReader); ok {
		bp := blockPool.Get().(*[]byte)
		defer blockPool.Put(bp)
		s.batchSmall(w, r, sr, cids, *bp)
		return
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for _, cid := range cids {
		f, err := lib.OpenContent(cid)
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

// blockPool holds the buffers batchSmall reads whole files into.
var blockPool = sync.Pool{New: func() any { b := make([]byte, share.BlockSize); return &b }}

// smallReader is a Library that reads a small file whole in one call
// (share.View.ReadSmall), with fewer system calls than OpenContent.
type smallReader interface {
	ReadSmall(cid string, limit int64, buf []byte) ([]byte, int64, error)
}

// batchSmall writes the records of a batch response (after its header) for
// a library that reads small files whole: the same records as batch's own
// loop, each file read in one call and written with one deadline.
func (s *Server) batchSmall(w http.ResponseWriter, r *http.Request, lib smallReader, cids []string, buf []byte) {
	rc := http.NewResponseController(w)
	var total int64
	var hdr [8]byte
	for _, cid := range cids {
		data, _, err := lib.ReadSmall(cid, min(share.BlockSize, MaxBatchBytes-total), buf)
		if err != nil || data == nil {
			// Not shared, changed, or too large for a batch.
			binary.BigEndian.PutUint64(hdr[:], batchMissing)
			if _, err := w.Write(hdr[:]); err != nil {
				return
			}
			continue
		}
		total += int64(len(data))
		if err := s.bucket.Wait(r.Context(), len(data)); err != nil {
			return
		}
		rc.SetWriteDeadline(time.Now().Add(s.stall))
		binary.BigEndian.PutUint64(hdr[:], uint64(len(data)))
		_, err = w.Write(hdr[:])
		if err == nil {
			_, err = w.Write(data)
		}
		if err != nil {
			s.log.Debug("batch aborted", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// batchChunk is how much of a batch response is gathered before it is
// handed to the connection.
const batchChunk = 64 << 10

// bufWriter is a ResponseWriter whose body goes through a buffer.
type bufWriter struct {
	*bufio.Writer
	http.ResponseWriter
}

func (b bufWriter) Write(p []byte) (int, error) { return b.Writer.Write(p) }

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (b bufWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }

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

// pair passes a pairing request to the engine, which refuses callers it has
// not verified (404, as if the endpoint did not exist for them) and callers
// that ask too often (503).
func (s *Server) pair(w http.ResponseWriter, r *http.Request) {
	var in struct{}
	readJSON(w, r, &in) // the body is empty; anything else is ignored
	if s.opts.Hooks.Pair == nil {
		s.fail(w, r, share.ErrNotFound)
		return
	}
	if err := s.opts.Hooks.Pair(callerFP(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
