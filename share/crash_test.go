package share

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashHelperEnv names the data folder when the test binary runs as the
// child of TestHashCacheSurvivesKill.
const crashHelperEnv = "PORCH_TEST_CRASH_DATA"

// TestCrashHelper is not a test: run by TestHashCacheSurvivesKill with
// crashHelperEnv set, it opens the library of that data folder, prints
// "ready", then "hashed PATH" after each file it hashes (not after those
// found in the cache), and "done" once everything is hashed and saved.
func TestCrashHelper(t *testing.T) {
	data := os.Getenv(crashHelperEnv)
	if data == "" {
		t.Skip("helper process only")
	}
	l, err := OpenLibrary(LibraryOptions{DataDir: data, Rescan: time.Hour, Poll: time.Hour})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	l.onHashed = func(abs string) { fmt.Printf("hashed %s\n", abs) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	fmt.Println("ready")
	for {
		if h, total := l.HashProgress(); h == total {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if err := l.Close(); err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("done")
	os.Exit(0)
}

// A child process hashing a few thousand files is SIGKILLed again and again,
// at different points of its progress (before the first write, right after
// one, in between). After each kill the database must pass SQLite's
// integrity check, keep every entry it held before, hold only correct
// hashes, and the next child must not hash again any file the database
// already recorded.
func TestHashCacheSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	src, data := t.TempDir(), t.TempDir()
	const folders, perFolder = 20, 150
	files := map[string]string{} // absolute path -> content id
	for i := range folders {
		for j := range perFolder {
			p := filepath.Join(src, fmt.Sprintf("f%02d", i), fmt.Sprintf("file-%04d.txt", j))
			body := fmt.Sprintf("file %d/%d\n", i, j)
			writeFile(t, p, body)
			h, _ := HashReader(strings.NewReader(body), nil)
			files[p] = h.ContentID()
		}
	}
	cat, err := OpenCatalog(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Add(src); err != nil {
		t.Fatal(err)
	}

	recorded := map[string]bool{} // in the database after the last kill
	// Each child is killed after it has reported this many hashed files;
	// the writes happen every flushEvery files and every saveEvery.
	killAfter := []int{0, 1, flushEvery + 1, 10, flushEvery - 1, flushEvery + 50, 300}
	kills := 0
	for round := 0; ; round++ {
		last := round >= len(killAfter)
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashHelperEnv+"="+data)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var hashed []string
		finished := false
		for sc.Scan() {
			line := sc.Text()
			if p, ok := strings.CutPrefix(line, "hashed "); ok {
				hashed = append(hashed, p)
			}
			if strings.HasPrefix(line, "error") {
				t.Fatalf("round %d: child: %s", round, line)
			}
			if line == "done" {
				finished = true
				break
			}
			if !last && (line == "ready" || len(hashed) > 0) && len(hashed) >= killAfter[round] {
				cmd.Process.Signal(syscall.SIGKILL)
				kills++
				break
			}
		}
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "hashed "); ok {
				hashed = append(hashed, p) // written before the kill landed
			}
		}
		cmd.Wait()

		for _, p := range hashed {
			if recorded[p] {
				t.Errorf("round %d: %s was recorded as hashed and was hashed again", round, p)
			}
		}
		d := openTestDB(t, data)
		if err := d.Check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		d.Close()
		now := cacheRecords(t, data)
		for p := range recorded {
			if _, ok := now[p]; !ok {
				t.Errorf("round %d: entry of %s lost", round, p)
			}
		}
		for p, r := range now {
			var h Hashes
			if h.UnmarshalBinary(r.Hashes) != nil || h.ContentID() != files[p] {
				t.Errorf("round %d: wrong entry for %s", round, p)
			}
			recorded[p] = true
		}
		t.Logf("round %d: child hashed %d files, %s; %d of %d recorded", round, len(hashed),
			map[bool]string{true: "finished", false: "killed"}[finished], len(recorded), len(files))
		if finished {
			break
		}
		if last {
			t.Fatal("the last child did not finish")
		}
	}
	if len(recorded) != len(files) {
		t.Fatalf("%d of %d files recorded at the end", len(recorded), len(files))
	}
	if kills < len(killAfter) {
		t.Fatalf("only %d kills", kills)
	}
	// A restart in this process hashes nothing.
	l := openLib(t, data, LibraryOptions{})
	hashAll(t, l)
	if n := l.hashedFiles.Load(); n != 0 {
		t.Fatalf("restart after the kills hashed %d files", n)
	}
}
