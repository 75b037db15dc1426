package localsend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Protocol constants.
const (
	// Port is LocalSend's TCP and UDP port.
	Port = 53317
	// Version is the protocol version Porch speaks.
	Version = "2.2"
	// DeviceType is how Porch describes itself.
	DeviceType = "desktop"
	// DeviceModel is the model Porch announces.
	DeviceModel = "Porch"
)

// Bounds on what a remote device may send.
const (
	MaxDatagram    = 4 << 10  // one multicast announcement, bytes
	MaxInfoBody    = 16 << 10 // a register or info body, bytes
	MaxPrepareBody = 8 << 20  // a prepare-upload or prepare-download body, bytes
	MaxFiles       = 10000    // files in one session
	MaxAlias       = 128      // bytes of a device's alias or model kept
	MaxIDBytes     = 256      // a file id or token
	MaxPreview     = 64 << 10 // bytes of a text message kept
	MaxFileSize    = 1 << 42  // one file: 4 TiB
)

// ErrBadMessage is wrapped by every decoding error.
var ErrBadMessage = errors.New("localsend: bad message")

// Info is what a device says about itself in announcements, register
// bodies and info answers. Port, Protocol and Announce are absent from
// info answers; Announce is set only in multicast datagrams.
type Info struct {
	Alias       string `json:"alias"`
	Version     string `json:"version"`
	DeviceModel string `json:"deviceModel,omitempty"`
	DeviceType  string `json:"deviceType,omitempty"`
	Fingerprint string `json:"fingerprint"`
	Port        int    `json:"port,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	Download    bool   `json:"download"`
	Announce    *bool  `json:"announce,omitempty"`
	// Announcement is the key LocalSend up to 1.17 sends beside announce.
	Announcement *bool `json:"announcement,omitempty"`
}

// IsAnnounce reports whether a datagram asks to be answered.
func (i Info) IsAnnounce() bool {
	return i.Announce != nil && *i.Announce || i.Announcement != nil && *i.Announcement
}

// FileMetadata holds a file's times as RFC 3339 strings.
type FileMetadata struct {
	Modified string `json:"modified,omitempty"`
	Accessed string `json:"accessed,omitempty"`
}

// File describes one file of a session.
type File struct {
	ID       string        `json:"id"`
	FileName string        `json:"fileName"`
	Size     int64         `json:"size"`
	FileType string        `json:"fileType"`
	SHA256   string        `json:"sha256,omitempty"`
	Preview  string        `json:"preview,omitempty"`
	Metadata *FileMetadata `json:"metadata,omitempty"`
}

// IsText reports whether f is a text message: a text/plain file whose text
// is in the preview.
func (f File) IsText() bool {
	return strings.HasPrefix(f.FileType, "text/plain") && f.Preview != ""
}

// PrepareUpload is the body of prepare-upload.
type PrepareUpload struct {
	Info  Info            `json:"info"`
	Files map[string]File `json:"files"`
}

// PrepareUploadReply is prepare-upload's answer: the session and one token
// per accepted file.
type PrepareUploadReply struct {
	SessionID string            `json:"sessionId"`
	Files     map[string]string `json:"files"`
}

// PrepareDownloadReply is prepare-download's answer.
type PrepareDownloadReply struct {
	Info      Info            `json:"info"`
	SessionID string          `json:"sessionId"`
	Files     map[string]File `json:"files"`
}

// errorBody is the body of every error answer.
type errorBody struct {
	Message string `json:"message"`
}

// decode reads one JSON document of at most limit bytes from r into v,
// refusing trailing data. Unknown fields are ignored (newer LocalSend
// versions add some).
func decode(r io.Reader, limit int64, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return decodeBytes(b, limit, v)
}

func decodeBytes(b []byte, limit int64, v any) error {
	if int64(len(b)) > limit {
		return fmt.Errorf("%w: more than %d bytes", ErrBadMessage, limit)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON document", ErrBadMessage)
	}
	return nil
}

// ParseInfo decodes and checks an Info (a datagram, a register body or an
// info answer). needPort says whether port and protocol are required.
func ParseInfo(b []byte, needPort bool) (Info, error) {
	var i Info
	if err := decodeBytes(b, MaxInfoBody, &i); err != nil {
		return Info{}, err
	}
	return i, i.check(needPort)
}

// check validates i and normalises what may be normalised: alias and model
// are cleaned and cut, an unknown device type counts as desktop.
func (i *Info) check(needPort bool) error {
	if i.Fingerprint == "" || len(i.Fingerprint) > MaxIDBytes {
		return fmt.Errorf("%w: fingerprint missing or too long", ErrBadMessage)
	}
	i.Alias = cleanText(i.Alias, MaxAlias)
	if i.Alias == "" {
		return fmt.Errorf("%w: no alias", ErrBadMessage)
	}
	i.DeviceModel = cleanText(i.DeviceModel, MaxAlias)
	i.Version = cleanText(i.Version, 16)
	switch i.DeviceType {
	case "mobile", "desktop", "web", "headless", "server":
	default:
		i.DeviceType = "desktop"
	}
	if needPort {
		if i.Port < 1 || i.Port > 65535 {
			return fmt.Errorf("%w: port %d", ErrBadMessage, i.Port)
		}
		if i.Protocol != "http" && i.Protocol != "https" {
			return fmt.Errorf("%w: protocol %q", ErrBadMessage, cleanText(i.Protocol, 16))
		}
	}
	return nil
}

// cleanText makes a remote display string safe to show: valid UTF-8, no
// control or bidirectional characters, trimmed, at most n bytes.
func cleanText(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	return s
}

// checkFiles validates a session's files (from prepare-upload or
// prepare-download): count, ids, names (each folder component too), sizes,
// checksums. It does not check free space.
func checkFiles(files map[string]File, validPath func(string) error) error {
	if len(files) == 0 {
		return fmt.Errorf("%w: no files", ErrBadMessage)
	}
	if len(files) > MaxFiles {
		return fmt.Errorf("%w: %d files, at most %d", ErrBadMessage, len(files), MaxFiles)
	}
	for id, f := range files {
		if id == "" || len(id) > MaxIDBytes || !utf8.ValidString(id) {
			return fmt.Errorf("%w: bad file id", ErrBadMessage)
		}
		if f.ID != "" && f.ID != id {
			return fmt.Errorf("%w: file id %.40q listed as %.40q", ErrBadMessage, f.ID, id)
		}
		if f.FileName == "" {
			return fmt.Errorf("%w: a file without a name", ErrBadMessage)
		}
		if err := validPath(f.FileName); err != nil {
			return fmt.Errorf("%w: file name %.80q: %v", ErrBadMessage, f.FileName, err)
		}
		if f.Size < 0 || f.Size > MaxFileSize {
			return fmt.Errorf("%w: %.80q: size %d", ErrBadMessage, f.FileName, f.Size)
		}
		if f.SHA256 != "" && !isHex64(f.SHA256) {
			return fmt.Errorf("%w: %.80q: sha256 is not 64 hex digits", ErrBadMessage, f.FileName)
		}
		if len(f.Preview) > MaxPreview {
			return fmt.Errorf("%w: %.80q: preview longer than %d bytes", ErrBadMessage, f.FileName, MaxPreview)
		}
	}
	return nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
