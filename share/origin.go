package share

import (
	"errors"
	"net/url"
	"strings"
)

// Where a download came from. Browsers record the address a file was
// downloaded from in the extended attribute user.xdg.origin.url (the
// freedesktop.org Common Extended Attributes; wget and curl --xattr do the
// same), and file managers show it. Porch records there
// "porch://<peer id>/<path on that peer>", each path component
// percent-escaped: the peer id, not its display name, because a name may
// change or be shared by two machines while the id is the neighbour's for
// good. The attribute is set on the partial file, so it travels with the
// rename and a finished file never lacks it. Where the filesystem refuses
// extended attributes (tmpfs without user xattrs, FAT, some network
// filesystems) nothing is recorded and the download goes on.

// OriginAttr is the extended attribute a download's origin is recorded in.
const OriginAttr = "user.xdg.origin.url"

// ErrNoOrigin wraps the failure to record a download's origin (the
// filesystem does not store extended attributes, or not here).
var ErrNoOrigin = errors.New("share: origin not recorded")

// OriginURL returns the origin recorded for the file at path p (a tree path)
// on the peer with id peerID: "porch://<peerID>/<p>", each component of p
// percent-escaped.
func OriginURL(peerID, p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return "porch://" + url.PathEscape(peerID) + "/" + strings.Join(parts, "/")
}
