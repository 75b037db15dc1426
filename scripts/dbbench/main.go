// Command dbbench measures the two embedded databases Porch could keep its
// state in (modernc.org/sqlite and go.etcd.io/bbolt) on the hash cache's
// workload: a million records (a path of about 60 bytes, size, modification
// time, inode, content id and one 32-byte block hash) written in
// transactions of a few thousand, then, in a fresh process, the time to
// open, random point lookups by path, a prefix scan of one folder, batched
// updates, the file size on disk and each process's peak RSS. It also checks
// whether a second process can open the database while a first one has it
// open for writing, as `porch ls` does beside `porch serve`.
//
// It is its own module so that the product's go.mod carries only the
// database it uses. Run it by hand:
//
//	cd scripts/dbbench && go run . [-n 1000000] [-dir /some/tmp]
//
// Each engine and phase runs in a child process (the program re-executes
// itself), so the peak RSS figures are per engine and phase.
package main

import (
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	_ "modernc.org/sqlite"
)

var (
	n       = flag.Int("n", 1_000_000, "records")
	batch   = flag.Int("batch", 2000, "records per write transaction")
	lookups = flag.Int("lookups", 100_000, "random point lookups")
	updates = flag.Int("updates", 10_000, "records updated (in transactions of -batch)")
	dir     = flag.String("dir", "", "folder for the databases (default a new temporary one)")
	child   = flag.String("child", "", "internal: engine:phase to run in this process")
)

const perFolder = 1000

// rec is one hash cache record.
type rec struct {
	path              string
	size, mtime, seen int64
	ino               uint64
	cid, blocks       []byte
}

func pathOf(i int) string {
	return fmt.Sprintf("/home/someone/Pictures/shared/folder-%04d/IMG_2024%04d_%06d.jpg", i/perFolder, i%10000, i)
}

func recOf(i int, gen int64) rec {
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)+uint64(gen)<<40))
	c := sha256.Sum256(h[:])
	return rec{path: pathOf(i), size: 100_000 + int64(i%900_000), mtime: 1_700_000_000_000_000_000 + int64(i) + gen,
		seen: time.Now().Unix(), ino: uint64(1_000_000 + i), cid: c[:], blocks: h[:]}
}

func (r rec) encode() []byte {
	b := make([]byte, 0, 32+len(r.cid)+len(r.blocks))
	b = binary.BigEndian.AppendUint64(b, uint64(r.size))
	b = binary.BigEndian.AppendUint64(b, uint64(r.mtime))
	b = binary.BigEndian.AppendUint64(b, r.ino)
	b = binary.BigEndian.AppendUint64(b, uint64(r.seen))
	b = append(b, r.cid...)
	return append(b, r.blocks...)
}

// store is what both engines implement.
type store interface {
	write(recs []rec) error
	get(path string) (rec, bool, error)
	scan(prefix string) (int, error)
	close() error
}

// ---- SQLite ----

type sqliteStore struct {
	db   *sql.DB
	get_ *sql.Stmt
}

const sqliteSchema = `CREATE TABLE IF NOT EXISTS hashes(
	path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime INTEGER NOT NULL, ino INTEGER NOT NULL,
	seen INTEGER NOT NULL, cid BLOB NOT NULL, blocks BLOB NOT NULL) WITHOUT ROWID`

func openSQLite(file string) (store, error) {
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(sqliteSchema); err != nil {
		db.Close()
		return nil, err
	}
	st, err := db.Prepare(`SELECT size, mtime, ino, seen, cid, blocks FROM hashes WHERE path = ?`)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &sqliteStore{db: db, get_: st}, nil
}

func (s *sqliteStore) write(recs []rec) error {
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st, err := tx.Prepare(`INSERT INTO hashes(path, size, mtime, ino, seen, cid, blocks) VALUES(?,?,?,?,?,?,?)
		ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime=excluded.mtime, ino=excluded.ino,
		seen=excluded.seen, cid=excluded.cid, blocks=excluded.blocks`)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if _, err := st.Exec(r.path, r.size, r.mtime, int64(r.ino), r.seen, r.cid, r.blocks); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (s *sqliteStore) get(path string) (rec, bool, error) {
	r := rec{path: path}
	var ino int64
	err := s.get_.QueryRow(path).Scan(&r.size, &r.mtime, &ino, &r.seen, &r.cid, &r.blocks)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	r.ino = uint64(ino)
	return r, err == nil, err
}

func (s *sqliteStore) scan(prefix string) (int, error) {
	rows, err := s.db.Query(`SELECT path, size, mtime, ino, seen, cid, blocks FROM hashes WHERE path >= ? AND path < ?`,
		prefix, prefix[:len(prefix)-1]+string(rune(prefix[len(prefix)-1]+1)))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	k := 0
	for rows.Next() {
		var r rec
		var ino int64
		if err := rows.Scan(&r.path, &r.size, &r.mtime, &ino, &r.seen, &r.cid, &r.blocks); err != nil {
			return k, err
		}
		k++
	}
	return k, rows.Err()
}

func (s *sqliteStore) close() error { s.get_.Close(); return s.db.Close() }

// ---- bbolt ----

type boltStore struct{ db *bolt.DB }

var bucket = []byte("hashes")

func openBolt(file string) (store, error) {
	db, err := bolt.Open(file, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err }); err != nil {
		db.Close()
		return nil, err
	}
	return &boltStore{db}, nil
}

