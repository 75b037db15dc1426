package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"porch/peer"
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
	eta := "--"
	if p.Rate > 0 && p.Total > p.Done {
		eta = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second)).Round(time.Second).String()
	}
	fmt.Fprintf(b.w, "\r%-20.20s [%s%s] %5.1f%% %9s/s  %d src  ETA %-6s",
		b.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill),
		100*frac, humanBytes(int64(p.Rate)), p.Sources, eta)
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
