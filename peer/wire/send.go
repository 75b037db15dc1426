package wire

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"porch/share"
)

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
