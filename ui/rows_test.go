package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"

	"porch/share"
)

func TestIconForKinds(t *testing.T) {
	for _, tt := range []struct {
		e    share.Entry
		want fyne.Resource
	}{
		{share.Entry{Name: "Holiday", Dir: true}, theme.FolderIcon()},
		{share.Entry{Name: "beach.JPG"}, theme.FileImageIcon()},
		{share.Entry{Name: "song.flac"}, theme.FileAudioIcon()},
		{share.Entry{Name: "film.mkv"}, theme.FileVideoIcon()},
		{share.Entry{Name: "notes.pdf"}, theme.FileTextIcon()},
		{share.Entry{Name: "backup.tar.gz"}, theme.FileApplicationIcon()},
		{share.Entry{Name: "Makefile"}, theme.FileIcon()},
	} {
		if got := iconFor(tt.e); got.Name() != tt.want.Name() {
			t.Errorf("iconFor(%q) = %s, want %s", tt.e.Name, got.Name(), tt.want.Name())
		}
	}
}
