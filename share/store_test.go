package share

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// content returns n pseudo-random bytes and their hashes.
func content(t testing.TB, n int, seed uint64) ([]byte, Hashes) {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	h, err := HashReader(bytes.NewReader(b), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, h
}

// block returns a copy of block i of b (WriteBlock overwrites what it is given).
func block(b []byte, i int) []byte {
	end := min(len(b), (i+1)*BlockSize)
	return slices.Clone(b[i*BlockSize : end])
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := OpenStore(filepath.Join(t.TempDir(), "Downloads"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func writeAll(t *testing.T, p *Partial, b []byte) {
	t.Helper()
	for _, i := range p.Missing() {
		if err := p.WriteBlock(i, block(b, i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPartialResume(t *testing.T) {
	s := openStore(t)
	b, h := content(t, 3*BlockSize+100, 1)
	p, err := s.OpenPartial("music/song.flac", h)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Missing(); !slices.Equal(got, []int{0, 1, 2, 3}) {
		t.Fatalf("Missing = %v", got)
	}
	for _, i := range []int{0, 3} {
		if err := p.WriteBlock(i, block(b, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "music", "song.flac")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("unfinished file visible under its final name")
	}
	p, err = s.OpenPartial("music/song.flac", h)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Missing(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("after resume Missing = %v", got)
	}
	if v := p.Verified(); v != BlockSize+100 {
		t.Fatalf("Verified = %d", v)
	}
	writeAll(t, p, b)
	final, err := p.Finish()
	if err != nil || final != "music/song.flac" {
		t.Fatalf("Finish = %q, %v", final, err)
	}
	got, _ := os.ReadFile(filepath.Join(s.Dir(), "music", "song.flac"))
	if !bytes.Equal(got, b) {
		t.Fatal("finished file differs")
	}
	left, _ := filepath.Glob(filepath.Join(s.Dir(), "music", "*partial*"))
	if len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
	if !s.Have("music/song.flac", h) {
		t.Fatal("Have = false for the finished file")
	}
	_, other := content(t, len(b), 2)
	if s.Have("music/song.flac", other) || s.Have("music/none", h) || s.Have("../x", h) {
		t.Fatal("Have = true for other content")
	}
}

func TestPartialCorruptBlockRefetched(t *testing.T) {
	s := openStore(t)
	b, h := content(t, 3*BlockSize, 3)
	p, err := s.OpenPartial("a.bin", h)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, p, b)
	p.Close()
	parts, _ := filepath.Glob(filepath.Join(s.Dir(), "a.bin.*.partial"))
	if len(parts) != 1 {
		t.Fatalf("partial files: %v", parts)
	}
	f, err := os.OpenFile(parts[0], os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("garbage"), BlockSize+10)
	f.Close()

	p, err = s.OpenPartial("a.bin", h)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Missing(); !slices.Equal(got, []int{1}) {
		t.Fatalf("Missing after corruption = %v, want [1]", got)
	}
	writeAll(t, p, b)
	if _, err := p.Finish(); err != nil {
		t.Fatal(err)
	}

	// A copy that does not match is written but not counted, and the
	// next copy replaces it.
	p, err = s.OpenPartial("b.bin", h)
	if err != nil {
		t.Fatal(err)
	}
	bad := slices.Clone(b[BlockSize : 2*BlockSize])
	bad[7] ^= 1
	if err := p.WriteBlock(1, bad); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("WriteBlock(corrupt) = %v", err)
	}
	if got := p.Missing(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("Missing after a corrupt copy = %v", got)
	}
	if _, err := p.Finish(); err == nil {
		t.Fatal("Finish succeeded with a corrupt block")
	}
	writeAll(t, p, b)
	// A verified block is never written again, not even by a bad copy.
	if err := p.WriteBlock(2, make([]byte, BlockSize)); err != nil {
		t.Fatalf("WriteBlock over a verified block = %v", err)
	}
	final, err := p.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(s.Dir(), final)); !bytes.Equal(got, b) {
		t.Fatal("finished file differs from the content")
	}
}

func TestPartialBlockBusy(t *testing.T) {
	s := openStore(t)
	b, h := content(t, 2*BlockSize, 5)
	p, err := s.OpenPartial("busy.bin", h)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.mu.Lock()
	p.writing[1] = true // as if another call were writing block 1
	p.mu.Unlock()
	if err := p.WriteBlock(1, slices.Clone(b[BlockSize:])); !errors.Is(err, errBlockBusy) {
		t.Fatalf("WriteBlock while busy = %v", err)
	}
	p.mu.Lock()
	p.writing[1] = false
	p.mu.Unlock()
	if err := p.WriteBlock(1, slices.Clone(b[BlockSize:])); err != nil {
		t.Fatal(err)
	}
	if got := p.Missing(); !slices.Equal(got, []int{0}) {
		t.Fatalf("Missing = %v", got)
	}
}

func TestPartialLostState(t *testing.T) {
	s := openStore(t)
	b, h := content(t, 2*BlockSize+1, 4)
	p, _ := s.OpenPartial("x", h)
	p.WriteBlock(0, block(b, 0))
	p.Close()
	states, _ := filepath.Glob(filepath.Join(s.Dir(), "*.partial.state"))
	if len(states) != 1 {
		t.Fatalf("state files: %v", states)
	}
	os.Remove(states[0])
	p, err := s.OpenPartial("x", h)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.Missing(); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("Missing without state = %v", got)
	}
}

func TestWriteBlockRejects(t *testing.T) {
	s := openStore(t)
	b, h := content(t, BlockSize+10, 5)
	p, err := s.OpenPartial("x.bin", h)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	bad := slices.Clone(block(b, 0))
	bad[7] ^= 1
	for _, tc := range []struct {
		name string
		i    int
		data []byte
		want error
	}{
		{"flipped bit", 0, bad, ErrHashMismatch},
		{"other block", 0, block(b, 1), ErrHashMismatch},
		{"short", 0, block(b, 0)[:100], ErrHashMismatch},
		{"long last", 1, b[BlockSize-5:], ErrHashMismatch},
		{"negative", -1, block(b, 0), nil},
		{"past end", 2, block(b, 1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.WriteBlock(tc.i, tc.data)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("WriteBlock = %v, want %v", err, tc.want)
			}
		})
	}
	if got := p.Missing(); len(got) != 2 || p.Verified() != 0 {
		t.Fatalf("rejected blocks counted: %v %d", got, p.Verified())
	}
	if _, err := p.Finish(); err == nil {
		t.Fatal("Finish with missing blocks succeeded")
	}
}

func TestPartialConcurrentWrites(t *testing.T) {
	s := openStore(t)
	b, h := content(t, 9*BlockSize+7, 6)
	p, err := s.OpenPartial("c.bin", h)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range len(h.Blocks) { // every goroutine writes every block
				err := p.WriteBlock((i+g)%len(h.Blocks), block(b, (i+g)%len(h.Blocks)))
				if err != nil && !errors.Is(err, errBlockBusy) {
					t.Error(err)
				}
				p.Missing()
			}
		})
	}
	wg.Wait()
	if p.Verified() != h.Size {
		t.Fatalf("Verified = %d of %d", p.Verified(), h.Size)
	}
	if _, err := p.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestFinishNeverOverwrites(t *testing.T) {
	s := openStore(t)
	for _, tc := range []struct {
		rel      string
		existing []string
		want     string
	}{
		{"a.txt", []string{"a.txt"}, "a (1).txt"},
		{"a.txt", []string{"a.txt", "a (1).txt"}, "a (2).txt"},
		{"dir/README", []string{"dir/README"}, "dir/README (1)"},
		{"new.txt", nil, "new.txt"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			for _, e := range tc.existing {
				writeFile(t, filepath.Join(s.Dir(), e), "keep "+e)
			}
			b, h := content(t, 1000, 7)
			p, err := s.OpenPartial(tc.rel, h)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, p, b)
			final, err := p.Finish()
			if err != nil || final != tc.want {
				t.Fatalf("Finish = %q, %v; want %q", final, err, tc.want)
			}
			for _, e := range tc.existing {
				got, _ := os.ReadFile(filepath.Join(s.Dir(), e))
				if string(got) != "keep "+e {
					t.Fatalf("%s overwritten", e)
				}
			}
			fi, err := os.Stat(filepath.Join(s.Dir(), filepath.FromSlash(final)))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o644 {
				t.Fatalf("mode %v, want 0644", fi.Mode().Perm())
			}
		})
	}
}

