package share

import (
	mrand "math/rand/v2"
	"testing"
)

// naiveAnchor is indexAnchors' contract: the first -, K or z, or _ after a
// token prefix's last letter; an _ elsewhere may be returned too.
func naiveAnchor(b []byte) (first int, loose int) {
	first, loose = -1, -1
	for i, c := range b {
		if loose < 0 && isAnchor(c) {
			loose = i
		}
		if c == '-' || c == 'K' || c == 'z' || c == '_' && i > 0 && contains8("pousrbmk", b[i-1]) {
			return i, loose
		}
	}
	return -1, loose
}

func contains8(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// indexAnchors never passes over an anchor, on every length and position
// (the vector part and the byte-at-a-time rest alike), and returns nothing
// but anchors.
func TestIndexAnchors(t *testing.T) {
	r := mrand.New(mrand.NewPCG(9, 9))
	for n := 0; n < 300; n++ {
		for trial := 0; trial < 30; trial++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = "abcdefgh pksm_01\n"[r.IntN(17)]
			}
			for k := 0; k < trial%3 && n > 0; k++ {
				b[r.IntN(n)] = "-_Kz"[r.IntN(4)]
			}
			checkAnchors(t, b)
		}
	}
}

func checkAnchors(t *testing.T, b []byte) {
	t.Helper()
	first, loose := naiveAnchor(b)
	got := indexAnchors(b)
	switch {
	case got < 0 && first >= 0:
		t.Fatalf("len %d: missed the anchor at %d (%q)", len(b), first, b)
	case got >= 0 && (got < loose || first >= 0 && got > first || !isAnchor(b[got])):
		t.Fatalf("len %d: indexAnchors = %d; first anchor %d, first candidate %d (%q)", len(b), got, first, loose, b)
	}
}

func FuzzIndexAnchors(f *testing.F) {
	f.Add([]byte("some text with_an underscore, ghp_x and a dash - here, AKIA and AIza"))
	f.Fuzz(func(t *testing.T, b []byte) { checkAnchors(t, b) })
}
