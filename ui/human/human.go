// Package human formats and parses the sizes, speeds and durations people
// read and type, for both of Porch's faces: the window and the command line
// show the same file as the same size because both call [Bytes].
//
// Sizes use decimal units, as file managers do (1 KB = 1000 bytes); parsing
// accepts binary units too (1 KiB = 1024 bytes), through the one size parser
// that search queries use as well (share.ParseSize). The package has no
// state.
package human

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"porch/share"
)

// Bytes formats n with decimal units: "512 B", "3.4 GB", "150 MB".
func Bytes(n int64) string {
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

// Files formats a number of files: "1 file", "12 files".
func Files(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}

// Summary formats how much is shared: "12 files · 3.4 GB".
func Summary(files int, bytes int64) string {
	return Files(files) + " · " + Bytes(bytes)
}

// Rate formats a transfer speed: "2.1 MB/s".
func Rate(bytesPerSec float64) string {
	if bytesPerSec < 1 {
		return "0 B/s"
	}
	return Bytes(int64(bytesPerSec)) + "/s"
}

// TimeLeft formats an estimate: "8 s left", "3 min left", "2 h 5 min left".
func TimeLeft(d time.Duration) string {
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

// ETA is the time left at rate bytes per second for done of total bytes, as
// TimeLeft words it, or "" when it cannot be known yet.
func ETA(done, total int64, rate float64) string {
	if rate <= 0 || total <= done {
		return ""
	}
	return TimeLeft(time.Duration(float64(total-done) / rate * float64(time.Second)))
}

// Errors wrapped by the parsers. ErrSize is share's: sizes typed here and in
// a search (size>100MB) are read by one parser.
var (
	ErrSize     = share.ErrSize
	ErrRate     = errors.New("not a speed")
	ErrDuration = errors.New("not a duration")
)

// ParseBytes parses a size such as "100MB", "1.5 GiB", "4k" or "4096" (see
// share.ParseSize). Units are decimal unless binary; case does not matter.
func ParseBytes(s string) (int64, error) { return share.ParseSize(s) }

// ParseRate parses an upload limit such as "20MB/s", "500 KB/s", "1.5MB",
// "2MiB/s", "10 mbps" or "64000" (bytes per second): a size as ParseBytes
// reads it, with "/s" or "ps" optional. An empty or blank string means
// unlimited and returns 0. Zero, negative and fractional-byte speeds are
// errors.
func ParseRate(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	t := strings.ToLower(s)
	t = strings.TrimSuffix(t, "/s")
	t = strings.TrimSuffix(t, "ps")
	n, err := ParseBytes(t)
	if err != nil {
		return 0, fmt.Errorf("%q: %w; write it like 20MB/s or 500KB/s", s, ErrRate)
	}
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

// ParseDuration parses a duration typed on the command line, such as "3s",
// "500ms" or "1m30s"; negative durations are errors.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: %w like 3s or 500ms", s, ErrDuration)
	}
	return d, nil
}
