package share

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The secrets below are made when the test runs (real keys from crypto,
// tokens from random characters), so that no credential-shaped string is
// committed.

const alnumChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randFrom(r *mrand.Rand, chars string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[r.IntN(len(chars))]
	}
	return string(b)
}

func pemOf(t testing.TB, typ string, der []byte, headers map[string]string) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: der}))
}

// secretCases returns the table: text, whether it is a secret, the rule.
func secretCases(t testing.TB) []struct {
	name, text, rule string
} {
	r := mrand.New(mrand.NewPCG(1, 2))
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	pub, _ := x509.MarshalPKIXPublicKey(rsaKey.Public())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "porch test"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0)}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, ecKey.Public(), ecKey)
	if err != nil {
		t.Fatal(err)
	}
	body := func(n int) []byte { b := make([]byte, n); rand.Read(b); return b }
	opensshBody := base64.StdEncoding.EncodeToString(append([]byte("openssh-key-v1\x00"), body(300)...))
	var openssh strings.Builder
	openssh.WriteString("-----BEGIN OPENSSH PRIVATE KEY-----\n")
	for len(opensshBody) > 70 {
		openssh.WriteString(opensshBody[:70] + "\n")
		opensshBody = opensshBody[70:]
	}
	openssh.WriteString(opensshBody + "\n-----END OPENSSH PRIVATE KEY-----\n")
	pkcs8PEM := pemOf(t, "PRIVATE KEY", pkcs8, nil)
	jsonKey := strings.ReplaceAll(pkcs8PEM, "\n", `\n`)
	b64 := base64.StdEncoding.EncodeToString
	ppk := "PuTTY-User-Key-File-3: ssh-ed25519\r\nEncryption: none\r\nComment: eddsa-key-20250101\r\nPublic-Lines: 2\r\n" +
		b64(body(48)) + "\r\nPrivate-Lines: 1\r\n" + b64(body(32)) + "\r\nPrivate-MAC: " + randFrom(r, "0123456789abcdef", 64) + "\r\n"
	awsKey := "AKIA" + randFrom(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
	return []struct{ name, text, rule string }{
		{"rsa pkcs1", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), nil), "private-key"},
		{"ed25519 pkcs8", pkcs8PEM, "private-key"},
		{"ec sec1", pemOf(t, "EC PRIVATE KEY", ecDER, nil), "private-key"},
		{"openssh", openssh.String(), "private-key"},
		{"encrypted pem", pemOf(t, "RSA PRIVATE KEY", body(600), map[string]string{"Proc-Type": "4,ENCRYPTED",
			"DEK-Info": "AES-128-CBC,0123456789ABCDEF0123456789ABCDEF"}), "private-key"},
		{"pgp", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\nComment: test\n\n" + b64(body(400)) + "\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----\n", "private-key"},
		{"service account json", `{"type": "service_account", "private_key_id": "x", "private_key": "` + jsonKey + `", "client_email": "a@b"}`, "private-key"},
		{"one-line pem", "key: -----BEGIN PRIVATE KEY-----" + b64(body(100)) + "-----END PRIVATE KEY-----", "private-key"},
		{"putty", ppk, "putty-private-key"},
		{"aws", "aws_access_key_id=" + awsKey + "\n", "aws-access-token"},
		{"aws at end of file", "id " + awsKey, "aws-access-token"},
		{"github pat", "token: ghp_" + randFrom(r, alnumChars, 36) + "\n", "github-pat"},
		{"github app token", `"ghs_` + randFrom(r, alnumChars, 36) + `"`, "github-pat"},
		{"github fine-grained", "github_pat_" + randFrom(r, alnumChars+"_", 82) + " ", "github-fine-grained-pat"},
		{"gitlab", "GITLAB=glpat-" + randFrom(r, alnumChars+"-_", 20) + "\n", "gitlab-pat"},
		{"slack bot", "xoxb-" + randFrom(r, "0123456789", 12) + "-" + randFrom(r, "0123456789", 12) + "-" + randFrom(r, alnumChars, 24), "slack-token"},
		{"stripe", "stripe.api_key = 'sk_live_" + randFrom(r, alnumChars, 24) + "'", "stripe-access-token"},
		{"npm", "//registry.npmjs.org/:_authToken=npm_" + randFrom(r, "abcdefghijklmnopqrstuvwxyz0123456789", 36) + "\n", "npm-access-token"},
		{"gcp api key", "key=AIza" + randFrom(r, alnumChars+"_-", 35) + "&q=1", "gcp-api-key"},
		{"anthropic", "ANTHROPIC=sk-ant-api03-" + randFrom(r, alnumChars+"_-", 93) + "AA\n", "anthropic-api-key"},
		{"openai", "key sk-proj-" + randFrom(r, alnumChars, 40) + "T3BlbkFJ" + randFrom(r, alnumChars, 40) + "\n", "openai-api-key"},
		{"dotenv", "# app settings\nPORT=8080\nDATABASE_URL=postgres://db/app\nDATABASE_PASSWORD=" + randFrom(r, alnumChars, 20) + "\nDEBUG=false\n", "env-secrets"},
		{"aws credentials ini", "[default]\nregion = eu-west-1\naws_secret_access_key = " + randFrom(r, alnumChars+"/+", 40) + "\n", "env-secrets"},
		{"exported", "export API_TOKEN='" + randFrom(r, alnumChars, 32) + "'\nexport STAGE=prod\n", "env-secrets"},

		{"public key pem", pemOf(t, "PUBLIC KEY", pub, nil), ""},
		{"certificate", pemOf(t, "CERTIFICATE", cert, nil), ""},
		{"ssh public key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + randFrom(r, alnumChars, 43) + " me@laptop\n", ""},
		{"authorized_keys rsa", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ" + b64(body(300)) + " me@host\n", ""},
		{"doc naming a header", "Paste the text that starts with -----BEGIN RSA PRIVATE KEY----- into the box, then press Save.\n", ""},
		{"doc with elided body", "```\n-----BEGIN OPENSSH PRIVATE KEY-----\n...\n-----END OPENSSH PRIVATE KEY-----\n```\n", ""},
		{"doc with short body", "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\n", ""},
		{"putty mentioned", "A .ppk file starts with PuTTY-User-Key-File-2: and then the key type.\n", ""},
		{"aws documentation key", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", ""},
		{"aws too short", "AKIA" + randFrom(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 15) + "\n", ""},
		{"aws inside a word", "XAKIA" + randFrom(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16) + "\n", ""},
		{"github too short", "ghp_" + randFrom(r, alnumChars, 35) + "\n", ""},
		{"github too long", "ghp_" + randFrom(r, alnumChars, 40) + "\n", ""},
		{"identifier", "func gh_x() { var sk_live = npm_install; glpat := xoxb }\n", ""},
		{"sk- word", "the sk-learn package and task-runner sk-" + randFrom(r, alnumChars, 50) + "\n", ""},
		{"dotenv placeholders", "DB_HOST=localhost\nDB_PASSWORD=changeme\nAPI_TOKEN=${API_TOKEN}\nSECRET=<your secret>\nSECRET_KEY_FILE=/run/secrets/key\n", ""},
		{"dotenv no secrets", "PORT=8080\nHOST=0.0.0.0\nLOG_LEVEL=debug\nWORKERS=4\n", ""},
		{"script with a password", "#!/bin/sh\nset -e\nPASSWORD=" + randFrom(r, alnumChars, 16) + "\nif [ -z \"$1\" ]; then\n  echo usage\nfi\nrsync -a src dst\nexit 0\n", ""},
		{"prose", strings.Repeat("Porch shares files with the computers around you; a token-ring or an API_KEY is just a word here.\n", 50), ""},
	}
}

// scanAll runs a scanner over the writes and returns its verdict.
func scanAll(writes ...[]byte) string {
	var s secretScanner
	for _, w := range writes {
		s.Write(w)
	}
	s.Close()
	return s.Rule()
}

func TestSecretRules(t *testing.T) {
	for _, tc := range secretCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			text := []byte(tc.text)
			if got := scanAll(text); got != tc.rule {
				t.Fatalf("whole: rule %q, want %q", got, tc.rule)
			}
			// Cut anywhere into two writes: a pattern straddling the
			// boundary is still seen, and nothing appears from a cut.
			for cut := 1; cut < len(text); cut++ {
				if got := scanAll(text[:cut], text[cut:]); got != tc.rule {
					t.Fatalf("cut at %d: rule %q, want %q", cut, got, tc.rule)
				}
			}
		})
	}
}

