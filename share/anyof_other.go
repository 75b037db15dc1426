//go:build !amd64

package share

// indexAnchors returns the index of the first byte of b that may anchor a
// secret pattern (-, _, K or z), or -1.
func indexAnchors(b []byte) int { return indexAny4Go(b, anchorSet) }
