//go:build !amd64

package share

// forAnchors calls fn, in order, on every index in [from, limit) of b that
// holds an anchor byte (-, _, K or z), until fn returns false.
func forAnchors(b []byte, from, limit int, fn func(int) bool) { forAnchorsGo(b, from, limit, fn) }
