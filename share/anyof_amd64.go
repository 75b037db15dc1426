package share

import "golang.org/x/sys/cpu"

// hasAVX2 says whether anchorsAVX2 may run here.
var hasAVX2 = cpu.X86.HasAVX2

// anchorsAVX2 writes the offsets of the anchors among the n bytes at p to
// out (see anyof_amd64.s).
//
//go:noescape
func anchorsAVX2(p *byte, n int, out *[96]int32) (count, next int)

// forAnchors calls fn, in order, on every index in [from, limit) of b that
// may anchor a secret pattern, until fn returns false: every anchor byte
// whose neighbour can belong to a pattern (_ after gh[pousr], github, npm or
// [sr]k; - after PuTTY, glpat, xox[bpe] or sk, or before another -; K after
// A; z after I); the byte-at-a-time code calls it on every anchor byte (the
// checks look at the neighbours again). With AVX2 the candidates of up to a
// few thousand bytes are gathered in one vectorised pass, which passes over
// the _ of snake_case names and the - of words, instead of a call per
// candidate and an IndexByte pass per anchor byte.
func forAnchors(b []byte, from, limit int, fn func(int) bool) {
	i := from
	if hasAVX2 && limit-i > 32 {
		if i == 0 { // the vector code reads the byte before
			if isAnchor(b[0]) && !fn(0) {
				return
			}
			i = 1
		}
		var out [96]int32
		// The vector code reads the byte after the range too.
		for end := min(limit, len(b)-1); end-i >= 32; {
			count, next := anchorsAVX2(&b[i], (end-i)&^31, &out)
			for _, o := range out[:count] {
				if !fn(i + int(o)) {
					return
				}
			}
			i += next
		}
	}
	forAnchorsGo(b, i, limit, fn)
}
