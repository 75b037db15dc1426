package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"porch/share"
	"porch/test/wait"
)

// porch share secrets lists what a running library held back, and release
// reaches it within seconds, as share add does.
func TestShareSecrets(t *testing.T) {
	data, src := t.TempDir(), t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	keyFile := filepath.Join(src, "backup.txt")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "readme.txt"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(argv ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(append(argv, "--data", data), &out, &errb, nil)
		return code, out.String(), errb.String()
	}
	if code, _, errs := run("share", "add", src); code != 0 {
		t.Fatalf("share add: %d %s", code, errs)
	}
	l, err := share.OpenLibrary(share.LibraryOptions{DataDir: data, Rescan: time.Hour, Poll: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() { cancel(); <-done }()
	shared := filepath.Base(src) + "/backup.txt"
	var list []share.SecretFile
	wait.Until(t, 10*time.Second, "the key held back", func() bool {
		code, out, _ := run("share", "secrets", "--json")
		return code == 0 && json.Unmarshal([]byte(out), &list) == nil && len(list) == 1
	})
	if f := list[0]; f.Path != shared || f.Local != keyFile || f.Rule != "private-key" || f.Status != share.SecretHeld {
		t.Fatalf("listed %+v", f)
	}
	// Listed no more once the rescan its verdict asks for has run.
	wait.Until(t, 10*time.Second, "the held file gone from the listing", func() bool {
		_, err := l.Stat(shared)
		return err != nil
	})
	if code, out, _ := run("share", "secrets"); code != 0 || !strings.Contains(out, "held") || !strings.Contains(out, shared) {
		t.Fatalf("table: %d %q", code, out)
	}
	if code, out, errs := run("share", "secrets", "release", shared); code != 0 || !strings.Contains(out, "released "+shared) {
		t.Fatalf("release: %d %q %q", code, out, errs)
	}
	wait.Until(t, 10*time.Second, "the released file served", func() bool { e, err := l.Stat(shared); return err == nil && e.ContentID != "" })
	if code, out, _ := run("share", "secrets", "keep", keyFile); code != 0 || !strings.Contains(out, "keeping") {
		t.Fatalf("keep by local path: %d %q", code, out)
	}
	wait.Until(t, 10*time.Second, "the kept file gone", func() bool { _, err := l.Stat(shared); return err != nil })
	for _, tc := range []struct {
		argv   []string
		status int
		stderr string
	}{
		{[]string{"share", "secrets", "forget", shared}, 2, "release or keep"},
		{[]string{"share", "secrets", "release"}, 2, "needs at least one PATH"},
		{[]string{"share", "secrets", "release", filepath.Base(src) + "/readme.txt"}, 1, "not a shared file found to hold a likely secret"},
	} {
		if code, _, errs := run(tc.argv...); code != tc.status || !strings.Contains(errs, tc.stderr) {
			t.Errorf("%q: exit %d, stderr %q", tc.argv, code, errs)
		}
	}
}
