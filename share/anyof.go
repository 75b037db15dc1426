package share

// isAnchor reports whether c is one of the bytes every secret pattern holds
// at a known place: - (PEM, PuTTY, glpat-, xox?-, sk-), _ (gh?_,
// github_pat_, npm_, ?k_live_), K (AKIA) or z (AIza).
func isAnchor(c byte) bool { return c == '-' || c == '_' || c == 'K' || c == 'z' }

// forAnchorsGo is forAnchors a byte at a time: for what the vector code
// leaves and for machines without it.
func forAnchorsGo(b []byte, from, limit int, fn func(int) bool) {
	for i := from; i < limit; i++ {
		if isAnchor(b[i]) && !fn(i) {
			return
		}
	}
}
