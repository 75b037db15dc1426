package share

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"porch/share/db"
)

// A Transient library (an offer's, beside the data folder's own) runs and
// stops without touching the watch status the main library keeps for other
// processes.
func TestTransientLibraryKeepsNoWatchStatus(t *testing.T) {
	data := t.TempDir()
	d, err := db.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	main := watchStatus{PID: os.Getpid(), Since: time.Now().UTC(), Unwatched: map[string]string{"/srv/nfs": "a network filesystem"}}
	b, _ := json.Marshal(main)
	if err := d.SetSetting(watchStatusKey, b); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a.txt"), "a")
	l := openLib(t, filepath.Join(data, "outgoing", "x"), LibraryOptions{DB: d, Transient: true}, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitFor(t, func() bool { h, total := l.HashProgress(); return h == total })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	told, err := Unwatched(d)
	if err != nil || told["/srv/nfs"] != "a network filesystem" {
		t.Fatalf("after a transient library ran, the main library's watch status reads %v, %v", told, err)
	}
}
