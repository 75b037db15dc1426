// Package cenv makes the plain C locale ("C.UTF-8", "POSIX.UTF-8", common on
// servers, containers and CI) acceptable to Fyne's locale lookup, which logs
// an error for it while Fyne's packages initialise. It does so by setting
// LANGUAGE=en when no LANGUAGE is set; messages in the C locale are English
// anyway. Import it for its side effect, before Fyne, from main.
//
// It imports only the standard library, so Go's package initialisation order
// (by import path, once a package's imports are ready) runs its init before
// Fyne's translations package, which needs far more to be initialised first.
package cenv

import (
	"os"
	"strings"
)

func init() {
	if os.Getenv("LANGUAGE") != "" {
		return
	}
	for _, env := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := os.Getenv(env)
		if v == "" {
			continue
		}
		if strings.HasPrefix(v, "C.") || strings.HasPrefix(v, "POSIX.") {
			os.Setenv("LANGUAGE", "en")
		}
		return
	}
}
