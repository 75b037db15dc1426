package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"porch/test/netns"
)

// A file whose content is a private key, under a harmless name, is held back
// by a running serve: a neighbour does not see it until its owner releases
// it with `porch share secrets release`, which the running serve applies
// within seconds. What the neighbour then downloads carries its origin in
// user.xdg.origin.url and is never executable.
func TestE2ESecrets(t *testing.T) {
	needPorch(t)
	n := newTestNet(t, 2)
	root := filepath.Join(t.TempDir(), "proj")
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	for name, data := range map[string][]byte{
		"readme.txt":       []byte("nothing secret here\n"),
		"deploy-notes.txt": append([]byte("web1 login:\n"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})...),
		"tool.sh":          []byte("#!/bin/sh\necho hi\n"),
	} {
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mustRun(t, n, 0, "share", "add", root, "--data", n.Data(0))
	n.Start(t, 0, "serve")
	waitHashed(t, n, 1, "alice/proj/readme.txt")

	type secretJSON struct {
		Path, Local, Rule, Status string
	}
	var held []secretJSON
	if !netns.WaitFor(t, 20*time.Second, func() bool {
		out, _, code := n.Run(t, 0, "share", "secrets", "--json", "--data", n.Data(0))
		return code == 0 && json.Unmarshal([]byte(out), &held) == nil && len(held) == 1
	}) {
		t.Fatalf("share secrets never listed the key: %+v", held)
	}
	if h := held[0]; h.Path != "proj/deploy-notes.txt" || h.Rule != "private-key" || h.Status != "held" {
		t.Fatalf("held: %+v", h)
	}
	if names := entryNames(t, mustRun(t, n, 1, "ls", "alice/proj", "--json")); contains(names, "deploy-notes.txt") || !contains(names, "tool.sh") {
		t.Fatalf("bob sees %v: the key is listed, or the rest is not", names)
	}
	if out := mustRun(t, n, 1, "search", "deploy", "--json"); containsEntry(t, out) {
		t.Fatalf("search finds the held file: %s", out)
	}
	if _, _, code := n.Run(t, 1, "get", "alice/proj/deploy-notes.txt", "--to", t.TempDir()); code == 0 {
		t.Fatal("the held file could be downloaded")
	}

	mustRun(t, n, 0, "share", "secrets", "release", "proj/deploy-notes.txt", "--data", n.Data(0))
	waitHashed(t, n, 1, "alice/proj/deploy-notes.txt")
	to := t.TempDir()
	mustRun(t, n, 1, "get", "alice/proj", "--to", to)
	sameTree(t, root, filepath.Join(to, "proj"))
	assertNoExecBits(t, to)
	var alice string
	for _, p := range listPeers(t, n, 1) {
		if p.Name == "alice" {
			alice = p.ID
		}
	}
	buf := make([]byte, 512)
	for _, name := range []string{"deploy-notes.txt", "tool.sh"} {
		k, err := unix.Getxattr(filepath.Join(to, "proj", name), "user.xdg.origin.url", buf)
		if err != nil {
			t.Fatalf("%s: no origin recorded: %v", name, err)
		}
		if got, want := string(buf[:k]), "porch://"+alice+"/proj/"+name; got != want {
			t.Errorf("%s: origin %q, want %q", name, got, want)
		}
	}
}

// containsEntry reports whether a search --json output holds any result.
func containsEntry(t *testing.T, out string) bool {
	t.Helper()
	var results []json.RawMessage
	decodeArray(t, out, "results", &results)
	return len(results) > 0
}
