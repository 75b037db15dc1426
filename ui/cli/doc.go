// Package cli is Porch's command line, the second face of the engine beside
// the window: a small dispatch table of commands (serve, share, peers, ls,
// get, search), flags that may stand anywhere, one line on stderr for a
// failure and stable exit statuses, --json output for scripts.
//
// It does not import Fyne and does not open the window itself: with no
// command, Main calls the WindowFunc that main passes in (ui.Run). Sizes,
// speeds and durations are worded by package ui/human, as in the window.
package cli
