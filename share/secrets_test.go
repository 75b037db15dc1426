package share

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestIsSecretName(t *testing.T) {
	for _, tc := range []struct {
		name string
		want bool
	}{
		{".ssh", true}, {".gnupg", true}, {".env", true}, {".env.local", true},
		{"id_rsa", true}, {"id_ed25519", true}, {"id_ecdsa", true},
		{"id_rsa.pub", false}, {"id_ed25519.pub", false},
		{"server.pem", true}, {"tls.KEY", true}, {"me.p12", true}, {"me.pfx", true},
		{"vault.kdbx", true}, {".password-store", true}, {".aws", true},
		{".kube", true}, {".docker", true}, {".netrc", true}, {".pgpass", true},
		{".git-credentials", true}, {".mozilla", true}, {"google-chrome", true},
		{"chromium", true}, {"BraveSoftware", true}, {"keyrings", true},
		{"photo.jpg", false}, {"environment.txt", false}, {".envrc", false},
		{"keynote.pdf", false}, {"README", false}, {"ssh", false},
	} {
		if got := IsSecretName(tc.name); got != tc.want {
			t.Errorf("IsSecretName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFindSecrets(t *testing.T) {
	home := t.TempDir()
	for _, f := range []string{
		".ssh/id_rsa", ".ssh/known_hosts", "project/.env", "project/main.go",
		".config/google-chrome/Default/Cookies", ".config/fyne/settings.json",
		"certs/site.pem", "docs/a.txt",
	} {
		writeFile(t, filepath.Join(home, f), "x")
	}
	got, err := FindSecrets(home, 0)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	want := []string{".config/google-chrome", ".ssh", "certs/site.pem", "project/.env"}
	if !slices.Equal(got, want) {
		t.Fatalf("FindSecrets = %q, want %q", got, want)
	}
	if got, _ := FindSecrets(home, 2); len(got) != 2 {
		t.Fatalf("max 2 gave %d results", len(got))
	}
	if got, _ := FindSecrets(filepath.Join(home, ".ssh"), 0); !slices.Equal(got, []string{"."}) {
		t.Fatalf("secret root gave %q", got)
	}
	if got, _ := FindSecrets(filepath.Join(home, "docs"), 0); len(got) != 0 {
		t.Fatalf("clean folder gave %q", got)
	}
}

// writeFile creates name with content, making parent folders.
func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
