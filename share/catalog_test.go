package share

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCatalog(t *testing.T) {
	data := t.TempDir()
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a", "music", "x.flac"), "x")
	writeFile(t, filepath.Join(src, "b", "music", "y.flac"), "y")
	writeFile(t, filepath.Join(src, "c", "Music"), "z")
	writeFile(t, filepath.Join(src, "notes.txt"), "n")

	c, err := OpenCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Items()) != 0 {
		t.Fatal("new catalog not empty")
	}
	got, err := c.Add(filepath.Join(src, "a", "music"), filepath.Join(src, "b", "music"), filepath.Join(src, "c", "Music"), filepath.Join(src, "notes.txt"))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, it := range got {
		names = append(names, it.Name)
	}
	want := []string{"music", "music (2)", "Music (3)", "notes.txt"}
	if len(names) != len(want) {
		t.Fatalf("names %q, want %q", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("names %q, want %q", names, want)
		}
	}

	again, err := c.Add(filepath.Join(src, "a", "music", "..", "music"))
	if err != nil || len(again) != 1 || again[0].Name != "music" {
		t.Fatalf("re-adding: %v %v", again, err)
	}
	if len(c.Items()) != 4 {
		t.Fatalf("re-adding changed the item count to %d", len(c.Items()))
	}
	if _, err := c.Add(filepath.Join(src, "missing"), filepath.Join(src, "a")); err == nil {
		t.Fatal("adding a missing path succeeded")
	}
	if len(c.Items()) != 4 {
		t.Fatal("failed add changed the catalog")
	}

	// Another process sees the same file.
	other, err := OpenCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Items()) != 4 {
		t.Fatalf("reopened catalog has %d items", len(other.Items()))
	}
	if _, err := other.Add(filepath.Join(src, "a")); err != nil {
		t.Fatal(err)
	}
	changed, err := c.Reload()
	if err != nil || !changed {
		t.Fatalf("Reload after another instance added: changed=%v err=%v", changed, err)
	}
	if changed, _ := c.Reload(); changed {
		t.Fatal("second Reload reports a change")
	}
	if len(c.Items()) != 5 {
		t.Fatalf("after reload %d items", len(c.Items()))
	}

	if err := c.Remove("music (2)", "nope"); !errors.Is(err, ErrNotShared) {
		t.Fatalf("Remove with unknown = %v", err)
	}
	if len(c.Items()) != 5 {
		t.Fatal("failed Remove removed something")
	}
	if err := c.Remove("music (2)", filepath.Join(src, "notes.txt")); err != nil {
		t.Fatal(err)
	}
	items := c.Items()
	if len(items) != 3 {
		t.Fatalf("after remove: %v", items)
	}
	for i := 1; i < len(items); i++ {
		if items[i-1].Name > items[i].Name {
			t.Fatalf("not sorted: %v", items)
		}
	}
	// A removed name is free again for the next item.
	got, _ = c.Add(filepath.Join(src, "b", "music"))
	if got[0].Name != "music (2)" {
		t.Fatalf("re-added as %q", got[0].Name)
	}
	if fi, err := os.Stat(filepath.Join(data, catalogFile)); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("catalog file: %v %v", fi, err)
	}
	if m, _ := filepath.Glob(filepath.Join(data, "*.tmp")); len(m) != 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

func TestCatalogBadFile(t *testing.T) {
	data := t.TempDir()
	writeFile(t, filepath.Join(data, catalogFile), "{not json")
	if _, err := OpenCatalog(data); err == nil {
		t.Fatal("corrupt catalog opened without error")
	}
}
