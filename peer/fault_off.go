//go:build !porchfault

package peer

import "time"

// faultOfferTTL returns d: offers expire after OfferTTL (see fault_porchfault.go for the
// test-only build).
func faultOfferTTL(d time.Duration) time.Duration { return d }
