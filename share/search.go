package share

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Bounds of a search query.
const (
	MaxQueryTerms = 32 // words, phrases and filters in one query
)

// ErrQuery is wrapped by every error ParseQuery returns.
var ErrQuery = errors.New("bad search")

// ErrSize is wrapped by the errors of ParseSize.
var ErrSize = errors.New("not a size")

// Kind restricts a search to files or folders.
type Kind int

// Kinds of entry a query may ask for.
const (
	AnyKind Kind = iota
	FilesOnly
	FoldersOnly
)

// Query is a parsed search (see ParseQuery). Words, phrases and exclusions
// are folded (see Fold).
type Query struct {
	Words   []string // each must occur in the name
	Phrases []string // each must occur in the name as written, spaces included
	Not     []string // none may occur in the name
	Exts    []string // the name ends in "." and one of these (files only); empty: any
	MinSize int64    // smallest size (bytes) that matches
	MaxSize int64    // largest size that matches
	Kind    Kind
}

// Empty reports whether q asks for nothing at all: no words, phrases,
// extensions, sizes or kind (exclusions alone ask for nothing). An empty
// query matches nothing.
func (q Query) Empty() bool {
	return len(q.Words) == 0 && len(q.Phrases) == 0 && len(q.Exts) == 0 &&
		q.MinSize == 0 && q.MaxSize == math.MaxInt64 && q.Kind == AnyKind
}

// ParseQuery parses the search syntax that Porch peers share (PROTOCOL.md,
// "Search"): words the name must contain, "an exact phrase", -word to leave
// out names containing it, ext:flac (or ext:flac,mp3), size>100MB (also <,
// >=, <=, =), type:file or type:folder. Matching ignores case and accents
// (see Fold). A word that looks like a filter but is not one, such as
// "size:big", is an error, so a typo does not silently match nothing.
func ParseQuery(s string) (Query, error) {
	q := Query{MaxSize: math.MaxInt64}
	terms, err := splitTerms(s)
	if err != nil {
		return q, err
	}
	if len(terms) > MaxQueryTerms {
		return q, fmt.Errorf("%w: more than %d terms", ErrQuery, MaxQueryTerms)
	}
	for _, t := range terms {
		if t.quoted {
			if f := Fold(t.text); strings.TrimSpace(f) != "" {
				q.Phrases = append(q.Phrases, f)
			}
			continue
		}
		if err := q.addTerm(t.text); err != nil {
			return q, err
		}
	}
	if q.MinSize > q.MaxSize {
		return q, fmt.Errorf("%w: no size is both at least %d and at most %d bytes", ErrQuery, q.MinSize, q.MaxSize)
	}
	return q, nil
}

// term is one space-separated or quoted piece of a query.
type term struct {
	text   string
	quoted bool
}

// splitTerms splits s at spaces, keeping "quoted phrases" whole.
func splitTerms(s string) ([]term, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrQuery)
	}
	var out []term
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		if s == "" {
			return out, nil
		}
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("%w: a phrase opened with \" is not closed", ErrQuery)
			}
			out = append(out, term{s[1 : 1+end], true})
			s = s[2+end:]
			continue
		}
		end := strings.IndexFunc(s, unicode.IsSpace)
		if end < 0 {
			end = len(s)
		}
		out = append(out, term{s[:end], false})
		s = s[end:]
	}
}

// addTerm adds one unquoted term: a filter, an exclusion or a word.
func (q *Query) addTerm(t string) error {
	lower := strings.ToLower(t)
	switch {
	case strings.HasPrefix(lower, "ext:"):
		for _, e := range strings.Split(lower[len("ext:"):], ",") {
			e = strings.TrimPrefix(e, ".")
			if e == "" || strings.ContainsAny(e, "/\\") {
				return fmt.Errorf("%w: %q: write extensions like ext:flac or ext:jpg,png", ErrQuery, t)
			}
			q.Exts = append(q.Exts, Fold(e))
		}
		return nil
	case strings.HasPrefix(lower, "type:"):
		switch lower[len("type:"):] {
		case "file", "files":
			q.Kind = FilesOnly
		case "folder", "folders", "dir", "directory":
			q.Kind = FoldersOnly
		default:
			return fmt.Errorf("%w: %q: the types are type:file and type:folder", ErrQuery, t)
		}
		return nil
	case strings.HasPrefix(lower, "size"):
		return q.addSize(t, lower[len("size"):])
	case strings.HasPrefix(t, "-") && len(t) > 1:
		q.Not = append(q.Not, Fold(t[1:]))
		return nil
	case strings.ContainsRune(t, ':') && !strings.HasPrefix(lower, "http"):
		if k := strings.IndexByte(lower, ':'); isFilterName(lower[:k]) {
			return fmt.Errorf("%w: %q: the filters are ext:, size>, size< and type:", ErrQuery, t)
		}
	}
	q.Words = append(q.Words, Fold(t))
	return nil
}

