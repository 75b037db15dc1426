// Package identity is a Porch peer's cryptographic identity and the trust it
// keeps in other peers: a persistent peer id (a UUID) with a self-signed
// certificate, the TLS 1.3 configurations that present it, certificate
// pinning by fingerprint, a trust-on-first-use store of the fingerprints seen
// per peer id (Known), and the short pairing code two users compare to trust
// each other.
//
// It does not dial, listen or discover; package peer does that with the
// configurations built here.
package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
)

// File names inside the data directory.
const (
	idFile   = "identity.json"
	keyFile  = "key.pem"
	certFile = "cert.pem"
)

// certValidity is how long a generated certificate is valid. Peers pin the
// certificate itself, so expiry carries no meaning; it only has to be far away.
const certValidity = 100 * 365 * 24 * time.Hour

// Errors reported by identity checks.
var (
	// ErrKeyChanged means a peer id seen before presented a different
	// certificate. It is never accepted silently: the user must Forget the
	// old key first.
	ErrKeyChanged = errors.New("identity: peer key changed")
	// ErrKeyReused means a peer presented a key that is remembered for
	// another peer id: one key answers in the name of two peers, which no
	// honest install does (each has its own key and id).
	ErrKeyReused = errors.New("identity: key already known under another peer id")
	// ErrFingerprint means a server's certificate did not match the
	// fingerprint the client expected.
	ErrFingerprint = errors.New("identity: certificate fingerprint mismatch")
)

// Identity is this peer's id and certificate. It is immutable after Load and
// safe for concurrent use.
type Identity struct {
	ID          string          // peer id: a UUID, stable across restarts
	Cert        tls.Certificate // self-signed certificate with its private key
	Fingerprint string          // lowercase hex SHA-256 of Cert's leaf DER
}

type idJSON struct {
	ID string `json:"id"`
}

// Load reads the identity kept in dataDir, creating it on first use: the id
// in identity.json, an Ed25519 key in key.pem and a self-signed certificate in
// cert.pem, all written with mode 0600. A missing or unreadable key or
// certificate is replaced by a new pair (peers that knew the old one will see
// ErrKeyChanged); a missing id file gets a new id.
func Load(dataDir string) (*Identity, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	id, err := loadID(dataDir)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dataDir, certFile), filepath.Join(dataDir, keyFile))
	if err == nil {
		if err = checkKey(cert); err == nil {
			return newIdentity(id, cert)
		}
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		// A damaged pair is replaced rather than blocking startup; the
		// new fingerprint is reported by peers as a changed key.
		_ = os.Remove(filepath.Join(dataDir, certFile))
		_ = os.Remove(filepath.Join(dataDir, keyFile))
	}
	cert, err = generate(dataDir, id)
	if err != nil {
		return nil, err
	}
	return newIdentity(id, cert)
}

func newIdentity(id string, cert tls.Certificate) (*Identity, error) {
	if len(cert.Certificate) == 0 {
		return nil, errors.New("identity: empty certificate")
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		cert.Leaf = leaf
	}
	return &Identity{ID: id, Cert: cert, Fingerprint: FingerprintOf(cert.Certificate[0])}, nil
}

// checkKey accepts Ed25519 and ECDSA P-256 keys only.
func checkKey(cert tls.Certificate) error {
	switch k := cert.PrivateKey.(type) {
	case ed25519.PrivateKey:
		return nil
	case *ecdsa.PrivateKey:
		if k.Curve.Params().Name == "P-256" {
			return nil
		}
	}
	return fmt.Errorf("identity: unsupported key type %T", cert.PrivateKey)
}

// ValidID reports whether id is a peer id as Porch writes them: a UUID in
// the canonical lower-case form uuid.UUID.String produces, not the nil
// UUID, so that one peer has exactly one spelling of its id.
func ValidID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id && u != uuid.Nil
}

func loadID(dataDir string) (string, error) {
	p := filepath.Join(dataDir, idFile)
	b, err := os.ReadFile(p)
	if err == nil {
		var j idJSON
		if err := json.Unmarshal(b, &j); err != nil {
			return "", fmt.Errorf("identity: %s: %w", p, err)
		}
		u, err := uuid.Parse(j.ID)
		if err != nil {
			return "", fmt.Errorf("identity: %s: %w", p, err)
		}
		return u.String(), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("identity: %w", err)
	}
	id := uuid.NewString()
	b, _ = json.Marshal(idJSON{ID: id})
	if err := writeFile(p, append(b, '\n')); err != nil {
		return "", err
	}
	return id, nil
}

func generate(dataDir, id string) (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "porch " + id},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("identity: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	// Key first: a crash between the two writes leaves a key without a
	// certificate, which the next Load replaces.
	if err := writeFile(filepath.Join(dataDir, keyFile), keyPEM); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFile(filepath.Join(dataDir, certFile), certPEM); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// writeFile writes b to path atomically (temporary file, sync, rename) with
// mode 0600.
func writeFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	ok = true
	return nil
}

// FingerprintOf returns the fingerprint of a DER certificate: the lowercase
// hex SHA-256 of der.
func FingerprintOf(der []byte) string {
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// ValidFingerprint reports whether fp has the form of a fingerprint (64
// lowercase hex digits).
func ValidFingerprint(fp string) bool {
	if len(fp) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(fp); i++ {
		c := fp[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// PeerFingerprint returns the fingerprint of the other side's leaf
// certificate in cs, or "" if it presented none.
func PeerFingerprint(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return FingerprintOf(cs.PeerCertificates[0].Raw)
}

// ServerTLS returns a server configuration: TLS 1.3 only, presenting the
// identity's certificate and requiring a client certificate of any issuer.
// The client's fingerprint (PeerFingerprint) identifies it; nothing else about
// its certificate is trusted. Each call returns a new configuration.
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		MaxVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		ClientAuth:   tls.RequireAnyClientCert,
	}
}

// ClientTLS returns a client configuration: TLS 1.3 only, presenting the
// identity's certificate, and accepting the server only if verify, called with
// the fingerprint of the server's leaf certificate during the handshake,
// returns nil. Chain verification is replaced by this pin, so verify must not
// accept everything unless the caller checks the fingerprint later. verify is
// called from the handshaking goroutine and may be called concurrently.
func (id *Identity) ClientTLS(verify func(fp string) error) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		MaxVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{id.Cert},
		InsecureSkipVerify: true, // replaced by the fingerprint pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			fp := PeerFingerprint(cs)
			if fp == "" {
				return fmt.Errorf("%w: server sent no certificate", ErrFingerprint)
			}
			return verify(fp)
		},
	}
}

// Pin returns a verify function for ClientTLS that accepts exactly the
// fingerprint want.
func Pin(want string) func(fp string) error {
	return func(fp string) error {
		if fp != want {
			return fmt.Errorf("%w: got %s, want %s", ErrFingerprint, fp, want)
		}
		return nil
	}
}
