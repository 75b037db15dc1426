package db

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMillionRecords measures, when PORCH_DB_MILLION is set, what a share
// of a million files costs: importing a hashcache.json of a million records,
// the database's size, the time to open it again and to read every folder's
// records (what a restart's first scan does). It asserts nothing about time.
func TestMillionRecords(t *testing.T) {
	if os.Getenv("PORCH_DB_MILLION") == "" {
		t.Skip("set PORCH_DB_MILLION=1 to measure")
	}
	const n, perFolder = 1_000_000, 1000
	dir := t.TempDir()
	pathOf := func(i int) string {
		return fmt.Sprintf("/home/someone/Pictures/shared/folder-%04d/IMG_2024%04d_%06d.jpg", i/perFolder, i%10000, i)
	}
	f, err := os.Create(filepath.Join(dir, hashCacheJSON))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("[")
	for i := range n {
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
		b := append(binary.BigEndian.AppendUint64(nil, uint64(100_000+i%900_000)), h[:]...)
		if i > 0 {
			w.WriteString(",")
		}
		fmt.Fprintf(w, `{"path":%q,"size":%d,"mtime":%d,"ino":%d,"hashes":"%s","seen":%d}`,
			pathOf(i), 100_000+i%900_000, 1_700_000_000_000_000_000+i, 1_000_000+i, base64.StdEncoding.EncodeToString(b), time.Now().Unix())
	}
	w.WriteString("]")
	w.Flush()
	f.Close()
	fi, _ := os.Stat(filepath.Join(dir, hashCacheJSON))

	start := time.Now()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	migrate := time.Since(start)
	d.Close()
	var size int64
	for _, s := range []string{"", "-wal", "-shm"} {
		if fi, err := os.Stat(filepath.Join(dir, FileName+s)); err == nil {
			size += fi.Size()
		}
	}

	start = time.Now()
	d, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, ok, err := d.Hash(pathOf(0)); !ok || err != nil {
		t.Fatalf("first record: %v %v", ok, err)
	}
	open := time.Since(start)
	start = time.Now()
	total := 0
	for i := range n / perFolder {
		recs, err := d.HashFolder(fmt.Sprintf("/home/someone/Pictures/shared/folder-%04d", i))
		if err != nil {
			t.Fatal(err)
		}
		total += len(recs)
	}
	folders := time.Since(start)
	if total != n {
		t.Fatalf("read %d records", total)
	}
	start = time.Now()
	if err := d.Check(); err != nil {
		t.Fatal(err)
	}
	check := time.Since(start)
	t.Logf("hashcache.json %d MB imported in %v; porch.db %d MB; open + first lookup %v; all %d folders read in %v; integrity check %v",
		fi.Size()>>20, migrate.Round(time.Millisecond), size>>20, open.Round(time.Microsecond), n/perFolder,
		folders.Round(time.Millisecond), check.Round(time.Millisecond))
}
