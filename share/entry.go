package share

import "time"

// Entry is one file or folder of this peer's shared tree, as listed to
// neighbours. Path is slash-separated from the top of the tree, whose first
// element is the shared item's name ("album/cd1/01.flac").
type Entry struct {
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	Size      int64     `json:"size"` // a file's bytes; a folder's total bytes below it
	Dir       bool      `json:"dir"`
	ModTime   time.Time `json:"mtime"`
	Files     int       `json:"files,omitempty"` // a folder's number of files below it
	ContentID string    `json:"cid,omitempty"`   // a file's content id; empty until hashed
}
