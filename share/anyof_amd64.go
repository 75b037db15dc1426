package share

import "golang.org/x/sys/cpu"

// hasAVX2 says whether indexAnchorsAVX2 may run here.
var hasAVX2 = cpu.X86.HasAVX2

// indexAnchorsAVX2 is indexAnchors over the n bytes at p (n a positive
// multiple of 32; p[-1] is read too), in anyof_amd64.s.
//
//go:noescape
func indexAnchorsAVX2(p *byte, n int) int

// indexAnchors returns the index of the first byte of b that may anchor a
// secret pattern: -, K or z, or _ right after one of the letters that end a
// token's prefix (gh[pousr]_, github_, npm_, [sr]k_). With AVX2 it is one
// vectorised pass that also passes over the _ of snake_case names, where
// four IndexByte calls would take four passes and stop at every _; it may
// return any _ (the byte-at-a-time code does), since the checks that follow
// look at the letter before it again.
func indexAnchors(b []byte) int {
	if !hasAVX2 || len(b) < 33 {
		return indexAny4Go(b, anchorSet)
	}
	if isAnchor(b[0]) {
		return 0
	}
	n := (len(b) - 1) &^ 31
	if i := indexAnchorsAVX2(&b[1], n); i >= 0 {
		return 1 + i
	}
	if i := indexAny4Go(b[1+n:], anchorSet); i >= 0 {
		return 1 + n + i
	}
	return -1
}
