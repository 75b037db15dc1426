package share

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// secretNames are file or folder names that hold credentials or private data
// wherever they appear (compared case-insensitively).
var secretNames = map[string]bool{
	".ssh": true, ".gnupg": true, ".env": true, ".password-store": true,
	".aws": true, ".kube": true, ".docker": true, ".netrc": true, "_netrc": true,
	".pgpass": true, ".git-credentials": true, ".mozilla": true,
	"google-chrome": true, "chromium": true, "bravesoftware": true,
	"keyrings": true, ".htpasswd": true, ".npmrc": true, ".pypirc": true,
	"id_rsa": true, "id_dsa": true, "id_ecdsa": true, "id_ed25519": true,
	"id_ecdsa_sk": true, "id_ed25519_sk": true,
}

// secretExts are extensions of key stores and private keys.
var secretExts = map[string]bool{
	".pem": true, ".key": true, ".p12": true, ".pfx": true, ".kdbx": true,
	".keystore": true, ".jks": true,
}

// IsSecretName reports whether a file or folder called name (one component)
// likely holds secrets: SSH and GnuPG folders, .env files, private keys (not
// their .pub halves), key stores, password stores, cloud and container
// credentials, browser profile folders and keyrings.
func IsSecretName(name string) bool {
	low := strings.ToLower(name)
	if secretNames[low] || strings.HasPrefix(low, ".env.") {
		return true
	}
	return secretExts[path.Ext(low)]
}

// maxSecretWalk bounds the entries FindSecrets visits, so a huge tree cannot
// stall the warning shown before sharing.
const maxSecretWalk = 200_000

// FindSecrets walks root (a file or folder) and returns the slash paths,
// relative to root, of up to max likely secrets (see IsSecretName). It does not
// descend into a secret folder nor follow symbolic links. If root itself is a
// secret the result is ["."]. The walk visits at most a bounded number of
// entries; max <= 0 means no limit on results.
func FindSecrets(root string, max int) ([]string, error) {
	if IsSecretName(filepath.Base(root)) {
		return []string{"."}, nil
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, nil
	}
	var found []string
	visited := 0
	errStop := errors.New("stop")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // unreadable corners are not listed either
		}
		if p == root {
			return nil
		}
		visited++
		if visited > maxSecretWalk {
			return errStop
		}
		if IsSecretName(d.Name()) {
			rel, rerr := filepath.Rel(root, p)
			if rerr == nil {
				found = append(found, filepath.ToSlash(rel))
			}
			if max > 0 && len(found) >= max {
				return errStop
			}
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	if err != nil && err != errStop {
		return found, err
	}
	return found, nil
}
