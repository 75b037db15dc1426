package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestLoadCreatesAndReloads(t *testing.T) {
	dir := t.TempDir()
	a, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidFingerprint(a.Fingerprint) {
		t.Fatalf("fingerprint %q", a.Fingerprint)
	}
	if a.Fingerprint != FingerprintOf(a.Cert.Certificate[0]) {
		t.Fatal("fingerprint does not match certificate")
	}
	for _, f := range []string{idFile, keyFile, certFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, st.Mode().Perm())
		}
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID || a.Fingerprint != b.Fingerprint {
		t.Fatalf("reload changed identity: %s/%s vs %s/%s", a.ID, a.Fingerprint, b.ID, b.Fingerprint)
	}
	c, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == a.ID || c.Fingerprint == a.Fingerprint {
		t.Fatal("two data dirs share an identity")
	}
}

func TestLoadReplacesDamagedKey(t *testing.T) {
	dir := t.TempDir()
	a, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != a.ID {
		t.Error("id changed with the key")
	}
	if b.Fingerprint == a.Fingerprint {
		t.Error("damaged key was not replaced")
	}
}

func TestLoadBadID(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, idFile), []byte(`{"id":"../x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil {
		t.Fatal("Load accepted a malformed id")
	}
}

// handshake runs one TLS handshake over loopback between server and client
// configurations and returns both sides' errors.
func handshake(t *testing.T, srv, cli *tls.Config) (serverErr, clientErr error, serverSawFP string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		err error
		fp  string
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, srv)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		err = tc.Handshake()
		if err == nil {
			// TLS 1.3 client auth failures surface on the first read.
			_, err = tc.Read(make([]byte, 1))
			if err == io.EOF {
				err = nil
			}
		}
		ch <- res{err: err, fp: PeerFingerprint(tc.ConnectionState())}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), cli)
	if err == nil {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Write([]byte("x"))
		if err == nil {
			_, err = c.Read(make([]byte, 1))
			if err == io.EOF {
				err = nil
			}
		}
		c.Close()
	}
	r := <-ch
	return r.err, err, r.fp
}

func TestPinning(t *testing.T) {
	srv, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cli, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("right fingerprint", func(t *testing.T) {
		serr, cerr, fp := handshake(t, srv.ServerTLS(), cli.ClientTLS(Pin(srv.Fingerprint)))
		if serr != nil || cerr != nil {
			t.Fatalf("server %v, client %v", serr, cerr)
		}
		if fp != cli.Fingerprint {
			t.Fatalf("server saw client %s, want %s", fp, cli.Fingerprint)
		}
	})
	t.Run("wrong fingerprint", func(t *testing.T) {
		_, cerr, _ := handshake(t, srv.ServerTLS(), cli.ClientTLS(Pin(cli.Fingerprint)))
		if !errors.Is(cerr, ErrFingerprint) {
			t.Fatalf("client error %v, want ErrFingerprint", cerr)
		}
	})
	t.Run("client without certificate", func(t *testing.T) {
		cfg := cli.ClientTLS(Pin(srv.Fingerprint))
		cfg.Certificates = nil
		serr, cerr, _ := handshake(t, srv.ServerTLS(), cfg)
		if serr == nil || cerr == nil {
			t.Fatalf("server %v, client %v: want both to fail", serr, cerr)
		}
	})
	t.Run("TLS 1.2 refused", func(t *testing.T) {
		cfg := cli.ClientTLS(Pin(srv.Fingerprint))
		cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		serr, _, _ := handshake(t, srv.ServerTLS(), cfg)
		if serr == nil {
			t.Fatal("server accepted TLS 1.2")
		}
	})
}

func TestKnown(t *testing.T) {
	dir := t.TempDir()
	k, err := OpenKnown(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Check(a.ID, a.Fingerprint); err != nil {
		t.Fatalf("first sight: %v", err)
	}
	if err := k.Check(a.ID, a.Fingerprint); err != nil {
		t.Fatalf("same key: %v", err)
	}
	err = k.Check(a.ID, b.Fingerprint)
	if !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("changed key: %v, want ErrKeyChanged", err)
	}
	// Persisted, and the old key is kept.
	k2, err := OpenKnown(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := k2.Check(a.ID, b.Fingerprint); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("after reopen: %v, want ErrKeyChanged", err)
	}
	if err := k2.Check(a.ID, a.Fingerprint); err != nil {
		t.Fatalf("after reopen, old key: %v", err)
	}
	if err := k2.Forget(a.ID); err != nil {
		t.Fatal(err)
	}
	if err := k2.Check(a.ID, b.Fingerprint); err != nil {
		t.Fatalf("after Forget: %v", err)
	}
	// b's key now answers for a's id: under b's own id it is refused, since
	// one key does not speak for two peers.
	if err := k2.Check(b.ID, b.Fingerprint); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("a key known under another id: %v, want ErrKeyReused", err)
	}
	for _, c := range []struct{ id, fp string }{
		{"", a.Fingerprint},
		{a.ID, ""},
		{a.ID, "ABCDEF"},
		{a.ID, a.Fingerprint[:63] + "G"},
	} {
		if err := k2.Check(c.id, c.fp); err == nil {
			t.Errorf("Check(%q, %q) accepted", c.id, c.fp)
		}
	}
	st, err := os.Stat(filepath.Join(dir, knownFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("known_peers.json mode %v", st.Mode().Perm())
	}
}

func TestPairingCode(t *testing.T) {
	a := FingerprintOf([]byte("a"))
	b := FingerprintOf([]byte("b"))
	c := FingerprintOf([]byte("c"))
	ab, ba := PairingCode(a, b), PairingCode(b, a)
	if ab != ba {
		t.Fatalf("order dependent: %s vs %s", ab, ba)
	}
	if !regexp.MustCompile(`^[0-9]{3} [0-9]{3}$`).MatchString(ab) {
		t.Fatalf("code %q", ab)
	}
	if PairingCode(a, c) == ab && PairingCode(b, c) == ab {
		t.Fatal("code does not depend on the fingerprints")
	}
}

func FuzzValidFingerprint(f *testing.F) {
	f.Add(FingerprintOf(nil))
	f.Add("")
	f.Add("ABC")
	f.Fuzz(func(t *testing.T, s string) {
		if ValidFingerprint(s) {
			if len(s) != 64 || regexp.MustCompile(`[^0-9a-f]`).MatchString(s) {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

// writePair writes a self-signed certificate for key into dir.
func writePair(t *testing.T, dir string, key crypto.Signer) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, certFile), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, keyFile), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600)
	return FingerprintOf(der)
}

func TestLoadKeyTypes(t *testing.T) {
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	fp := writePair(t, dir, ec)
	id, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id.Fingerprint != fp {
		t.Fatal("ECDSA P-256 pair not used")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	fp = writePair(t, dir, p384)
	id, err = Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id.Fingerprint == fp {
		t.Fatal("ECDSA P-384 pair accepted")
	}
	if _, ok := id.Cert.PrivateKey.(ed25519.PrivateKey); !ok {
		t.Fatalf("replacement key is %T", id.Cert.PrivateKey)
	}
}
