//go:build porchfault

package peer

import (
	"os"
	"time"
)

// faultOfferTTL is test-only fault injection, compiled in only with -tags porchfault (the
// end-to-end tests build a second binary with it): PORCH_FAULT_OFFER_TTL=3s in the receiving
// process's environment makes its offers expire after 3 s instead of d, so that expiry can be
// seen end to end without waiting OfferTTL.
func faultOfferTTL(d time.Duration) time.Duration {
	if v, err := time.ParseDuration(os.Getenv("PORCH_FAULT_OFFER_TTL")); err == nil && v > 0 {
		return v
	}
	return d
}
