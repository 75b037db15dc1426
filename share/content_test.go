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