// fillerText is source-like text without secrets.
func fillerText(n int) []byte {
	line := []byte("\tif err := l.cache.put(abs, key, fh); err != nil { // save the hash_cache entry for the next-run\n")
	out := bytes.Repeat(line, n/len(line)+1)
	return out[:n]
}

// Through the real hashing path: the secret in the middle of a text file of
// several blocks, placed so that it straddles a block boundary.
func TestHashScanFindsAcrossBlocks(t *testing.T) {
	fill := fillerText(3 * BlockSize)
	for _, tc := range secretCases(t) {
		if tc.rule == "" || tc.rule == "env-secrets" {
			continue // env-secrets reads the start of a file, by design
		}
		for _, back := range []int{1, 7, len(tc.text) / 2, len(tc.text) - 1} {
			at := BlockSize - back
			data := append(append(append([]byte{}, fill[:at]...), '\n'), tc.text...)
			data = append(append(data, '\n'), fill[at:]...)
			var s secretScanner
			h, err := hashScan(bytes.NewReader(data), nil, &s)
			if err != nil || h.Size != int64(len(data)) {
				t.Fatalf("%s: hashing: %v", tc.name, err)
			}
			if s.Rule() != tc.rule {
				t.Errorf("%s (%d bytes before the boundary): rule %q, want %q", tc.name, back, s.Rule(), tc.rule)
			}
		}
	}
	var s secretScanner
	if _, err := hashScan(bytes.NewReader(fill), nil, &s); err != nil || s.Rule() != "" {
		t.Fatalf("clean text: rule %q, %v", s.Rule(), err)
	}
	// A binary file (a NUL near its start) is not scanned, by design.
	key := secretCases(t)[0].text
	s = secretScanner{}
	if _, err := hashScan(bytes.NewReader([]byte("\x00\x01archive\n"+key)), nil, &s); err != nil || s.Rule() != "" {
		t.Fatalf("binary: rule %q, %v", s.Rule(), err)
	}
}

// FuzzSecretScanner: any input and any cut give the same verdict as the
// whole, and the scanner never panics.
func FuzzSecretScanner(f *testing.F) {
	for _, tc := range secretCases(f) {
		f.Add([]byte(tc.text), uint16(len(tc.text)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		whole := scanAll(data)
		c := int(cut) % (len(data) + 1)
		if got := scanAll(data[:c], data[c:]); got != whole {
			t.Fatalf("cut at %d: %q, whole: %q", c, got, whole)
		}
	})
}
