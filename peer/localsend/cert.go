package localsend

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// certFile holds the LocalSend certificate and its key, PEM, in the data
// folder: one file, so that it is published in one step.
const certFile = "localsend.pem"

// Cert is this machine's LocalSend identity: a self-signed certificate
// kept forever (LocalSend remembers favourites by its fingerprint).
type Cert struct {
	TLS         tls.Certificate
	Fingerprint string // SHA-256 of the DER, 64 uppercase hex digits, as LocalSend computes it
}

// Fingerprint returns LocalSend's fingerprint of a DER certificate.
func Fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	return strings.ToUpper(hex.EncodeToString(s[:]))
}

// LoadCert reads the LocalSend certificate of dataDir, creating it on first
// use. It is a second certificate beside Porch's own (whose Ed25519 key
// not every LocalSend version accepts): RSA-2048 and CN "LocalSend User",
// as LocalSend makes its own, in one file of mode 0600. Two processes that
// create it at once agree on one (the first to publish it). A damaged file
// is replaced (LocalSend devices then see a new device).
func LoadCert(dataDir string) (*Cert, error) {
	p := filepath.Join(dataDir, certFile)
	if c, err := readCert(p); err == nil {
		return c, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		os.Remove(p)
	}
	b, err := newCertPEM()
	if err != nil {
		return nil, err
	}
	if err := publish(p, b); err != nil {
		return nil, err
	}
	return readCert(p)
}

func readCert(p string) (*Cert, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	c, err := tls.X509KeyPair(b, b)
	if err != nil || len(c.Certificate) == 0 {
		return nil, fmt.Errorf("localsend certificate %s: %v", p, err)
	}
	return &Cert{TLS: c, Fingerprint: Fingerprint(c.Certificate[0])}, nil
}

// newCertPEM makes a key and a self-signed certificate, PEM, key first.
func newCertPEM() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("localsend certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("localsend certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "LocalSend User"},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(100 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("localsend certificate: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...), nil
}

// publish writes b to p with mode 0600 unless p exists: the file is written
// and synced under a temporary name, then linked to p, which fails when
// another process published first (its file is kept).
func publish(p string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return fmt.Errorf("localsend certificate: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(b)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if err = os.Link(tmp, p); errors.Is(err, os.ErrExist) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("localsend certificate: %w", err)
	}
	return nil
}

// ServerTLS is the server's configuration: it asks for a client
// certificate but accepts connections without one (older clients and
// browsers send none), TLS 1.2 or 1.3, HTTP/1.1 only.
func (c *Cert) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{c.TLS},
		ClientAuth:   tls.RequestClientCert,
		NextProtos:   []string{"http/1.1"},
	}
}

// ErrFingerprint means a device's certificate is not the one it announced.
var ErrFingerprint = errors.New("localsend: certificate fingerprint mismatch")

// ClientTLS is the client's configuration for a device announced with
// fingerprint want: the server's leaf must hash to want (no chain or host
// name check, as LocalSend's own client does), and this machine's
// certificate is presented whatever the server's list of acceptable
// issuers says (Go would otherwise send none to LocalSend 1.18, which
// requires one).
func (c *Cert) ClientTLS(want string) *tls.Config {
	own := c.TLS
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		NextProtos:         []string{"http/1.1"},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &own, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return fmt.Errorf("%w: no certificate", ErrFingerprint)
			}
			if got := Fingerprint(cs.PeerCertificates[0].Raw); !strings.EqualFold(got, want) {
				return fmt.Errorf("%w: got %s…, announced %.12s…", ErrFingerprint, got[:12], want)
			}
			return nil
		},
	}
}
