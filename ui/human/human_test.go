package human

import (
	"errors"
	"testing"
	"time"
)

var rateTests = []struct {
	in   string
	want int64
	err  bool
}{
	{"", 0, false},
	{"   ", 0, false},
	{"20MB/s", 20_000_000, false},
	{"20 MB/s", 20_000_000, false},
	{"500KB/s", 500_000, false},
	{"500kb/s", 500_000, false},
	{"1.5MB", 1_500_000, false},
	{"2MiB/s", 2 << 20, false},
	{"64KiB", 64 << 10, false},
	{"64000", 64_000, false},
	{"64000B/s", 64_000, false},
	{"1GB/s", 1_000_000_000, false},
	{"10 mbps", 10_000_000, false},
	{"3M", 3_000_000, false},
	{"0", 0, true},
	{"0MB/s", 0, true},
	{"0.1B/s", 0, true},
	{"-5MB/s", 0, true},
	{"fast", 0, true},
	{"MB/s", 0, true},
	{"20XB/s", 0, true},
	{"1.2.3MB", 0, true},
	{"99999999999GB/s", 0, true},
}

func TestParseRate(t *testing.T) {
	for _, tt := range rateTests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRate(tt.in)
			if tt.err {
				if !errors.Is(err, ErrRate) {
					t.Fatalf("ParseRate(%q) = %d, %v; want an ErrRate error", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRate(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatRateRoundTrip(t *testing.T) {
	for _, n := range []int64{0, 1, 999, 1000, 1024, 1536, 20_000_000, 2 << 20, 1_234_567, 3 << 30} {
		got, err := ParseRate(FormatRate(n))
		if err != nil || got != n {
			t.Errorf("ParseRate(FormatRate(%d) = %q) = %d, %v", n, FormatRate(n), got, err)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, tt := range rateTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseRate(s)
		if err != nil {
			if !errors.Is(err, ErrRate) {
				t.Fatalf("ParseRate(%q) error %v does not wrap ErrRate", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseRate(%q) = %d, negative", s, n)
		}
		back, err := ParseRate(FormatRate(n))
		if err != nil || back != n {
			t.Fatalf("ParseRate(FormatRate(%d) = %q) = %d, %v", n, FormatRate(n), back, err)
		}
	})
}

func TestHumanBytes(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {999, "999 B"}, {1000, "1.0 KB"}, {3_400_000_000, "3.4 GB"},
		{999_960, "1.0 MB"}, {150_000_000, "150 MB"},
	} {
		if got := Bytes(tt.n); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := Summary(12, 3_400_000_000); got != "12 files · 3.4 GB" {
		t.Errorf("summary = %q", got)
	}
	if got := Summary(1, 10); got != "1 file · 10 B" {
		t.Errorf("summary = %q", got)
	}
}

func TestTimeLeft(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{8 * time.Second, "8 s left"}, {3 * time.Minute, "3 min left"},
		{2*time.Hour + 5*time.Minute, "2 h 5 min left"},
	} {
		if got := TimeLeft(tt.d); got != tt.want {
			t.Errorf("TimeLeft(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	if d, err := ParseDuration("1m30s"); err != nil || d != 90*time.Second {
		t.Errorf("ParseDuration(1m30s) = %v, %v", d, err)
	}
	for _, bad := range []string{"", "soon", "-3s", "3"} {
		if _, err := ParseDuration(bad); !errors.Is(err, ErrDuration) {
			t.Errorf("ParseDuration(%q) error %v, want ErrDuration", bad, err)
		}
	}
}

func TestETA(t *testing.T) {
	if got := ETA(0, 100, 0); got != "" {
		t.Errorf("ETA with no rate = %q, want empty", got)
	}
	if got := ETA(100, 100, 5); got != "" {
		t.Errorf("ETA when done = %q, want empty", got)
	}
	if got := ETA(0, 8_000, 1_000); got != "8 s left" {
		t.Errorf("ETA = %q, want 8 s left", got)
	}
}
