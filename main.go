// Command porch shares files with the computers around you: a window that
// lists the neighbours found on the local network, and a command line for the
// same engine. With no arguments it opens the window; see `porch --help`.
package main

import (
	"errors"
	"fmt"
	"os"

	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/driver/desktop"

	"porch/assets"
	"porch/ui"
	_ "porch/ui/cenv" // before Fyne initialises its translations
)

// appID is the application id, the same as in FyneApp.toml.
const appID = "net.porch.app"

func main() {
	os.Exit(run(os.Args[1:]))
}

// runWindow opens the main window and blocks until it is closed.
func runWindow(o *options) error {
	eng, err := o.engine(false)
	if err != nil {
		return err
	}
	a := app.NewWithID(appID)
	a.SetIcon(assets.Icon)
	w := ui.New(a, ui.NewAdapter(eng, a.Preferences(), o.str("name", "")))
	if d, ok := a.(desktop.App); ok && sessionBusReachable() {
		d.SetSystemTrayMenu(w.TrayMenu())
		d.SetSystemTrayIcon(assets.Icon)
	}
	errc := make(chan error, 1)
	ctx, cancel := signalContext()
	defer cancel()
	go func() { errc <- eng.Run(ctx) }()
	a.Lifecycle().SetOnStopped(cancel)
	w.Window().ShowAndRun()
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, errStopped) {
		return fmt.Errorf("engine: %w", err)
	}
	return nil
}
