package share

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"porch/share/db"
	"porch/test/netns"
)

// runLibrary runs l until the test ends.
func runLibrary(t *testing.T, l *Library) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	waitFor(t, func() bool { return l.watch.Load() != nil })
}

// exists reports whether the index holds p with size (size < 0: any).
func exists(l *Library, p string, size int64) bool {
	e, err := l.Stat(p)
	return err == nil && (size < 0 || e.Size == size)
}

// With the full rescan an hour away, only change notifications can make a
// change visible: every kind of change anywhere in a share, and a share added
// by another process, shows up.
func TestWatchSeesEveryChange(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a", "b", "old.txt"), "old")
	data := t.TempDir()
	l := openLib(t, data, LibraryOptions{Rescan: time.Hour, Poll: time.Hour}, src)
	runLibrary(t, l)
	item := filepath.Base(src)

	writeFile(t, filepath.Join(src, "a", "b", "new.txt"), "new")
	waitFor(t, func() bool { return exists(l, item+"/a/b/new.txt", 3) })

	writeFile(t, filepath.Join(src, "a", "b", "new.txt"), "longer now")
	waitFor(t, func() bool { return exists(l, item+"/a/b/new.txt", 10) })

	if err := os.Rename(filepath.Join(src, "a", "b", "old.txt"), filepath.Join(src, "a", "renamed.txt")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return exists(l, item+"/a/renamed.txt", 3) && !exists(l, item+"/a/b/old.txt", -1) })

	if err := os.Remove(filepath.Join(src, "a", "b", "new.txt")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !exists(l, item+"/a/b/new.txt", -1) })

	// A new folder tree: its folders are watched from the scan that finds
	// them, and files made in them at once are not missed.
	deep := filepath.Join(src, "x", "y", "z")
	writeFile(t, filepath.Join(deep, "first.txt"), "1")
	writeFile(t, filepath.Join(deep, "second.txt"), "22")
	waitFor(t, func() bool { return exists(l, item+"/x/y/z/first.txt", 1) && exists(l, item+"/x/y/z/second.txt", 2) })
	writeFile(t, filepath.Join(deep, "third.txt"), "333")
	waitFor(t, func() bool { return exists(l, item+"/x/y/z/third.txt", 3) })

	if err := os.RemoveAll(filepath.Join(src, "x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !exists(l, item+"/x", -1) })

	// Another process (the CLI) shares a second folder and a single file.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "song.flac"), "flac")
	single := filepath.Join(t.TempDir(), "notes.txt")
	writeFile(t, single, "n")
	cli, err := OpenCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Add(other, single); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return exists(l, filepath.Base(other)+"/song.flac", 4) && exists(l, "notes.txt", 1) })

	// A shared single file is watched through its folder, and its
	// neighbours there do not count.
	writeFile(t, single, "changed")
	waitFor(t, func() bool { return exists(l, "notes.txt", 7) })
	for _, it := range l.Items() {
		if it.Unwatched != "" {
			t.Errorf("%s: not watched: %s", it.Name, it.Unwatched)
		}
	}
}

// A change that raises no notification (only the modification time, which
// arrives as an attribute change the watcher ignores) is found when a rescan
// is asked for through the data folder, as "porch share rescan" does.
func TestRescanRequest(t *testing.T) {
	src := t.TempDir()
	f := filepath.Join(src, "a.txt")
	writeFile(t, f, "a")
	data := t.TempDir()
	l := openLib(t, data, LibraryOptions{Rescan: time.Hour, Poll: time.Hour}, src)
	runLibrary(t, l)
	p := filepath.Base(src) + "/a.txt"
	when := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(f, when, when); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * settleDelay) // long enough for a rescan that should not happen
	if e, _ := l.Stat(p); e.ModTime.Equal(when) {
		t.Fatal("an attribute change alone rescanned; the request below would prove nothing")
	}
	if err := RequestRescan(data); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { e, _ := l.Stat(p); return e.ModTime.Equal(when) })
}

// Hashes reach the disk while the library runs, not only when it stops, so a
// peer killed after hashing does not hash again.
func TestHashCacheSavedWhileRunning(t *testing.T) {
	src := t.TempDir()
	for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
		writeFile(t, filepath.Join(src, name), name)
	}
	data := t.TempDir()
	l := openLib(t, data, LibraryOptions{Rescan: time.Hour, Poll: time.Hour}, src)
	runLibrary(t, l)
	waitFor(t, func() bool { return len(cacheRecords(t, data)) == 3 })
}

// When the watch limit runs out, the share says so and its changes are
// still found, by polling. The limit is lowered in a user namespace of the
// test's own, never on the machine.
func TestWatchLimitFallsBackToPolling(t *testing.T) {
	if !netns.IsolateUser(t) {
		return
	}
	// The data folder takes one watch and the share's top folder another;
	// its two subfolders find none left.
	if err := os.WriteFile("/proc/sys/user/max_inotify_watches", []byte("2"), 0); err != nil {
		t.Skipf("cannot lower the watch limit in this user namespace: %v", err)
	}
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a", "one.txt"), "1")
	writeFile(t, filepath.Join(src, "b", "two.txt"), "2")
	l := openLib(t, t.TempDir(), LibraryOptions{Rescan: time.Hour, Poll: 100 * time.Millisecond}, src)
	runLibrary(t, l)
	waitFor(t, func() bool {
		items := l.Items()
		return len(items) == 1 && strings.Contains(items[0].Unwatched, "max_user_watches")
	})
	item := filepath.Base(src)
	writeFile(t, filepath.Join(src, "b", "three.txt"), "333")
	waitFor(t, func() bool { return exists(l, item+"/b/three.txt", 3) })

	// Another process reading the same database ("porch share ls") is told.
	other, err := db.Open(l.opts.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	told, err := Unwatched(other)
	if err != nil || !strings.Contains(told[src], "max_user_watches") {
		t.Fatalf("Unwatched from another handle = %v, %v; want %s named with the reason", told, err, src)
	}
}