func (s *boltStore) write(recs []rec) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, r := range recs {
			if err := b.Put([]byte(r.path), r.encode()); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *boltStore) get(path string) (r rec, ok bool, err error) {
	r.path = path
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(path))
		if v == nil {
			return nil
		}
		ok = true
		r.size = int64(binary.BigEndian.Uint64(v))
		r.mtime = int64(binary.BigEndian.Uint64(v[8:]))
		r.ino = binary.BigEndian.Uint64(v[16:])
		r.seen = int64(binary.BigEndian.Uint64(v[24:]))
		r.cid = append([]byte(nil), v[32:64]...)
		r.blocks = append([]byte(nil), v[64:]...)
		return nil
	})
	return r, ok, err
}

func (s *boltStore) scan(prefix string) (k int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		p := []byte(prefix)
		for key, v := c.Seek(p); key != nil && strings.HasPrefix(string(key), prefix); key, v = c.Next() {
			_ = append([]byte(nil), v...)
			k++
		}
		return nil
	})
	return k, err
}

func (s *boltStore) close() error { return s.db.Close() }

// ---- phases ----

func open(engine, d string) (store, error) {
	if engine == "sqlite" {
		return openSQLite(filepath.Join(d, "bench.sqlite"))
	}
	return openBolt(filepath.Join(d, "bench.bolt"))
}

func dbFiles(engine, d string) []string {
	if engine == "sqlite" {
		f := filepath.Join(d, "bench.sqlite")
		return []string{f, f + "-wal", f + "-shm"}
	}
	return []string{filepath.Join(d, "bench.bolt")}
}

func diskSize(engine, d string) int64 {
	var t int64
	for _, f := range dbFiles(engine, d) {
		if fi, err := os.Stat(f); err == nil {
			t += fi.Size()
		}
	}
	return t
}

// runChild runs one phase and prints "key value" lines for the parent.
func runChild(engine, phase, d string) error {
	out := func(k string, v any) { fmt.Printf("%s %v\n", k, v) }
	switch phase {
	case "write":
		s, err := open(engine, d)
		if err != nil {
			return err
		}
		start := time.Now()
		recs := make([]rec, 0, *batch)
		for i := range *n {
			recs = append(recs, recOf(i, 0))
			if len(recs) == *batch || i == *n-1 {
				if err := s.write(recs); err != nil {
					return err
				}
				recs = recs[:0]
			}
		}
		out("write", time.Since(start))
		start = time.Now()
		if err := s.close(); err != nil {
			return err
		}
		out("close", time.Since(start))
		out("size", diskSize(engine, d))
	case "read":
		start := time.Now()
		s, err := open(engine, d)
		if err != nil {
			return err
		}
		if _, ok, err := s.get(pathOf(0)); err != nil || !ok {
			return fmt.Errorf("first lookup: %v %v", ok, err)
		}
		out("open", time.Since(start))
		rng := rand.New(rand.NewPCG(1, 2))
		start = time.Now()
		for range *lookups {
			i := rng.IntN(*n)
			r, ok, err := s.get(pathOf(i))
			if err != nil || !ok || r.ino != uint64(1_000_000+i) {
				return fmt.Errorf("lookup %d: %v %v", i, ok, err)
			}
		}
		out("lookups", time.Since(start))
		start = time.Now()
		k, err := s.scan(fmt.Sprintf("/home/someone/Pictures/shared/folder-%04d/", (*n/perFolder)/2))
		if err != nil || k != perFolder {
			return fmt.Errorf("scan: %d %v", k, err)
		}
		out("scan", time.Since(start))
		start = time.Now()
		recs := make([]rec, 0, *batch)
		for j := range *updates {
			recs = append(recs, recOf(rng.IntN(*n), 1))
			if len(recs) == *batch || j == *updates-1 {
				if err := s.write(recs); err != nil {
					return err
				}
				recs = recs[:0]
			}
		}
		out("updates", time.Since(start))
		if err := s.close(); err != nil {
			return err
		}
		out("size2", diskSize(engine, d))
	case "hold":
		// Open for writing, say so, and keep it open until stdin closes.
		s, err := open(engine, d)
		if err != nil {
			return err
		}
		if err := s.write([]rec{recOf(0, 2)}); err != nil {
			return err
		}
		fmt.Println("ready")
		var b [1]byte
		os.Stdin.Read(b[:])
		return s.close()
	case "second":
		start := time.Now()
		s, err := open(engine, d)
		if err != nil {
			out("second", fmt.Sprintf("refused-after-%v", time.Since(start).Round(time.Millisecond)))
			return nil
		}
		defer s.close()
		_, ok, err := s.get(pathOf(1))
		if err != nil || !ok {
			out("second", "open-but-read-failed")
			return nil
		}
		if err := s.write([]rec{recOf(1, 3)}); err != nil {
			out("second", "reads-but-write-failed")
			return nil
		}
		out("second", "reads-and-writes")
	}
	return nil
}

