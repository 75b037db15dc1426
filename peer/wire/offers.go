package wire

// Bounds on one offer (PROTOCOL.md, "Offers"): what a receiver accepts from
// a sender's description of what it offers.
const (
	MaxOfferItems = 1000      // top-level files and folders
	MaxOfferFiles = 1_000_000 // files in all items
	MaxOfferBytes = 1 << 50   // bytes in all items (1 PiB)
)
