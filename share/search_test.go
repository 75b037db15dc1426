package share

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// searchNames is a small library of names, as a music and photo collection
// holds them.
var searchNames = []struct {
	name string
	dir  bool
	size int64
}{
	{"Été indien.flac", false, 30_000_000},
	{"ete.mp3", false, 4_000_000},
	{"Beethoven - Symphony No. 9.FLAC", false, 250_000_000},
	{"Symphony of the Seas.jpg", false, 2_000_000},
	{"Holiday 2024", true, 900_000_000},
	{"holiday notes.txt", false, 1_200},
	{"flac", true, 5},
	{"CAFÉ.png", false, 700_000},
}

func searchMatches(t *testing.T, query string) []string {
	t.Helper()
	q, err := ParseQuery(query)
	if err != nil {
		t.Fatalf("ParseQuery(%q): %v", query, err)
	}
	var out []string
	for _, n := range searchNames {
		if q.Match(n.name, n.dir, n.size) {
			out = append(out, n.name)
		}
	}
	return out
}

func TestQueryMatches(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"ete", []string{"Été indien.flac", "ete.mp3"}},
		{"ÉTÉ", []string{"Été indien.flac", "ete.mp3"}},
		{"cafe", []string{"CAFÉ.png"}},
		{"symphony", []string{"Beethoven - Symphony No. 9.FLAC", "Symphony of the Seas.jpg"}},
		{"symphony -seas", []string{"Beethoven - Symphony No. 9.FLAC"}},
		{`"symphony no"`, []string{"Beethoven - Symphony No. 9.FLAC"}},
		{`"no symphony"`, nil},
		{"ext:flac", []string{"Été indien.flac", "Beethoven - Symphony No. 9.FLAC"}},
		{"ext:.mp3,png", []string{"ete.mp3", "CAFÉ.png"}},
		{"size>100MB", []string{"Beethoven - Symphony No. 9.FLAC", "Holiday 2024"}},
		{"size>100MB type:file", []string{"Beethoven - Symphony No. 9.FLAC"}},
		{"holiday type:folder", []string{"Holiday 2024"}},
		{"holiday type:file", []string{"holiday notes.txt"}},
		{"size<=1200", []string{"holiday notes.txt", "flac"}},
		{"size<1200", []string{"flac"}},
		{"size=5", []string{"flac"}},
		{"size>=1MB size<5MB", []string{"ete.mp3", "Symphony of the Seas.jpg"}},
		{"ext:flac -beethoven", []string{"Été indien.flac"}},
		{"", nil},
		{"   ", nil},
		{"-holiday", nil}, // exclusions alone ask for nothing
		{"sizes", nil},
	} {
		t.Run(tt.query, func(t *testing.T) {
			if got := searchMatches(t, tt.query); !slices.Equal(got, tt.want) {
				t.Errorf("%q matches %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}

var badQueries = []string{
	`"unclosed phrase`,
	"size>lots",
	"size>",
	"size:big",
	"size<0",
	"size>1GB size<1MB",
	"type:song",
	"ext:",
	"ext:a/b",
	"kind:file",
	"\xff",
	strings.Repeat("w ", MaxQueryTerms+1),
}

func TestQueryErrors(t *testing.T) {
	for _, q := range badQueries {
		if _, err := ParseQuery(q); !errors.Is(err, ErrQuery) {
			t.Errorf("ParseQuery(%q) = %v, want an ErrQuery error", q, err)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"100MB", 100_000_000, false}, {"1.5 GiB", 3 << 29, false}, {"4k", 4000, false},
		{"4096", 4096, false}, {"0", 0, false}, {"2TB", 2_000_000_000_000, false},
		{"", 0, true}, {"MB", 0, true}, {"-1MB", 0, true}, {"1..2", 0, true}, {"12 parsecs", 0, true},
		{"99999999999TB", 0, true},
	} {
		got, err := ParseSize(tt.in)
		if tt.err != (err != nil) || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d (error %v)", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrSize) {
			t.Errorf("ParseSize(%q) error %v does not wrap ErrSize", tt.in, err)
		}
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"abc": "abc", "ABC": "abc", "Été": "ete", "CAFÉ": "cafe", "Ångström": "angstrom",
		"naïve": "naive", "日本語": "日本語", "ß": "ß",
	} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

// The library answers the syntax too, over a real index.
func TestLibrarySearchSyntax(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "Musique", "Été.flac"), strings.Repeat("x", 2000))
	writeFile(t, filepath.Join(src, "Musique", "ete.txt"), "x")
	writeFile(t, filepath.Join(src, "ete", "inside.txt"), "x")
	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	item := filepath.Base(src)
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"ete", []string{item + "/ete", item + "/Musique/ete.txt", item + "/Musique/Été.flac"}},
		{"ete type:folder", []string{item + "/ete"}},
		{"ete ext:flac", []string{item + "/Musique/Été.flac"}},
		{"ete size>1KB", []string{item + "/Musique/Été.flac"}},
		{"size>lots", nil},
	} {
		var got []string
		for _, e := range l.Search(tt.query, 0) {
			got = append(got, e.Path)
		}
		slices.Sort(got)
		slices.Sort(tt.want)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Search(%q) = %q, want %q", tt.query, got, tt.want)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, q := range badQueries {
		f.Add(q, "name.flac", int64(10))
	}
	for _, n := range searchNames {
		f.Add(`symphony "no 9" -seas ext:flac size>1MB type:file`, n.name, n.size)
	}
	f.Fuzz(func(t *testing.T, query, name string, size int64) {
		q, err := ParseQuery(query)
		if err != nil {
			if !errors.Is(err, ErrQuery) {
				t.Fatalf("ParseQuery(%q) error %v does not wrap ErrQuery", query, err)
			}
			return
		}
		if len(q.Words)+len(q.Phrases)+len(q.Not)+len(q.Exts) > 2*MaxQueryTerms+len(query) {
			t.Fatalf("ParseQuery(%q) made more terms than the query holds", query)
		}
		if q.MinSize > q.MaxSize {
			t.Fatalf("ParseQuery(%q) accepted an empty size range", query)
		}
		// Folding is idempotent, so a name and its folded form match alike.
		if f := Fold(name); Fold(f) != f {
			t.Fatalf("Fold(%q) = %q, but Fold of that is %q", name, f, Fold(f))
		}
		if q.Match(name, false, size) != q.Match(Fold(name), false, size) {
			t.Fatalf("%q and its folded form match %q differently", name, query)
		}
	})
}

// BenchmarkMatchMillion matches one query against a million names, as a
// search over a million-file share does at the serving peer.
func BenchmarkMatchMillion(b *testing.B) {
	names := make([]string, 1_000_000)
	for i := range names {
		names[i] = fmt.Sprintf("Track %06d - Artist %d.flac", i, i%977)
	}
	names[500_000] = "Été indien.flac"
	q, err := ParseQuery("ete ext:flac -live")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for _, name := range names {
			if q.Match(name, false, 1000) {
				n++
			}
		}
		if n != 1 {
			b.Fatalf("%d matches, want 1", n)
		}
	}
}

// A search answers with what it found within its time budget: with no time
// at all it stops at its first look at the clock, after 1,024 entries.
func TestSearchTimeBudget(t *testing.T) {
	src := t.TempDir()
	for i := range 3000 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("d%d", i/100), fmt.Sprintf("song %04d.flac", i)), "x")
	}
	l := openLib(t, t.TempDir(), LibraryOptions{}, src)
	if n := len(l.Search("song", 5000)); n != 3000 {
		t.Fatalf("%d results within the budget, want 3000", n)
	}
	old := searchBudget
	searchBudget = 0
	t.Cleanup(func() { searchBudget = old })
	if n := len(l.Search("song", 5000)); n == 0 || n >= 1024 {
		t.Fatalf("%d results with no time, want some, fewer than 1,024", n)
	}
}