func TestFinishRace(t *testing.T) {
	s := openStore(t)
	const n = 6
	ps := make([]*Partial, n)
	for i := range ps {
		// Six different contents headed for the same name.
		bi, hi := content(t, 5000, uint64(100+i))
		p, err := s.OpenPartial("same.txt", hi)
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, p, bi)
		ps[i] = p
	}
	finals := make([]string, n)
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			f, err := p.Finish()
			if err != nil {
				t.Error(err)
			}
			finals[i] = f
		})
	}
	wg.Wait()
	slices.Sort(finals)
	if len(slices.Compact(finals)) != n {
		t.Fatalf("racing finishes shared a name: %q", finals)
	}
	ents, _ := os.ReadDir(s.Dir())
	if len(ents) != n {
		t.Fatalf("%d entries in the folder, want %d", len(ents), n)
	}
}

func TestOpenPartialHostile(t *testing.T) {
	s := openStore(t)
	_, h := content(t, 10, 9)
	for _, rel := range []string{"", "../x", "a/../../x", "/etc/x", "x.partial", "a/x.partial.state", "con.txt", `..\x`} {
		if p, err := s.OpenPartial(rel, h); err == nil {
			p.Close()
			t.Errorf("OpenPartial(%q) succeeded", rel)
		}
	}
	if err := s.MkdirAll("../up"); !errors.Is(err, ErrBadPath) {
		t.Fatalf("MkdirAll(../up) = %v", err)
	}
	if err := s.MkdirAll("a/b"); err != nil {
		t.Fatal(err)
	}
	// A folder symlink inside the store pointing outside is not followed.
	out := t.TempDir()
	if err := os.Symlink(out, filepath.Join(s.Dir(), "link")); err == nil {
		if p, err := s.OpenPartial("link/x.bin", h); err == nil {
			p.Close()
			t.Fatal("wrote through a symlink leaving the store")
		}
		if ents, _ := os.ReadDir(out); len(ents) != 0 {
			t.Fatal("file created outside the store")
		}
	}
}

func TestPartialEmptyAndLongName(t *testing.T) {
	s := openStore(t)
	_, h := content(t, 0, 10)
	p, err := s.OpenPartial("empty", h)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Missing()) != 0 {
		t.Fatal("empty file has missing blocks")
	}
	if f, err := p.Finish(); err != nil || f != "empty" {
		t.Fatalf("Finish empty = %q %v", f, err)
	}
	long := string(bytes.Repeat([]byte("é"), 120)) + ".txt" // 244 bytes
	b, h := content(t, 10, 11)
	p, err = s.OpenPartial(long, h)
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, p, b)
	if f, err := p.Finish(); err != nil || f != long {
		t.Fatalf("Finish long = %q %v", f, err)
	}
}
