package discovery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"porch/peer/identity"
)

// TXT keys and the protocol version this package speaks.
const (
	// Version is the value of the TXT key "v" that Porch v1 peers announce.
	// Entries with any other version are ignored.
	Version = "1"

	// MaxNameLen is the longest display name, in bytes of UTF-8, that is
	// announced or accepted.
	MaxNameLen = 64

	keyVersion     = "v"
	keyID          = "id"
	keyName        = "name"
	keyFingerprint = "fp"
	keyIndex       = "iv"

	// maxIndexDigits is the most decimal digits of an index version (the
	// largest uint64 has 20).
	maxIndexDigits = 20

	// maxTXTEntries bounds how many TXT strings of one remote entry are
	// looked at; a well-formed Porch entry has four.
	maxTXTEntries = 32
)

// Errors returned by ParseTXT and New. Check them with errors.Is.
var (
	ErrVersion     = errors.New("discovery: missing or unsupported protocol version")
	ErrID          = errors.New("discovery: invalid peer id")
	ErrFingerprint = errors.New("discovery: invalid certificate fingerprint")
	ErrName        = errors.New("discovery: invalid display name")
	ErrTXT         = errors.New("discovery: malformed TXT record")
	ErrPort        = errors.New("discovery: invalid port")
)

// ParseTXT strictly parses the TXT strings of a remote _porch._tcp entry and
// returns the announcement they describe (ID, Name and Fingerprint set; Port
// and Addrs are not carried in TXT and are left zero).
//
// The strings are taken as zeroconf reports them, in DNS presentation format:
// its DNS library escapes a backslash or quote as \\ or \" and any byte
// outside printable ASCII as \DDD (so "Zoë" arrives as "Zo\195\171").
// ParseTXT undoes that escaping before it looks at the bytes.
//
// It requires v=1, an id that is a UUID in canonical lower-case form, a
// fingerprint of exactly 64 hex digits (returned lower-case) and a name of at
// most MaxNameLen bytes of valid UTF-8 without control characters (the name
// may be empty; an absent name is treated as empty). The index version iv is
// optional (peers before it announce none; Index is then 0) and, when
// present, must be a decimal number without sign or leading zeros that fits
// in 64 bits. Keys are matched case-
// insensitively as RFC 6763 asks; unknown keys and keys without "=" are
// ignored, so later versions can add keys; a known key given twice is an
// error because the two values cannot be told apart safely.
//
// ParseTXT is safe for concurrent use and never panics on any input.
func ParseTXT(txt []string) (Announcement, error) {
	var a Announcement
	if len(txt) > maxTXTEntries {
		return a, fmt.Errorf("%w: %d strings", ErrTXT, len(txt))
	}
	seen := make(map[string]bool, 4)
	var version string
	for _, esc := range txt {
		s, err := unescapeTXT(esc)
		if err != nil {
			return Announcement{}, err
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(k)
		switch k {
		case keyVersion, keyID, keyName, keyFingerprint, keyIndex:
		default:
			continue
		}
		if seen[k] {
			return Announcement{}, fmt.Errorf("%w: duplicate key %q", ErrTXT, k)
		}
		seen[k] = true
		switch k {
		case keyVersion:
			version = v
		case keyID:
			a.ID = v
		case keyName:
			a.Name = v
		case keyFingerprint:
			a.Fingerprint = v
		case keyIndex:
			if a.Index, err = parseIndex(v); err != nil {
				return Announcement{}, err
			}
		}
	}
	if version != Version {
		return Announcement{}, ErrVersion
	}
	if err := validID(a.ID); err != nil {
		return Announcement{}, err
	}
	fp, err := normalFingerprint(a.Fingerprint)
	if err != nil {
		return Announcement{}, err
	}
	a.Fingerprint = fp
	if err := validName(a.Name); err != nil {
		return Announcement{}, err
	}
	return a, nil
}

// buildTXT returns the TXT strings announcing a, escaped for zeroconf's DNS
// library, which reads a backslash in a TXT string as the start of an escape.
// The fields must already be valid (New and SetName make sure of that).
func buildTXT(a Announcement) []string {
	return []string{
		keyVersion + "=" + Version,
		keyID + "=" + a.ID,
		keyName + "=" + strings.ReplaceAll(a.Name, `\`, `\\`),
		keyFingerprint + "=" + a.Fingerprint,
		keyIndex + "=" + strconv.FormatUint(a.Index, 10),
	}
}

// parseIndex parses the value of iv: 1 to 20 decimal digits, no leading
// zero (but "0"), at most the largest uint64.
func parseIndex(v string) (uint64, error) {
	if v == "" || len(v) > maxIndexDigits || len(v) > 1 && v[0] == '0' {
		return 0, fmt.Errorf("%w: index version %q", ErrTXT, clip(v))
	}
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return 0, fmt.Errorf("%w: index version %q", ErrTXT, clip(v))
		}
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: index version %q out of range", ErrTXT, clip(v))
	}
	return n, nil
}

// unescapeTXT turns one TXT string from DNS presentation format (\DDD and
// \X escapes) back into its bytes.
func unescapeTXT(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		i++
		switch {
		case i == len(s):
			return "", fmt.Errorf("%w: trailing backslash", ErrTXT)
		case i+2 < len(s) && isDigit(s[i]) && isDigit(s[i+1]) && isDigit(s[i+2]):
			n := int(s[i]-'0')*100 + int(s[i+1]-'0')*10 + int(s[i+2]-'0')
			if n > 255 {
				return "", fmt.Errorf("%w: bad escape \\%s", ErrTXT, s[i:i+3])
			}
			b = append(b, byte(n))
			i += 2
		default:
			b = append(b, s[i])
		}
	}
	return string(b), nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// validID accepts only ids identity.ValidID accepts, so one peer has
// exactly one spelling of its id (and of its mDNS instance name).
func validID(id string) error {
	if !identity.ValidID(id) {
		return fmt.Errorf("%w: %q", ErrID, clip(id))
	}
	return nil
}

// normalFingerprint checks for exactly 64 hex digits and returns them in
// lower case.
func normalFingerprint(fp string) (string, error) {
	if len(fp) != 64 {
		return "", fmt.Errorf("%w: want 64 hex digits, got %d bytes", ErrFingerprint, len(fp))
	}
	for i := 0; i < len(fp); i++ {
		c := fp[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return "", fmt.Errorf("%w: not hex", ErrFingerprint)
		}
	}
	return strings.ToLower(fp), nil
}

func validName(name string) error {
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrName, len(name), MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not UTF-8", ErrName)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("%w: control character", ErrName)
		}
	}
	return nil
}

// cleanName turns any string into a name validName accepts: invalid UTF-8
// and control characters are dropped, surrounding space trimmed, and the
// result cut to MaxNameLen bytes on a character boundary.
func cleanName(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > MaxNameLen {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	return strings.TrimSpace(name)
}

// clip shortens hostile input before it goes into an error or a log line.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
