package peer

import (
	"path"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// siblings finds names in one folder of a listing that would be one file on
// a filesystem that ignores case or Unicode normalisation (NTFS, APFS,
// exFAT). The listing comes in pre-order, so it keeps the names of the
// folders on the current path only.
type siblings struct {
	stack []siblingDir
}

type siblingDir struct {
	path  string
	names map[string]string // folded name -> name as listed
}

func newSiblings() *siblings { return &siblings{} }

// add records the entry at slash path p and reports an earlier sibling it
// clashes with.
func (s *siblings) add(p string, dir bool) (other string, clash bool) {
	parent, name := path.Split(p)
	parent = strings.TrimSuffix(parent, "/")
	for len(s.stack) > 0 && s.stack[len(s.stack)-1].path != parent {
		s.stack = s.stack[:len(s.stack)-1]
	}
	if len(s.stack) > 0 {
		top := s.stack[len(s.stack)-1]
		key := strings.ToLower(norm.NFC.String(name))
		if other, ok := top.names[key]; ok {
			return other, true
		}
		top.names[key] = name
	}
	if dir {
		s.stack = append(s.stack, siblingDir{path: p, names: map[string]string{}})
	}
	return "", false
}
