package ui

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// humanBytes formats n with decimal units, as file managers do: "512 B",
// "3.4 GB".
func humanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KB", "MB", "GB", "TB", "PB", "EB"}
	v := float64(n)
	u := -1
	for v >= 999.95 && u < len(units)-1 {
		v /= 1000
		u++
	}
	if v >= 9.95 {
		return fmt.Sprintf("%.0f %s", v, units[u])
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}

// countFiles formats a number of files: "1 file", "12 files".
func countFiles(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}

// summary formats how much is shared: "12 files · 3.4 GB".
func summary(files int, bytes int64) string {
	return countFiles(files) + " · " + humanBytes(bytes)
}

// humanRate formats a transfer speed: "2.1 MB/s".
func humanRate(bytesPerSec float64) string {
	if bytesPerSec < 1 {
		return "0 B/s"
	}
	return humanBytes(int64(bytesPerSec)) + "/s"
}

// timeLeft formats an estimate: "8 s left", "3 min left", "2 h 5 min left".
func timeLeft(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s left", int(math.Ceil(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%d min left", int(math.Round(d.Minutes())))
	default:
		h := int(d.Hours())
		m := int(d.Minutes()) - 60*h
		if h >= 100 {
			return "more than 4 days left"
		}
		return fmt.Sprintf("%d h %d min left", h, m)
	}
}

// rateUnits are the units ParseRate accepts, by lower-case name.
var rateUnits = map[string]int64{
	"":    1,
	"b":   1,
	"kb":  1000,
	"mb":  1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"k":   1000,
	"m":   1000 * 1000,
	"g":   1000 * 1000 * 1000,
}

// ErrRate is wrapped by every error ParseRate returns.
var ErrRate = errors.New("not a speed")

// ParseRate parses an upload limit such as "20MB/s", "500 KB/s", "1.5MB",
// "2MiB/s" or "64000" (bytes per second). Units are decimal (KB = 1000
// bytes) unless binary (KiB = 1024); case does not matter and "/s" is
// optional. An empty or blank string means unlimited and returns 0. Zero,
// negative and fractional-byte speeds are errors.
func ParseRate(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	t := strings.ToLower(s)
	t = strings.TrimSuffix(t, "/s")
	t = strings.TrimSuffix(t, "ps")
	t = strings.TrimSpace(t)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult, ok := rateUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q: %w; write it like 20MB/s or 500KB/s", s, ErrRate)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w; write it like 20MB/s or 500KB/s", s, ErrRate)
	}
	bytes := v * float64(mult)
	if bytes >= math.MaxInt64/2 {
		return 0, fmt.Errorf("%q: %w: too large", s, ErrRate)
	}
	n := int64(math.Round(bytes))
	if n < 1 {
		return 0, fmt.Errorf("%q: %w: must be at least 1 B/s; leave it empty for no limit", s, ErrRate)
	}
	return n, nil
}

// FormatRate formats an upload limit so that ParseRate reads it back
// exactly: "" for 0 (unlimited), "20MB/s", "1536KiB/s", "1234567B/s".
func FormatRate(n int64) string {
	if n <= 0 {
		return ""
	}
	for _, u := range []struct {
		name string
		size int64
	}{{"GB", 1e9}, {"GiB", 1 << 30}, {"MB", 1e6}, {"MiB", 1 << 20}, {"KB", 1e3}, {"KiB", 1 << 10}} {
		if n%u.size == 0 {
			return fmt.Sprintf("%d%s/s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%dB/s", n)
}
