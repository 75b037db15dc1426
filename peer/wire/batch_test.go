package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"porch/share"
)

// batchBody frames records as a batch response does: a size (or
// batchMissing, for nil) and that many bytes each.
func batchBody(records ...[]byte) []byte {
	var b []byte
	for _, r := range records {
		if r == nil {
			b = binary.BigEndian.AppendUint64(b, batchMissing)
			continue
		}
		b = binary.BigEndian.AppendUint64(b, uint64(len(r)))
		b = append(b, r...)
	}
	return b
}

// FuzzReadBatch feeds readBatch arbitrary bodies: it never hands over a
// record out of order, longer than a block or beyond MaxBatchBytes in all,
// and reports success only when every record asked for was read.
func FuzzReadBatch(f *testing.F) {
	f.Add(batchBody([]byte("alpha"), nil, []byte{}), 3)
	f.Add(batchBody([]byte("alpha"), nil, []byte{}, []byte("trailing")), 3)
	f.Add(batchBody([]byte("cut")), 2)
	f.Add(binary.BigEndian.AppendUint64(nil, share.BlockSize+1), 1)
	f.Add(binary.BigEndian.AppendUint64(nil, 1<<62), 1)
	f.Add([]byte{0, 0, 0}, 1)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > MaxCIDs {
			return
		}
		last, delivered, total := -1, 0, 0
		err := readBatch(bytes.NewReader(body), n, func(i int, data []byte) error {
			if i <= last || i >= n {
				t.Fatalf("record %d after %d, of %d", i, last, n)
			}
			if len(data) > share.BlockSize {
				t.Fatalf("record %d of %d bytes", i, len(data))
			}
			last = i
			delivered++
			total += len(data)
			return nil
		})
		if total > MaxBatchBytes {
			t.Fatalf("%d bytes delivered", total)
		}
		if err == nil {
			// Every record was read: the body held at least a header each.
			if len(body) < 8*n {
				t.Fatalf("success on %d bytes for %d records", len(body), n)
			}
			return
		}
		var bad *batchError
		if !errors.As(err, &bad) || bad.item < delivered || bad.item >= n {
			t.Fatalf("error %v after %d records of %d", err, delivered, n)
		}
	})
}

// A batch body's records come out in order with missing ones skipped;
// trailing bytes are not read; an oversized or cut record is refused with
// the record it was.
func TestReadBatch(t *testing.T) {
	var got []string
	collect := func(i int, data []byte) error {
		got = append(got, string(rune('0'+i))+"="+string(data))
		return nil
	}
	body := bytes.NewReader(batchBody([]byte("alpha"), nil, []byte{}, []byte("beyond")))
	if err := readBatch(body, 3, collect); err != nil {
		t.Fatal(err)
	}
	if want := []string{"0=alpha", "2="}; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("records %q, want %q", got, want)
	}
	if body.Len() != 8+len("beyond") {
		t.Errorf("%d bytes left unread, want the trailing record's %d", body.Len(), 8+len("beyond"))
	}
	var bad *batchError
	err := readBatch(bytes.NewReader(binary.BigEndian.AppendUint64(batchBody(nil), share.BlockSize+1)), 2, collect)
	if !errors.As(err, &bad) || bad.item != 1 || !errors.Is(err, ErrBadResponse) {
		t.Errorf("oversized record: %v", err)
	}
	err = readBatch(bytes.NewReader(batchBody([]byte("cut"))[:9]), 1, collect)
	if !errors.As(err, &bad) || bad.item != 0 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut record: %v", err)
	}
	err = readBatch(bytes.NewReader(nil), 1, collect)
	if !errors.As(err, &bad) || !errors.Is(err, io.EOF) {
		t.Errorf("empty body: %v", err)
	}
}
