//go:build !linux

package share

import (
	"fmt"
	"os"
)

// setOrigin records nothing: extended attributes are recorded on Linux only.
func setOrigin(_ *os.File, origin string) error {
	if origin == "" {
		return nil
	}
	return fmt.Errorf("%w: not on this system", ErrNoOrigin)
}

// Origin returns "": origins are recorded on Linux only.
func Origin(string) string { return "" }
