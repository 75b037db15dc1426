package share

import (
	"errors"
	"strings"
	"testing"
)

var nameCases = []struct {
	name string
	ok   bool
}{
	{"a.txt", true},
	{"Übung ñ 日本.flac", true},
	{".bashrc", true},
	{"a b", true},
	{"con.txt.bak", false},
	{"", false},
	{".", false},
	{"..", false},
	{"a/b", false},
	{`a\b`, false},
	{"a\x00b", false},
	{"a\nb", false},
	{"a\x7fb", false},
	{"a\u0085b", false},
	{"\xff\xfe", false},
	{"invoice\u202efdp.exe", false},
	{"a\u2066b", false},
	{"CON", false},
	{"con", false},
	{"nul.txt", false},
	{"Aux.tar.gz", false},
	{"COM1", false},
	{"lpt9.doc", false},
	{"COM0", true},
	{"COM10", true},
	{"COM¹", false},
	{"console", true},
	{"trailing.", false},
	{"trailing ", false},
	{"x.partial", false},
	{"x.PARTIAL", false},
	{"x.partial.state", false},
	{"x.partial.txt", true},
	{strings.Repeat("a", 255), true},
	{strings.Repeat("a", 256), false},
	{strings.Repeat("é", 128), false}, // 256 bytes
}

func TestValidateName(t *testing.T) {
	for _, tc := range nameCases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateName(tc.name)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadName) {
				t.Fatalf("error %v does not wrap ErrBadName", err)
			}
		})
	}
}

var pathCases = []struct {
	path string
	ok   bool
}{
	{"", true},
	{"music", true},
	{"music/album/01.flac", true},
	{"/etc/passwd", false},
	{"../x", false},
	{"a/../../x", false},
	{"a/./b", false},
	{"a//b", false},
	{"a/", false},
	{"/", false},
	{"%2e%2e/x", true}, // a literal name, not decoded; harmless
	{"a\\..\\..\\x", false},
	{strings.Repeat("a/", 63) + "a", true},
	{strings.Repeat("a/", 64) + "a", false},
	{strings.Repeat(strings.Repeat("b", 200)+"/", 21), false},
}

func TestValidatePath(t *testing.T) {
	for _, tc := range pathCases {
		t.Run(tc.path, func(t *testing.T) {
			err := ValidatePath(tc.path)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidatePath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrBadPath) {
				t.Fatalf("error %v does not wrap ErrBadPath", err)
			}
		})
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, tc := range pathCases {
		f.Add(tc.path)
	}
	for _, tc := range nameCases {
		f.Add(tc.name)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		// Anything accepted must be a clean, local, bounded slash path.
		if len(p) > MaxPathBytes || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
			t.Fatalf("accepted %q", p)
		}
		for _, part := range splitPath(p) {
			if part == "" || part == "." || part == ".." || len(part) > MaxNameBytes {
				t.Fatalf("accepted %q with component %q", p, part)
			}
			if ValidateName(part) != nil {
				t.Fatalf("path %q accepted but component %q is not", p, part)
			}
		}
	})
}

func TestNumbered(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a.txt", 1, "a (1).txt"},
		{"notes", 2, "notes (2)"},
		{".bashrc", 1, ".bashrc (1)"},
		{"a.tar.gz", 3, "a.tar (3).gz"},
	} {
		if got := numbered(tc.in, tc.n); got != tc.want {
			t.Errorf("numbered(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
