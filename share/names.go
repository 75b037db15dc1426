package share

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on names and paths accepted from other machines.
const (
	MaxNameBytes = 255  // one path component, in bytes
	MaxPathBytes = 4096 // a whole slash path, in bytes
	MaxDepth     = 64   // components in a slash path
)

// Suffixes reserved for the download store's files in progress.
const (
	partialSuffix = ".partial"
	stateSuffix   = ".partial.state"
)

// ValidateName reports whether name is acceptable as one path component coming
// from another machine: valid UTF-8, non-empty, at most MaxNameBytes bytes, no
// '/', '\\', NUL or control characters, not "." or "..", no Windows reserved
// device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9, with any extension), no
// bidirectional control characters (they disguise extensions), no
// trailing '.' or ' ', and not one of the store's reserved suffixes. Errors
// wrap ErrBadName.
func ValidateName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %q: %s", ErrBadName, name, why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameBytes:
		return bad("too long")
	case !utf8.ValidString(name):
		return bad("not UTF-8")
	case name == "." || name == "..":
		return bad("dot name")
	}
	for _, r := range name {
		if r == '/' || r == '\\' || r == 0 || unicode.IsControl(r) {
			return bad("separator or control character")
		}
		if unicode.Is(unicode.Bidi_Control, r) {
			// "invoice\u202Efdp.exe" displays as "invoiceexe.pdf".
			return bad("bidirectional control character")
		}
		if r == utf8.RuneError {
			return bad("not UTF-8")
		}
	}
	if last := name[len(name)-1]; last == '.' || last == ' ' {
		return bad("trailing dot or space")
	}
	if isReservedDevice(name) {
		return bad("reserved device name")
	}
	low := strings.ToLower(name)
	if strings.HasSuffix(low, partialSuffix) || strings.HasSuffix(low, stateSuffix) {
		return bad("reserved suffix")
	}
	if !filepath.IsLocal(name) {
		return bad("not a local name")
	}
	return nil
}

// isReservedDevice reports whether name is a Windows device name, with or
// without an extension ("nul.txt" is as bad as "NUL").
func isReservedDevice(name string) bool {
	stem := name
	if i := strings.IndexByte(stem, '.'); i >= 0 {
		stem = stem[:i]
	}
	stem = strings.ToUpper(strings.TrimRight(stem, " "))
	switch stem {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(stem) == 4 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) {
		c := stem[3]
		return c >= '1' && c <= '9'
	}
	// Windows also treats superscript digits as device numbers (COM¹).
	if len(stem) > 3 && (strings.HasPrefix(stem, "COM") || strings.HasPrefix(stem, "LPT")) {
		switch stem[3:] {
		case "¹", "²", "³":
			return true
		}
	}
	return false
}

// ValidatePath reports whether p is acceptable as a slash path coming from
// another machine: relative, at most MaxPathBytes bytes and MaxDepth
// components, each of which passes ValidateName. The empty path (the top of a
// tree) is valid. Errors wrap ErrBadPath.
func ValidatePath(p string) error {
	if p == "" {
		return nil
	}
	if len(p) > MaxPathBytes {
		return fmt.Errorf("%w: %d bytes", ErrBadPath, len(p))
	}
	parts := strings.Split(p, "/")
	if len(parts) > MaxDepth {
		return fmt.Errorf("%w: %d levels deep", ErrBadPath, len(parts))
	}
	for _, part := range parts {
		if err := ValidateName(part); err != nil {
			return fmt.Errorf("%w: %q: %v", ErrBadPath, p, err)
		}
	}
	return nil
}

// FoldKey returns the key under which names that a case-insensitive file
// system would treat as the same collide.
func FoldKey(name string) string {
	return strings.ToLower(name)
}

// splitPath splits a slash path into its components; "" gives none.
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// numbered returns name with " (n)" inserted before its extension: "a.txt" →
// "a (1).txt", "notes" → "notes (1)", ".bashrc" → ".bashrc (1)".
func numbered(name string, n int) string {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	if stem == "" || ext == "" {
		return fmt.Sprintf("%s (%d)", name, n)
	}
	return fmt.Sprintf("%s (%d)%s", stem, n, ext)
}
