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

// KnownStore is where Known keeps the fingerprints: a small interface so
// that the engine can keep them in its database without this package
// importing it. Implementations must be safe for concurrent use.
type KnownStore interface {
	// Pin remembers fp for id unless a fingerprint is remembered already,
	// atomically, and returns the fingerprint remembered now.
	Pin(id, fp string) (pinned string, err error)
	// Lookup returns the fingerprint remembered for id, if any.
	Lookup(id string) (fp string, ok bool, err error)
	// Owner returns the id that fingerprint fp is remembered for, if any.
	Owner(fp string) (id string, ok bool, err error)
	// Forget removes what is remembered for id.
	Forget(id string) error
}

// Known is the trust-on-first-use store of peer fingerprints. It keeps
// nothing itself: every call reads or writes its KnownStore, so several
// processes sharing one store see each other's pins. It is safe for
// concurrent use.
type Known struct {
	store KnownStore
}

// NewKnown returns a Known kept in store.
func NewKnown(store KnownStore) *Known { return &Known{store: store} }

// OpenKnown opens a Known kept in known_peers.json in dataDir (a JSON object
// mapping peer id to fingerprint, mode 0600); a missing file is an empty
// store. It is meant to be the only writer of its file.
func OpenKnown(dataDir string) (*Known, error) {
	f := &knownFileStore{path: filepath.Join(dataDir, knownFile), fps: map[string]string{}}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return NewKnown(f), nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if err := json.Unmarshal(b, &f.fps); err != nil {
		return nil, fmt.Errorf("identity: %s: %w", f.path, err)
	}
	if f.fps == nil {
		f.fps = map[string]string{}
	}
	return NewKnown(f), nil
}

// Check checks that peer id presents fingerprint fp. The first time an id is
// seen its fingerprint is remembered (and saved); the same fingerprint again
// returns nil; a different one returns an error wrapping ErrKeyChanged with
// the id and both fingerprints, and the remembered one is kept. A key
// remembered for another id is refused with ErrKeyReused. A malformed id or
// fingerprint is an error wrapping ErrFingerprint.
func (k *Known) Check(id, fp string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("%w: bad peer id %q", ErrFingerprint, id)
	}
	if !ValidFingerprint(fp) {
		return fmt.Errorf("%w: malformed fingerprint %q", ErrFingerprint, fp)
	}
	owner, ok, err := k.store.Owner(fp)
	if err != nil {
		return fmt.Errorf("identity: looking up a key: %w", err)
	}
	if ok && owner != id {
		return fmt.Errorf("%w: %s presents the key of %s", ErrKeyReused, id, owner)
	}
	old, err := k.store.Pin(id, fp)
	if err != nil {
		return fmt.Errorf("identity: remembering the key of %s: %w", id, err)
	}
	if old != fp {
		return fmt.Errorf("%w: peer %s was %s, now presents %s", ErrKeyChanged, id, old, fp)
	}
	return nil
}

// Lookup returns the fingerprint remembered for id, if any; a store that
// cannot be read remembers nothing.
func (k *Known) Lookup(id string) (fp string, ok bool) {
	fp, ok, err := k.store.Lookup(id)
	if err != nil {
		return "", false
	}
	return fp, ok
}

// Forget removes what is remembered for id, so that the next Check accepts
// whatever key it presents. It is how the user accepts a changed key.
func (k *Known) Forget(id string) error {
	if err := k.store.Forget(id); err != nil {
		return fmt.Errorf("identity: forgetting the key of %s: %w", id, err)
	}
	return nil
}

// knownFileStore is the KnownStore of OpenKnown: a map, saved whole to its
// file at every change. mu guards fps.
type knownFileStore struct {
	path string
	mu   sync.Mutex
	fps  map[string]string // peer id -> fingerprint
}

func (f *knownFileStore) Pin(id, fp string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.fps[id]; ok {
		return old, nil
	}
	f.fps[id] = fp
	if err := f.saveLocked(); err != nil {
		delete(f.fps, id)
		return "", err
	}
	return fp, nil
}

func (f *knownFileStore) Lookup(id string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fp, ok := f.fps[id]
	return fp, ok, nil
}

func (f *knownFileStore) Owner(fp string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, known := range f.fps {
		if known == fp {
			return id, true, nil
		}
	}
	return "", false, nil
}

func (f *knownFileStore) Forget(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, ok := f.fps[id]
	if !ok {
		return nil
	}
	delete(f.fps, id)
	if err := f.saveLocked(); err != nil {
		f.fps[id] = old
		return err
	}
	return nil
}

func (f *knownFileStore) saveLocked() error {
	b, err := json.MarshalIndent(f.fps, "", "  ")
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	return writeFile(f.path, append(b, '\n'))
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
