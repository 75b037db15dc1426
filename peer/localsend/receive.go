package localsend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"
	"time"

	"porch/share"
)

// Errors of a file that arrives.
var (
	ErrSize     = errors.New("localsend: the body does not have the announced size")
	ErrChecksum = errors.New("localsend: checksum mismatch")
)

// chunk is how much of a body is read at a time.
const chunk = 256 << 10

// deadliner sets the read deadline of what a body comes from; nil when
// there is none to set.
type deadliner func(time.Time) error

// receiveFile writes an upload's body as f into store and returns the final
// slash path, or the status code and error to answer.
func receiveFile(ctx context.Context, w http.ResponseWriter, r *http.Request, store *share.Store, f File) (string, int, error) {
	rc := http.NewResponseController(w)
	defer rc.SetReadDeadline(time.Time{})
	rel, err := writeStream(ctx, r.Body, rc.SetReadDeadline, store, f)
	switch {
	case err == nil:
		return rel, http.StatusOK, nil
	case errors.Is(err, ErrChecksum):
		return "", http.StatusUnprocessableEntity, err
	case errors.Is(err, context.Canceled):
		return "", http.StatusConflict, errors.New("the session was cancelled")
	}
	return "", http.StatusInternalServerError, err
}

// writeStream copies body, which must hold exactly f.Size bytes (and hash
// to f.SHA256 when it is given), into a new file of store named f.FileName,
// and returns the final slash path (numbered when the name was taken).
// Reading stops when ctx ends, after idleRead without a byte (through
// setDeadline, when not nil), or at the first byte beyond f.Size; nothing
// stays behind then.
func writeStream(ctx context.Context, body io.Reader, setDeadline deadliner, store *share.Store, f File) (string, error) {
	out, err := store.CreateStream(f.FileName)
	if err != nil {
		return "", err
	}
	defer out.Abort()
	var h hash.Hash
	if f.SHA256 != "" {
		h = sha256.New()
	}
	buf := make([]byte, chunk)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if setDeadline != nil {
			setDeadline(time.Now().Add(idleRead))
		}
		k, err := body.Read(buf)
		if k > 0 {
			if n+int64(k) > f.Size {
				return "", fmt.Errorf("%w: more than %d bytes", ErrSize, f.Size)
			}
			if _, werr := out.Write(buf[:k]); werr != nil {
				return "", werr
			}
			if h != nil {
				h.Write(buf[:k])
			}
			n += int64(k)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading the body after %d bytes: %w", n, err)
		}
	}
	if n != f.Size {
		return "", fmt.Errorf("%w: %d bytes of %d", ErrSize, n, f.Size)
	}
	if h != nil && !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), f.SHA256) {
		return "", ErrChecksum
	}
	return out.Commit()
}