type result map[string]string

func spawn(engine, phase, d string, stdin *os.File) (result, int64, error) {
	cmd := exec.Command(os.Args[0], append(os.Args[1:], "-child", engine+":"+phase, "-dir", d)...)
	cmd.Stderr = os.Stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", engine, phase, err)
	}
	res := result{}
	for _, l := range strings.Split(strings.TrimSpace(string(outb)), "\n") {
		if k, v, ok := strings.Cut(l, " "); ok {
			res[k] = v
		}
	}
	return res, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss, nil
}

// concurrent holds the database open for writing in one child and tries to
// use it from another.
func concurrent(engine, d string) (string, error) {
	holder := exec.Command(os.Args[0], append(os.Args[1:], "-child", engine+":hold", "-dir", d)...)
	holder.Stderr = os.Stderr
	in, err := holder.StdinPipe()
	if err != nil {
		return "", err
	}
	outp, err := holder.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := holder.Start(); err != nil {
		return "", err
	}
	var b [6]byte
	if _, err := outp.Read(b[:]); err != nil {
		return "", err
	}
	res, _, err := spawn(engine, "second", d, nil)
	in.Close()
	holder.Wait()
	if err != nil {
		return "", err
	}
	return res["second"], nil
}

func main() {
	flag.Parse()
	if *child != "" {
		engine, phase, _ := strings.Cut(*child, ":")
		if err := runChild(engine, phase, *dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	root := *dir
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "dbbench-"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(root)
	}
	fmt.Printf("%d records, write transactions of %d, %d lookups, %d updates\n\n", *n, *batch, *lookups, *updates)
	type row struct {
		w, r       result
		wrss, rrss int64
		second     string
	}
	rows := map[string]row{}
	engines := []string{"sqlite", "bbolt"}
	for _, e := range engines {
		d := filepath.Join(root, e)
		os.MkdirAll(d, 0o700)
		w, wrss, err := spawn(e, "write", d, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		r, rrss, err := spawn(e, "read", d, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sec, err := concurrent(e, d)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		rows[e] = row{w, r, wrss, rrss, sec}
	}
	mb := func(s string) string {
		var v int64
		fmt.Sscan(s, &v)
		return fmt.Sprintf("%.0f MB", float64(v)/1e6)
	}
	perOp := func(s string, k int) string {
		d, err := time.ParseDuration(s)
		if err != nil {
			return s
		}
		return fmt.Sprintf("%v (%.1f µs each)", d.Round(time.Millisecond), float64(d.Microseconds())/float64(k))
	}
	round := func(s string) string {
		d, err := time.ParseDuration(s)
		if err != nil {
			return s
		}
		if d < time.Millisecond {
			return d.Round(time.Microsecond).String()
		}
		return d.Round(time.Millisecond).String()
	}
	fmt.Printf("| %-38s | %-28s | %-28s |\n", "", "SQLite (modernc, WAL)", "bbolt")
	fmt.Printf("|%s|%s|%s|\n", strings.Repeat("-", 40), strings.Repeat("-", 30), strings.Repeat("-", 30))
	line := func(name string, f func(row) string) {
		fmt.Printf("| %-38s | %-28s | %-28s |\n", name, f(rows["sqlite"]), f(rows["bbolt"]))
	}
	line(fmt.Sprintf("write %d records", *n), func(r row) string { return round(r.w["write"]) })
	line("size on disk after writing", func(r row) string { return mb(r.w["size"]) })
	line("peak RSS, writing process", func(r row) string { return fmt.Sprintf("%d MB", r.wrss/1024) })
	line("reopen + first lookup", func(r row) string { return round(r.r["open"]) })
	line(fmt.Sprintf("%d random lookups", *lookups), func(r row) string { return perOp(r.r["lookups"], *lookups) })
	line(fmt.Sprintf("prefix scan of %d", perFolder), func(r row) string { return round(r.r["scan"]) })
	line(fmt.Sprintf("update %d records", *updates), func(r row) string { return round(r.r["updates"]) })
	line("size on disk after updates", func(r row) string { return mb(r.r["size2"]) })
	line("peak RSS, reading process", func(r row) string { return fmt.Sprintf("%d MB", r.rrss/1024) })
	line("2nd process while 1st has it open", func(r row) string { return r.second })
}
