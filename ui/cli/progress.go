package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"porch/peer"
	"porch/ui/human"
)

// progressBar draws a one-line progress bar on a terminal. On anything that
// is not a terminal it draws nothing. Safe for concurrent use.
type progressBar struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	label string
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	return &progressBar{w: w, tty: tty, label: label}
}

// update redraws the bar, at most ten times a second.
func (b *progressBar) update(p peer.GetProgress) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.tty || time.Since(b.last) < 100*time.Millisecond && p.Done < p.Total {
		return
	}
	b.last = time.Now()
	const width = 30
	frac := 1.0
	if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
	}
	fill := int(frac * width)
	eta := human.ETA(p.Done, p.Total, p.Rate)
	fmt.Fprintf(b.w, "\r%-20.20s [%s%s] %5.1f%% %11s  %d src  %-16s",
		b.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		100*frac, human.Rate(p.Rate), p.Sources, eta)
	b.drawn = true
}

// finish ends the bar's line.
func (b *progressBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
