package ui

import (
	"context"
	"fmt"

	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/driver/desktop"

	"porch/assets"
	"porch/peer"
	_ "porch/ui/cenv" // before Fyne initialises its translations
)

// AppID is the application id, the same as in FyneApp.toml.
const AppID = "net.porch.app"

// Run opens Porch's main window over eng and blocks until the window is
// closed or the tray's Quit is chosen (Fyne's driver quits on SIGINT and
// SIGTERM too); the engine runs on ctx for as long as the window does and
// has stopped when Run returns. The settings the window shows and saves are
// the engine's, kept in its data folder. The tray is added only when a
// session bus answers (see sessionBusReachable).
func Run(ctx context.Context, eng *peer.Engine) error {
	a := app.NewWithID(AppID)
	a.SetIcon(assets.Icon)
	w := New(a, NewAdapter(eng))
	if d, ok := a.(desktop.App); ok && sessionBusReachable() {
		d.SetSystemTrayMenu(w.TrayMenu())
		d.SetSystemTrayIcon(assets.Icon)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- eng.Run(ctx) }()
	a.Lifecycle().SetOnStopped(cancel)
	w.Window().ShowAndRun()
	cancel()
	if err := <-errc; err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}
