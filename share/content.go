package share

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// BlockSize is the fixed size of the blocks a file is hashed and transferred
// in. Every block but the last is exactly BlockSize bytes.
const BlockSize = 1 << 20

// HashSize is the size of one block hash (SHA-256).
const HashSize = sha256.Size

// contentIDPrefix is the scheme tag of version 1 content ids.
const contentIDPrefix = "p1-"

// Errors shared by the package's users.
var (
	ErrNotFound     = errors.New("share: not found")
	ErrNotShared    = errors.New("share: not shared")
	ErrBadName      = errors.New("share: invalid name")
	ErrBadPath      = errors.New("share: invalid path")
	ErrBadContentID = errors.New("share: invalid content id")
	ErrChanged      = errors.New("share: file changed since it was hashed")
	ErrHashMismatch = errors.New("share: block hash mismatch")
	ErrNotHashed    = errors.New("share: file not hashed yet")
)

// Hashes is the block hash list of one file's content. Its ContentID names the
// content: the same bytes on any machine give the same id.
type Hashes struct {
	Size   int64            // file size in bytes
	Blocks [][HashSize]byte // SHA-256 of each BlockSize block, in order
}

// NumBlocks returns how many blocks a file of size bytes has (0 for an empty file).
func NumBlocks(size int64) int {
	return int((size + BlockSize - 1) / BlockSize)
}

// BlockLen returns the length of block i of a file of size bytes.
func BlockLen(size int64, i int) int {
	off := int64(i) * BlockSize
	if rest := size - off; rest < BlockSize {
		return int(rest)
	}
	return BlockSize
}

// BlockHash returns the hash of one block's bytes.
func BlockHash(b []byte) [HashSize]byte { return sha256.Sum256(b) }

// ContentID returns the content id: "p1-" followed by the hex SHA-256 of the
// file size (8 bytes, big endian), the block size (4 bytes, big endian) and
// every block hash in order.
func (h Hashes) ContentID() string {
	d := sha256.New()
	var hdr [12]byte
	binary.BigEndian.PutUint64(hdr[:8], uint64(h.Size))
	binary.BigEndian.PutUint32(hdr[8:], BlockSize)
	d.Write(hdr[:])
	for i := range h.Blocks {
		d.Write(h.Blocks[i][:])
	}
	return contentIDPrefix + hex.EncodeToString(d.Sum(nil))
}

// Valid reports whether the number of blocks matches the size.
func (h Hashes) Valid() bool {
	return h.Size >= 0 && len(h.Blocks) == NumBlocks(h.Size)
}

// MarshalBinary encodes the hashes as the wire format of /v1/hashes: the size
// as 8 bytes big endian, then the block hashes back to back.
func (h Hashes) MarshalBinary() ([]byte, error) {
	out := make([]byte, 8, 8+len(h.Blocks)*HashSize)
	binary.BigEndian.PutUint64(out, uint64(h.Size))
	for i := range h.Blocks {
		out = append(out, h.Blocks[i][:]...)
	}
	return out, nil
}

// UnmarshalBinary decodes MarshalBinary's format, checking that the number of
// hashes matches the size.
func (h *Hashes) UnmarshalBinary(b []byte) error {
	if len(b) < 8 || (len(b)-8)%HashSize != 0 {
		return fmt.Errorf("hashes: %d bytes is not a hash list", len(b))
	}
	size := int64(binary.BigEndian.Uint64(b))
	n := (len(b) - 8) / HashSize
	if size < 0 || NumBlocks(size) != n {
		return fmt.Errorf("hashes: %d hashes for %d bytes", n, size)
	}
	h.Size = size
	h.Blocks = make([][HashSize]byte, n)
	for i := range h.Blocks {
		copy(h.Blocks[i][:], b[8+i*HashSize:])
	}
	return nil
}

// HashReader reads r to the end and returns its block hashes. buf, if at least
// BlockSize long, is used as the read buffer.
func HashReader(r io.Reader, buf []byte) (Hashes, error) {
	return hashScan(r, buf, nil)
}

// hashScan is HashReader that also passes every block to sc, if not nil.
func hashScan(r io.Reader, buf []byte, sc *secretScanner) (Hashes, error) {
	if len(buf) < BlockSize {
		buf = make([]byte, BlockSize)
	}
	buf = buf[:BlockSize]
	var h Hashes
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			h.Blocks = append(h.Blocks, BlockHash(buf[:n]))
			h.Size += int64(n)
			if sc != nil {
				sc.Write(buf[:n])
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if sc != nil {
				sc.Close()
			}
			return h, nil
		}
		if err != nil {
			return Hashes{}, err
		}
	}
}

// HashAt hashes the first size bytes of r with up to workers goroutines at
// once, each reading its own blocks (so a file already in the page cache is
// verified on every core). A file shorter than size is an error wrapping
// ErrChanged.
func HashAt(r io.ReaderAt, size int64, workers int) (Hashes, error) {
	h := Hashes{Size: size, Blocks: make([][HashSize]byte, NumBlocks(size))}
	workers = max(1, min(workers, len(h.Blocks)))
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			buf := make([]byte, BlockSize)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(h.Blocks) {
					return
				}
				b := buf[:BlockLen(size, i)]
				if n, err := r.ReadAt(b, int64(i)*BlockSize); n < len(b) {
					if err == nil || err == io.EOF {
						err = fmt.Errorf("%w: shorter than %d bytes", ErrChanged, size)
					}
					errs[w] = err
					next.Store(int64(len(h.Blocks))) // stop the others
					return
				}
				h.Blocks[i] = BlockHash(b)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Hashes{}, err
	}
	return h, nil
}

// ValidContentID reports whether s has the form of a version 1 content id.
func ValidContentID(s string) bool {
	if len(s) != len(contentIDPrefix)+2*sha256.Size || s[:len(contentIDPrefix)] != contentIDPrefix {
		return false
	}
	_, err := hex.DecodeString(s[len(contentIDPrefix):])
	return err == nil
}
