package peer

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"porch/share"
)

// validatePath checks a path from the wire: "" is the top of the tree,
// anything else must be a valid relative slash path.
func validatePath(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > 4096 || !utf8.ValidString(p) {
		return fmt.Errorf("%w: %q", share.ErrBadPath, p)
	}
	parts := strings.Split(p, "/")
	if len(parts) > 64 {
		return fmt.Errorf("%w: %q", share.ErrBadPath, p)
	}
	for _, c := range parts {
		if c == "" || c == "." || c == ".." || len(c) > 255 || strings.ContainsAny(c, "\\\x00") {
			return fmt.Errorf("%w: %q", share.ErrBadPath, p)
		}
		for _, r := range c {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("%w: %q", share.ErrBadPath, p)
			}
		}
	}
	return nil
}
