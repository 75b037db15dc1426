//go:build !linux

package share

// noNotifications says why changes in dir would go unnoticed by change
// notifications; off Linux every filesystem is trusted to send them.
func noNotifications(string) string { return "" }
