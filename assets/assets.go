// Package assets holds Porch's bundled resources: the application icon, as
// the SVG it is drawn from and the PNG rendered from it (go run ./scripts/mkicon).
package assets

import (
	_ "embed"

	"fyne.io/fyne/v2"
)

//go:embed icon.png
var iconPNG []byte

// Icon is the application icon.
var Icon = fyne.NewStaticResource("icon.png", iconPNG)
