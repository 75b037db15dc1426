// Package e2e holds the black-box tests of the porch binary: it has no code of its own, only
// tests (go test ./test/e2e), and imports no porch package.
//
// TestMain builds porch once from the module root, two folders up, with the Go toolchain that
// built the test binary and CGO_ENABLED=1 (PORCH_E2E_RACE=1 builds it with -race;
// PORCH_E2E_BIN=path tests a prebuilt binary instead, a relative path being taken from the module
// root). Tests that need the fault hooks (peer/wire/fault_*.go) build a second binary with
// -tags porchfault on first use. If a build fails, every test that needs it fails with its output.
//
// The tests run porch processes in network namespaces joined by a bridge (package
// porch/test/netns) and talk to them only through the command line, the window (under Xvfb,
// driven with scripts/xdnd-drop.c and xdotool) and the D-Bus session bus; screenshots go to
// artifacts/ at the module root:
//
//   - e2e_test.go: discovery, departures, share add picked up live, browsing, file and folder
//     downloads, resume, two sources, hostile paths;
//   - fault_test.go: a source killed mid-download, a corrupt source, a late source, many small
//     files;
//   - window_test.go: the window beside a neighbour, a folder dropped on it, SIGTERM;
//   - desktop_test.go: a download from the window raising a notification, the tray over D-Bus.
//
// The unit tests of each package live beside it; nothing here reaches inside the program.
package e2e
