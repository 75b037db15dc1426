//go:build !porchfault

package wire

// Without the porchfault build tag the fault hooks do nothing and are inlined away; see
// fault_porchfault.go.

func faultCorrupt([]byte) {}

func faultContent(f File, err error) (File, error) { return f, err }
