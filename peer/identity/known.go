package identity

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

const knownFile = "known_peers.json"

// Known is the trust-on-first-use store of peer fingerprints, persisted in
// known_peers.json in the data directory as a JSON object mapping peer id to
// fingerprint. A mutex guards it; it is safe for concurrent use. It is meant
// to be the only writer of its file.
type Known struct {
	path string
	mu   sync.Mutex
	fps  map[string]string // peer id -> fingerprint
}

// OpenKnown opens the store in dataDir; a missing file is an empty store.
func OpenKnown(dataDir string) (*Known, error) {
	k := &Known{path: filepath.Join(dataDir, knownFile), fps: map[string]string{}}
	b, err := os.ReadFile(k.path)
	if errors.Is(err, os.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if err := json.Unmarshal(b, &k.fps); err != nil {
		return nil, fmt.Errorf("identity: %s: %w", k.path, err)
	}
	if k.fps == nil {
		k.fps = map[string]string{}
	}
	return k, nil
}

// Check checks that peer id presents fingerprint fp. The first time an id is
// seen its fingerprint is remembered (and saved); the same fingerprint again
// returns nil; a different one returns an error wrapping ErrKeyChanged with
// the id and both fingerprints, and the remembered one is kept. A malformed
// id or fingerprint is an error wrapping ErrFingerprint.
func (k *Known) Check(id, fp string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: bad peer id %q", ErrFingerprint, id)
	}
	if !ValidFingerprint(fp) {
		return fmt.Errorf("%w: malformed fingerprint %q", ErrFingerprint, fp)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	old, ok := k.fps[id]
	switch {
	case ok && old == fp:
		return nil
	case ok:
		return fmt.Errorf("%w: peer %s was %s, now presents %s", ErrKeyChanged, id, old, fp)
	}
	k.fps[id] = fp
	if err := k.saveLocked(); err != nil {
		delete(k.fps, id)
		return err
	}
	return nil
}

// Lookup returns the fingerprint remembered for id, if any.
func (k *Known) Lookup(id string) (fp string, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fp, ok = k.fps[id]
	return fp, ok
}

// Forget removes what is remembered for id, so that the next Check accepts
// whatever key it presents. It is how the user accepts a changed key.
func (k *Known) Forget(id string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	old, ok := k.fps[id]
	if !ok {
		return nil
	}
	delete(k.fps, id)
	if err := k.saveLocked(); err != nil {
		k.fps[id] = old
		return err
	}
	return nil
}

func (k *Known) saveLocked() error {
	b, err := json.MarshalIndent(k.fps, "", "  ")
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return writeFile(k.path, append(b, '\n'))
}

// PairingCode returns the short code two users compare to confirm they see
// each other's real keys: six decimal digits "ddd ddd" derived from the
// SHA-256 of both fingerprints in sorted order, so both sides compute the same
// code.
func PairingCode(fpA, fpB string) string {
	if fpB < fpA {
		fpA, fpB = fpB, fpA
	}
	s := sha256.Sum256([]byte("porch-pairing-v1\n" + fpA + "\n" + fpB))
	n := binary.BigEndian.Uint64(s[:8]) % 1000000
	return fmt.Sprintf("%03d %03d", n/1000, n%1000)
}
