package discovery

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/miekg/dns"
)

const (
	goodID = "0f8fad5b-d9cb-469f-a165-70867728950e"
	goodFP = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

func txt(extra ...string) []string {
	return append([]string{"v=1", "id=" + goodID, "name=Alice", "fp=" + goodFP}, extra...)
}

func replace(list []string, prefix, with string) []string {
	out := slices.Clone(list)
	for i, s := range out {
		if strings.HasPrefix(s, prefix) {
			out[i] = with
		}
	}
	return out
}

func drop(list []string, prefix string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return strings.HasPrefix(s, prefix) })
}

var parseTXTCases = []struct {
	name     string
	txt      []string
	wantName string
	wantErr  error
}{
	{"good", txt(), "Alice", nil},
	{"unknown and bare keys ignored", txt("x=y", "flag", "=", ""), "Alice", nil},
	{"keys case-insensitive", []string{"V=1", "ID=" + goodID, "Name=Alice", "FP=" + goodFP}, "Alice", nil},
	{"upper-case fingerprint", replace(txt(), "fp=", "fp="+strings.ToUpper(goodFP)), "Alice", nil},
	{"empty name", replace(txt(), "name=", "name="), "", nil},
	{"no name", drop(txt(), "name="), "", nil},
	{"escaped UTF-8 name", replace(txt(), "name=", `name=Zo\195\171`), "Zoë", nil},
	{"escaped backslash and quote", replace(txt(), "name=", `name=a\\b\"c`), `a\b"c`, nil},
	{"name of 64 bytes", replace(txt(), "name=", "name="+strings.Repeat("é", 32)), strings.Repeat("é", 32), nil},
	{"equals sign in name", replace(txt(), "name=", "name=a=b"), "a=b", nil},

	{"no version", drop(txt(), "v="), "", ErrVersion},
	{"version 2", replace(txt(), "v=", "v=2"), "", ErrVersion},
	{"version with space", replace(txt(), "v=", "v=1 "), "", ErrVersion},
	{"no id", drop(txt(), "id="), "", ErrID},
	{"id not a uuid", replace(txt(), "id=", "id=alice"), "", ErrID},
	{"id upper case", replace(txt(), "id=", "id="+strings.ToUpper(goodID)), "", ErrID},
	{"id in braces", replace(txt(), "id=", "id={"+goodID+"}"), "", ErrID},
	{"id urn form", replace(txt(), "id=", "id=urn:uuid:"+goodID), "", ErrID},
	{"id without hyphens", replace(txt(), "id=", "id="+strings.ReplaceAll(goodID, "-", "")), "", ErrID},
	{"nil id", replace(txt(), "id=", "id=00000000-0000-0000-0000-000000000000"), "", ErrID},
	{"no fingerprint", drop(txt(), "fp="), "", ErrFingerprint},
	{"short fingerprint", replace(txt(), "fp=", "fp="+goodFP[:63]), "", ErrFingerprint},
	{"long fingerprint", replace(txt(), "fp=", "fp="+goodFP+"0"), "", ErrFingerprint},
	{"fingerprint not hex", replace(txt(), "fp=", "fp="+goodFP[:63]+"g"), "", ErrFingerprint},
	{"name of 65 bytes", replace(txt(), "name=", "name="+strings.Repeat("a", 65)), "", ErrName},
	{"name with newline", replace(txt(), "name=", `name=a\010b`), "", ErrName},
	{"name with NUL", replace(txt(), "name=", `name=a\000b`), "", ErrName},
	{"name with DEL", replace(txt(), "name=", `name=a\127b`), "", ErrName},
	{"name with C1 control", replace(txt(), "name=", `name=a\194\133b`), "", ErrName},
	{"name not UTF-8", replace(txt(), "name=", `name=a\255b`), "", ErrName},
	{"name with replacement char", replace(txt(), "name=", "name=a\uFFFDb"), "", ErrName},
	{"duplicate id", txt("id=" + goodID), "", ErrTXT},
	{"duplicate name", txt("NAME=Mallory"), "", ErrTXT},
	{"trailing backslash", txt(`x=\`), "", ErrTXT},
	{"escape over 255", txt(`x=\256`), "", ErrTXT},
	{"index version", txt("iv=42"), "Alice", nil},
	{"index version 0", txt("iv=0"), "Alice", nil},
	{"largest index version", txt("iv=18446744073709551615"), "Alice", nil},
	{"index version too big", txt("iv=18446744073709551616"), "", ErrTXT},
	{"index version leading zero", txt("iv=042"), "", ErrTXT},
	{"index version signed", txt("iv=+4"), "", ErrTXT},
	{"index version empty", txt("iv="), "", ErrTXT},
	{"index version not a number", txt("iv=4x"), "", ErrTXT},
	{"duplicate index version", txt("iv=1", "IV=2"), "", ErrTXT},
	{"too many strings", txt(strings.Split(strings.Repeat("x=1,", 40), ",")...), "", ErrTXT},
}

func TestParseTXT(t *testing.T) {
	for _, tc := range parseTXTCases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseTXT(tc.txt)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("ParseTXT(%q) error = %v, want %v", tc.txt, err, tc.wantErr)
				}
				if a.ID != "" || a.Name != "" || a.Fingerprint != "" {
					t.Errorf("failed parse returned data: %+v", a)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTXT(%q): %v", tc.txt, err)
			}
			if a.ID != goodID || a.Fingerprint != goodFP || a.Name != tc.wantName {
				t.Errorf("ParseTXT(%q) = %+v, want id %s fp %s name %q", tc.txt, a, goodID, goodFP, tc.wantName)
			}
		})
	}
}

// wireTXT sends txt through the DNS library the way zeroconf does: packed by
// a server, unpacked by a browser.
func wireTXT(t testing.TB, txt []string) []string {
	t.Helper()
	rr := &dns.TXT{Hdr: dns.RR_Header{Name: "x.local.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: txt}
	m := new(dns.Msg)
	m.Answer = []dns.RR{rr}
	buf, err := m.Pack()
	if err != nil {
		t.Fatalf("pack %q: %v", txt, err)
	}
	var got dns.Msg
	if err := got.Unpack(buf); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	return got.Answer[0].(*dns.TXT).Txt
}

func TestTXTRoundTripsThroughDNS(t *testing.T) {
	for _, name := range []string{"Alice", "", `back\slash`, `\065`, `"quoted"`, "Zoë ☀ 日本", strings.Repeat("é", 32), `\`} {
		self := Announcement{ID: goodID, Name: cleanName(name), Fingerprint: goodFP, Index: 1<<40 + 7}
		a, err := ParseTXT(wireTXT(t, buildTXT(self)))
		if err != nil {
			t.Fatalf("name %q: %v", name, err)
		}
		if a.Name != name || a.ID != goodID || a.Fingerprint != goodFP || a.Index != self.Index {
			t.Errorf("name %q came back as %+v", name, a)
		}
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"  Alice  ":                   "Alice",
		"a\x00b\nc\x7fd\u0085e":       "abcde",
		"bad \xff utf8":               "bad  utf8",
		strings.Repeat("é", 40):       strings.Repeat("é", 32),
		strings.Repeat("a", 63) + "é": strings.Repeat("a", 63),
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseTXT(f *testing.F) {
	for _, tc := range parseTXTCases {
		f.Add(strings.Join(tc.txt, "\n"))
	}
	f.Fuzz(func(t *testing.T, joined string) {
		list := strings.Split(joined, "\n")
		a, err := ParseTXT(list)
		if err == nil {
			if validID(a.ID) != nil || validName(a.Name) != nil || len(a.Fingerprint) != 64 || strings.ToLower(a.Fingerprint) != a.Fingerprint {
				t.Fatalf("ParseTXT(%q) accepted invalid %+v", list, a)
			}
			// What we accept, we can announce again unchanged.
			b, err := ParseTXT(wireTXT(t, buildTXT(a)))
			if err != nil || b.ID != a.ID || b.Name != a.Name || b.Fingerprint != a.Fingerprint {
				t.Fatalf("re-announcing %+v gives %+v, %v", a, b, err)
			}
		}
		// Any name a user types can be announced.
		n := cleanName(joined)
		if validName(n) != nil || !utf8.ValidString(n) {
			t.Fatalf("cleanName(%q) = %q is not valid", joined, n)
		}
	})
}

func testDiscovery(t *testing.T, ifaces []net.Interface) *Discovery {
	t.Helper()
	return &Discovery{log: nopLogger(), ifaces: ifaces, self: Announcement{ID: "11111111-2222-4333-8444-555555555555"}}
}

// response is a zeroconf responder's answer about instance: PTR, SRV (on host
// "porch-test.local.") and TXT in the answers, the addresses in the extras.
func response(instance string, port int, text []string, ips ...string) *dns.Msg {
	svc := ServiceType + "." + Domain
	name := instance + "." + svc
	host := "porch-test.local."
	m := new(dns.Msg)
	m.Response = true
	hdr := func(n string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: n, Rrtype: t, Class: dns.ClassINET, Ttl: 3200}
	}
	m.Answer = []dns.RR{
		&dns.PTR{Hdr: hdr(svc, dns.TypePTR), Ptr: name},
		&dns.SRV{Hdr: hdr(name, dns.TypeSRV), Port: uint16(port), Target: host},
		&dns.TXT{Hdr: hdr(name, dns.TypeTXT), Txt: text},
	}
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip.To4() != nil {
			m.Extra = append(m.Extra, &dns.A{Hdr: hdr(host, dns.TypeA), A: ip})
		} else {
			m.Extra = append(m.Extra, &dns.AAAA{Hdr: hdr(host, dns.TypeAAAA), AAAA: ip})
		}
	}
	return m
}

// testBrowser is a browser without sockets whose reports and questions are
// collected.
func testBrowser(d *Discovery) (*browser, chan Announcement, chan string) {
	found, asked := make(chan Announcement, 64), make(chan string, 64)
	b := &browser{d: d, found: found, asked: func(id string) { asked <- id },
		cache: map[string]*cached{}, lastCheck: map[string]time.Time{}, requery: make(chan struct{}, 1)}
	return b, found, asked
}

// through packs m and unpacks it again, as it travels.
func through(t *testing.T, m *dns.Msg) *dns.Msg {
	t.Helper()
	buf, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var out dns.Msg
	if err := out.Unpack(buf); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestHandleResponse(t *testing.T) {
	d := testDiscovery(t, []net.Interface{{Index: 7, Name: "eth0"}})
	own := "11111111-2222-4333-8444-555555555555"
	many := make([]string, 40)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}).String()
	}
	cases := []struct {
		name  string
		m     *dns.Msg
		ok    bool
		addrs []string
	}{
		{"good", response(goodID, 8443, txt(), "192.0.2.1", "2001:db8::1"), true, []string{"192.0.2.1", "2001:db8::1"}},
		{"link-local gets the zone", response(goodID, 8443, txt(), "fe80::1"), true, []string{"fe80::1%eth0"}},
		{"mapped, duplicate, unspecified, multicast dropped", response(goodID, 8443, txt(), "::ffff:192.0.2.1", "192.0.2.1", "0.0.0.0", "224.0.0.251", "ff02::fb"), true, []string{"192.0.2.1"}},
		{"addresses bounded", response(goodID, 8443, txt(), many...), true, many[:maxAddrs]},
		{"own id", response(own, 8443, replace(txt(), "id=", "id="+own), "192.0.2.1"), false, nil},
		{"instance is not the id", response("alice", 8443, txt(), "192.0.2.1"), false, nil},
		{"port 0", response(goodID, 0, txt(), "192.0.2.1"), false, nil},
		{"no usable address", response(goodID, 8443, txt(), "0.0.0.0"), false, nil},
		{"bad txt", response(goodID, 8443, replace(txt(), "v=", "v=0"), "192.0.2.1"), false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, found, _ := testBrowser(d)
			b.handle(t.Context(), through(t, tc.m), 0, nil)
			var a Announcement
			ok := false
			select {
			case a = <-found:
				ok = true
			default:
			}
			if ok != tc.ok {
				t.Fatalf("reported %+v, %v; want ok %v", a, ok, tc.ok)
			}
			if !ok {
				return
			}
			var got []string
			for _, x := range a.Addrs {
				got = append(got, x.String())
			}
			if !slices.Equal(got, tc.addrs) || a.Port != 8443 || a.ID != goodID || a.Name != "Alice" {
				t.Errorf("reported %+v (addrs %v), want addrs %v", a, got, tc.addrs)
			}
		})
	}
}

// A TXT record alone (a responder's update) is reported with what the
// cache knows of the instance; a question about an instance is reported to
// asked; a goodbye changes nothing; browse queries list the known instances
// until they are forgotten.
func TestBrowserCacheAndQuestions(t *testing.T) {
	d := testDiscovery(t, []net.Interface{{Index: 7, Name: "eth0"}})
	b, found, asked := testBrowser(d)
	ctx := t.Context()

	b.handle(ctx, through(t, response(goodID, 8443, txt("iv=3"), "192.0.2.1")), 0, nil)
	if a := <-found; a.Index != 3 {
		t.Fatalf("first report: %+v, want iv 3", a)
	}
	upd := new(dns.Msg)
	upd.Response = true
	upd.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: goodID + "." + ServiceType + "." + Domain, Rrtype: dns.TypeTXT, Class: dns.ClassINET | 1<<15, Ttl: 3200}, Txt: txt("iv=4")}}
	b.handle(ctx, through(t, upd), 0, nil)
	select {
	case a := <-found:
		if a.Index != 4 || a.Port != 8443 || len(a.Addrs) != 1 {
			t.Errorf("TXT update reported as %+v, want iv 4 with the cached port and address", a)
		}
	default:
		t.Error("a TXT record alone was not reported")
	}

	bye := response(goodID, 8443, txt("iv=9"), "192.0.2.1")
	for _, rr := range append(bye.Answer, bye.Extra...) {
		rr.Header().Ttl = 0
	}
	b.handle(ctx, through(t, bye), 0, nil)
	select {
	case a := <-found:
		t.Errorf("a goodbye was reported: %+v", a)
	default:
	}

	q := new(dns.Msg)
	q.SetQuestion(goodID+"."+ServiceType+"."+Domain, dns.TypeTXT)
	b.handle(ctx, through(t, q), 0, nil)
	if got := <-asked; got != goodID {
		t.Errorf("asked about %q, want %s", got, goodID)
	}
	probe := new(dns.Msg)
	probe.SetQuestion(goodID+"."+ServiceType+"."+Domain, dns.TypePTR)
	probe.Ns = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: goodID + "." + ServiceType + "." + Domain, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 3200}, Txt: txt()}}
	b.handle(ctx, through(t, probe), 0, nil)
	select {
	case id := <-asked:
		t.Errorf("a responder's probe was taken for a question about %s", id)
	default:
	}

	known := func() []string {
		var m dns.Msg
		if err := m.Unpack(b.browseQuery(time.Now())); err != nil {
			t.Fatal(err)
		}
		if len(m.Question) != 1 || m.Question[0].Qclass&(1<<15) == 0 {
			t.Errorf("browse query %v does not ask for unicast answers", m.Question)
		}
		var out []string
		for _, rr := range m.Answer {
			out = append(out, rr.(*dns.PTR).Ptr)
		}
		return out
	}
	if got := known(); !slices.Equal(got, []string{goodID + "." + ServiceType + "." + Domain}) {
		t.Errorf("known answers %v, want the one instance heard", got)
	}
	b.forget(goodID)
	if got := known(); len(got) != 0 {
		t.Errorf("known answers after Forget: %v, want none", got)
	}
}

func TestNewValidates(t *testing.T) {
	good := Announcement{ID: goodID, Name: "Alice", Fingerprint: goodFP, Port: 8443}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want error
	}{
		{"bad id", func(o *Options) { o.Self.ID = "alice" }, ErrID},
		{"bad fingerprint", func(o *Options) { o.Self.Fingerprint = "abc" }, ErrFingerprint},
		{"port 0 when announcing", func(o *Options) { o.Self.Port, o.Announce = 0, true }, ErrPort},
		{"port too big", func(o *Options) { o.Self.Port = 65536 }, ErrPort},
		{"missing interface", func(o *Options) { o.Ifaces = []string{"porch-none0"} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Self: good}
			tc.edit(&o)
			_, err := New(o)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("New: %v, want %v", err, tc.want)
			}
		})
	}
	// A browse-only peer has no port to announce.
	if _, err := New(Options{Self: Announcement{ID: goodID, Fingerprint: goodFP}}); err != nil && !errors.Is(err, ErrNoInterface) {
		t.Errorf("New for a browse-only peer without a port: %v", err)
	}
	d, err := New(Options{Self: Announcement{ID: goodID, Name: " \x1bBob\n", Fingerprint: strings.ToUpper(goodFP), Port: 1}})
	if errors.Is(err, ErrNoInterface) {
		t.Skip("no usable interface on this machine")
	}
	if err != nil {
		t.Fatal(err)
	}
	if d.name != "Bob" || d.self.Fingerprint != goodFP || d.host != "porch-0f8fad5b" {
		t.Errorf("New cleaned to name %q fp %q host %q", d.name, d.self.Fingerprint, d.host)
	}
}

func nopLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
