package share

// indexAny4Go returns the index of the first byte of b that is one of the
// four bytes of set (the first in the low byte), or -1, a byte at a time:
// for what the vector code leaves and for machines without it.
func indexAny4Go(b []byte, set uint32) int {
	c0, c1, c2, c3 := byte(set), byte(set>>8), byte(set>>16), byte(set>>24)
	for i, c := range b {
		if c == c0 || c == c1 || c == c2 || c == c3 {
			return i
		}
	}
	return -1
}

// isAnchor reports whether c is one of the anchor bytes.
func isAnchor(c byte) bool { return c == '-' || c == '_' || c == 'K' || c == 'z' }

// packSet packs four bytes for indexAny4Go.
func packSet(c0, c1, c2, c3 byte) uint32 {
	return uint32(c0) | uint32(c1)<<8 | uint32(c2)<<16 | uint32(c3)<<24
}
