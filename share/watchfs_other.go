//go:build !linux

package share

// noNotifications says why changes in dir would go unnoticed by change
// notifications; off Linux every filesystem is trusted to send them.
func noNotifications(string) string { return "" }

// processAlive reports whether a process with this id may run; off Linux
// it is assumed to.
func processAlive(pid int) bool { return pid > 0 }
