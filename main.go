// Command porch shares files with the computers around you: a window that
// lists the neighbours found on the local network, and a command line for the
// same engine. With no arguments it opens the window; see `porch --help`.
//
// main only wires the two faces together: package ui/cli parses the command
// line and runs its commands, and hands the window's start to ui.Run.
package main

import (
	"os"

	"porch/ui"
	"porch/ui/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, ui.Run))
}