// isFilterName reports whether a word before ':' looks like a filter someone
// meant to write.
func isFilterName(s string) bool {
	switch s {
	case "ext", "type", "size", "kind", "is", "name", "in":
		return true
	}
	return false
}

// addSize adds a size bound: rest is ">100MB", "<=1GB", "=0" and so on.
func (q *Query) addSize(t, rest string) error {
	var op string
	for _, o := range []string{">=", "<=", ">", "<", "="} {
		if strings.HasPrefix(rest, o) {
			op = o
			break
		}
	}
	if op == "" {
		if rest == "" || rest[0] == ':' {
			return fmt.Errorf("%w: %q: write sizes like size>100MB or size<1GB", ErrQuery, t)
		}
		q.Words = append(q.Words, Fold(t)) // a word that starts with "size", like "sizes"
		return nil
	}
	n, err := ParseSize(rest[len(op):])
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrQuery, t, err)
	}
	switch op {
	case ">":
		q.MinSize = max(q.MinSize, n+1)
	case ">=":
		q.MinSize = max(q.MinSize, n)
	case "<":
		if n == 0 {
			return fmt.Errorf("%w: %q: nothing is smaller than 0 bytes", ErrQuery, t)
		}
		q.MaxSize = min(q.MaxSize, n-1)
	case "<=":
		q.MaxSize = min(q.MaxSize, n)
	case "=":
		q.MinSize, q.MaxSize = max(q.MinSize, n), min(q.MaxSize, n)
	}
	return nil
}

// Match reports whether an entry with this name, kind and size matches q.
// An empty query matches nothing.
func (q Query) Match(name string, dir bool, size int64) bool {
	if q.Empty() {
		return false
	}
	switch {
	case q.Kind == FilesOnly && dir, q.Kind == FoldersOnly && !dir:
		return false
	case size < q.MinSize || size > q.MaxSize:
		return false
	case len(q.Exts) > 0 && dir:
		return false
	}
	folded := Fold(name)
	if len(q.Exts) > 0 {
		ok := false
		for _, e := range q.Exts {
			if len(folded) > len(e) && strings.HasSuffix(folded, e) && folded[len(folded)-len(e)-1] == '.' {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, w := range q.Words {
		if !strings.Contains(folded, w) {
			return false
		}
	}
	for _, p := range q.Phrases {
		if !strings.Contains(folded, p) {
			return false
		}
	}
	for _, w := range q.Not {
		if strings.Contains(folded, w) {
			return false
		}
	}
	return true
}

// accents removes combining marks after canonical decomposition: "é" is "e".
var accents = transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)

// Fold returns s as search compares it: lower case, without accents ("Été"
// and "ete" fold alike). ASCII text, most names, takes a fast path.
func Fold(s string) string {
	ascii := true
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if 'A' <= c && c <= 'Z' {
			upper = true
		}
	}
	if ascii {
		if !upper {
			return s
		}
		return strings.ToLower(s)
	}
	lower := strings.ToLower(s)
	out, _, err := transform.String(accents, lower)
	if err != nil {
		return lower
	}
	return out
}

// sizeUnits are the units ParseSize accepts, by lower-case name.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize parses a size such as "100MB", "1.5 GiB", "4k" or "4096".
// Units are decimal (KB = 1000 bytes) unless binary (KiB = 1024); case does
// not matter. The result is rounded to whole bytes and is never negative.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q: %w; write it like 100MB or 4KiB", s, ErrSize)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w; write it like 100MB or 4KiB", s, ErrSize)
	}
	bytes := v * float64(mult)
	if bytes >= math.MaxInt64/2 {
		return 0, fmt.Errorf("%q: %w: too large", s, ErrSize)
	}
	return int64(math.Round(bytes)), nil
}
