package share

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func TestHashAtMatchesHashReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, BlockSize - 1, BlockSize, BlockSize + 1, 5*BlockSize + 12345} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		want, err := HashReader(bytes.NewReader(data), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{1, 2, 7} {
			got, err := HashAt(bytes.NewReader(data), int64(size), workers)
			if err != nil {
				t.Fatalf("size %d, %d workers: %v", size, workers, err)
			}
			if got.ContentID() != want.ContentID() {
				t.Errorf("size %d, %d workers: content id %s, want %s", size, workers, got.ContentID(), want.ContentID())
			}
		}
	}
}

func TestHashAtShortFile(t *testing.T) {
	data := bytes.Repeat([]byte{1}, 3*BlockSize)
	_, err := HashAt(bytes.NewReader(data[:2*BlockSize+10]), int64(len(data)), 2)
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("short file: %v, want ErrChanged", err)
	}
}

// FuzzHashesUnmarshal decodes hash lists as they come from a peer's
// /v1/hashes: anything is refused or decodes to a list whose count matches
// its size and that encodes back to the same bytes.
func FuzzHashesUnmarshal(f *testing.F) {
	one, _ := Hashes{Size: 1, Blocks: [][HashSize]byte{BlockHash([]byte("x"))}}.MarshalBinary()
	empty, _ := Hashes{Size: 0}.MarshalBinary()
	two, _ := Hashes{Size: BlockSize + 1, Blocks: make([][HashSize]byte, 2)}.MarshalBinary()
	for _, seed := range [][]byte{one, empty, two, one[:7], append(one, 0), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Hashes
		if err := h.UnmarshalBinary(b); err != nil {
			return
		}
		if h.Size < 0 || NumBlocks(h.Size) != len(h.Blocks) {
			t.Fatalf("accepted %d hashes for %d bytes", len(h.Blocks), h.Size)
		}
		back, err := h.MarshalBinary()
		if err != nil || string(back) != string(b) {
			t.Fatalf("does not encode back: %v", err)
		}
		if cid := h.ContentID(); !ValidContentID(cid) {
			t.Fatalf("content id %q of a decoded list is not valid", cid)
		}
	})
}
