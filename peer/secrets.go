package peer

import (
	"fmt"

	"porch/share"
)

// Secrets lists the shared files whose content looks like a secret, held
// back until the user decides, kept private or released (see
// share.Library.Secrets); none for a ClientOnly engine.
func (e *Engine) Secrets() ([]share.SecretFile, error) {
	if e.lib == nil {
		return nil, nil
	}
	return e.lib.Secrets()
}

// DecideSecret releases (shares after all) or keeps private a file Secrets
// lists, given by its shared or local path; the change is served at once.
func (e *Engine) DecideSecret(path string, release bool) (share.SecretFile, error) {
	if e.lib == nil {
		return share.SecretFile{}, fmt.Errorf("cannot decide on %s: %w", path, ErrClientOnly)
	}
	return e.lib.DecideSecret(path, release)
}
