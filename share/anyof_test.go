package share

import (
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// strictAnchor is what forAnchors must never pass over: an anchor byte
// whose neighbour can belong to a pattern (see forAnchors).
func strictAnchor(b []byte, i int) bool {
	if i == 0 {
		return isAnchor(b[0])
	}
	prev := b[i-1]
	switch b[i] {
	case '_':
		return strings.IndexByte("pousrbmk", prev) >= 0
	case '-':
		return strings.IndexByte("Ytbpek", prev) >= 0 || i+1 < len(b) && b[i+1] == '-'
	case 'K':
		return prev == 'A'
	case 'z':
		return prev == 'I'
	}
	return false
}

// checkAnchors checks forAnchors over b[from:limit]: every strict anchor is
// visited, in order, nothing but anchor bytes is, and stopping stops.
func checkAnchors(t *testing.T, b []byte, from, limit int) {
	t.Helper()
	var got []int
	forAnchors(b, from, limit, func(i int) bool { got = append(got, i); return true })
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("visited %v: not in order", got)
	}
	for _, i := range got {
		if i < from || i >= limit || !isAnchor(b[i]) {
			t.Fatalf("visited %d, not an anchor in [%d,%d) of %q", i, from, limit, b)
		}
	}
	for i := from; i < limit; i++ {
		if strictAnchor(b, i) && !slices.Contains(got, i) {
			t.Fatalf("passed over the anchor at %d in [%d,%d) of %q", i, from, limit, b)
		}
	}
	if len(got) > 1 {
		n := 0
		forAnchors(b, from, limit, func(int) bool { n++; return n < 2 })
		if n != 2 {
			t.Fatalf("went on after fn returned false: %d calls", n)
		}
	}
}

func TestForAnchors(t *testing.T) {
	r := mrand.New(mrand.NewPCG(9, 9))
	for n := 0; n < 400; n++ {
		for trial := 0; trial < 20; trial++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = "abcdeYtAIgh pksm_01\n"[r.IntN(20)]
			}
			for k := 0; k < trial%4 && n > 0; k++ {
				b[r.IntN(n)] = "-_Kz"[r.IntN(4)]
			}
			from := 0
			if n > 0 && trial%2 == 1 {
				from = r.IntN(n)
			}
			checkAnchors(t, b, from, n)
		}
	}
	// More candidates than one call gathers.
	dense := []byte{}
	for range 500 {
		dense = append(dense, "a-b_p_AK Iz--"...)
	}
	checkAnchors(t, dense, 0, len(dense))
}

func FuzzForAnchors(f *testing.F) {
	f.Add([]byte("some text with_an underscore, ghp_x and a dash - here, AKIA and AIza"), uint16(3))
	f.Fuzz(func(t *testing.T, b []byte, from uint16) {
		checkAnchors(t, b, int(from)%(len(b)+1), len(b))
	})
}
