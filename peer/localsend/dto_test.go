package localsend

import (
	"errors"
	"strings"
	"testing"

	"porch/share"
)

var infoCases = []struct {
	name, in string
	needPort bool
	ok       bool
	alias    string
	devType  string
}{
	{"1.18 announcement", `{"alias":"Secret Banana","version":"2.2","deviceModel":"Windows","deviceType":"desktop","fingerprint":"AB","port":53317,"protocol":"https","download":true,"announce":true}`, true, true, "Secret Banana", "desktop"},
	{"1.17 announcement", `{"alias":"Phone","version":"2.1","deviceType":"mobile","fingerprint":"CD","port":53317,"protocol":"https","announce":true,"announcement":true}`, true, true, "Phone", "mobile"},
	{"unknown type counts as desktop", `{"alias":"Fridge","version":"2.1","deviceType":"fridge","fingerprint":"x","port":1,"protocol":"http"}`, true, true, "Fridge", "desktop"},
	{"info answer without port", `{"alias":"A","version":"2.2","fingerprint":"x"}`, false, true, "A", "desktop"},
	{"unknown fields ignored", `{"alias":"A","version":"2.2","fingerprint":"x","future":[1,2,3]}`, false, true, "A", "desktop"},
	{"control characters stripped", `{"alias":"A\u0007B\u202e","version":"2.2","fingerprint":"x"}`, false, true, "AB", "desktop"},
	{"long alias cut", `{"alias":"` + strings.Repeat("é", 100) + `","version":"2.2","fingerprint":"x"}`, false, true, strings.Repeat("é", 64), "desktop"},
	{"no port", `{"alias":"A","version":"2.2","fingerprint":"x","protocol":"https"}`, true, false, "", ""},
	{"port out of range", `{"alias":"A","version":"2.2","fingerprint":"x","port":70000,"protocol":"https"}`, true, false, "", ""},
	{"other protocol", `{"alias":"A","version":"2.2","fingerprint":"x","port":1,"protocol":"ftp"}`, true, false, "", ""},
	{"no fingerprint", `{"alias":"A","version":"2.2"}`, false, false, "", ""},
	{"fingerprint too long", `{"alias":"A","fingerprint":"` + strings.Repeat("F", 300) + `"}`, false, false, "", ""},
	{"empty alias", `{"alias":"  ","fingerprint":"x"}`, false, false, "", ""},
	{"not JSON", `alias=A`, false, false, "", ""},
	{"two documents", `{"alias":"A","fingerprint":"x"}{}`, false, false, "", ""},
	{"wrong type", `{"alias":1,"fingerprint":"x"}`, false, false, "", ""},
	{"too big", `{"alias":"A","fingerprint":"x","pad":"` + strings.Repeat("p", MaxInfoBody) + `"}`, false, false, "", ""},
}

func TestParseInfo(t *testing.T) {
	for _, c := range infoCases {
		t.Run(c.name, func(t *testing.T) {
			i, err := ParseInfo([]byte(c.in), c.needPort)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok=%v", err, c.ok)
			}
			if err != nil {
				if !errors.Is(err, ErrBadMessage) {
					t.Errorf("error %v does not wrap ErrBadMessage", err)
				}
				return
			}
			if i.Alias != c.alias || i.DeviceType != c.devType {
				t.Errorf("alias %q type %q, want %q %q", i.Alias, i.DeviceType, c.alias, c.devType)
			}
		})
	}
}

func TestIsAnnounce(t *testing.T) {
	for in, want := range map[string]bool{
		`{"alias":"A","fingerprint":"x","announce":true}`:                       true,
		`{"alias":"A","fingerprint":"x","announcement":true}`:                   true,
		`{"alias":"A","fingerprint":"x","announce":false,"announcement":false}`: false,
		`{"alias":"A","fingerprint":"x"}`:                                       false,
	} {
		i, err := ParseInfo([]byte(in), false)
		if err != nil || i.IsAnnounce() != want {
			t.Errorf("%s: announce %v (%v), want %v", in, i.IsAnnounce(), err, want)
		}
	}
}

var fileCases = []struct {
	name string
	f    File
	ok   bool
}{
	{"plain", File{FileName: "a.txt", Size: 3}, true},
	{"folder path", File{FileName: "album/cd1/01.flac", Size: 3}, true},
	{"sha256", File{FileName: "a", Size: 1, SHA256: strings.Repeat("ab", 32)}, true},
	{"dotdot", File{FileName: "../a", Size: 1}, false},
	{"dotdot inside", File{FileName: "a/../../b", Size: 1}, false},
	{"absolute", File{FileName: "/etc/passwd", Size: 1}, false},
	{"backslash", File{FileName: `..\a`, Size: 1}, false},
	{"empty component", File{FileName: "a//b", Size: 1}, false},
	{"trailing slash", File{FileName: "a/", Size: 1}, false},
	{"dot component", File{FileName: "a/./b", Size: 1}, false},
	{"control", File{FileName: "a\nb", Size: 1}, false},
	{"reserved device in a folder", File{FileName: "x/NUL.txt", Size: 1}, false},
	{"partial suffix", File{FileName: "a.partial", Size: 1}, false},
	{"bidi", File{FileName: "invoice\u202efdp.exe", Size: 1}, false},
	{"empty", File{FileName: "", Size: 1}, false},
	{"negative size", File{FileName: "a", Size: -1}, false},
	{"huge size", File{FileName: "a", Size: MaxFileSize + 1}, false},
	{"bad sha256", File{FileName: "a", Size: 1, SHA256: "xyz"}, false},
	{"long preview", File{FileName: "a", Size: 1, Preview: strings.Repeat("p", MaxPreview+1)}, false},
	{"deep", File{FileName: strings.Repeat("d/", 70) + "f", Size: 1}, false},
}

func TestCheckFiles(t *testing.T) {
	for _, c := range fileCases {
		t.Run(c.name, func(t *testing.T) {
			err := checkFiles(map[string]File{"id": c.f}, share.ValidatePath)
			if (err == nil) != c.ok {
				t.Errorf("%q: err = %v, want ok=%v", c.f.FileName, err, c.ok)
			}
		})
	}
	if checkFiles(map[string]File{}, share.ValidatePath) == nil {
		t.Error("no files accepted")
	}
	if checkFiles(map[string]File{"a": {ID: "b", FileName: "x"}}, share.ValidatePath) == nil {
		t.Error("a file listed under another id accepted")
	}
	many := map[string]File{}
	for i := 0; i <= MaxFiles; i++ {
		many[strings.Repeat("x", 1)+string(rune('a'+i%26))+strings.Repeat("y", i/26)] = File{FileName: "f", Size: 1}
	}
	if checkFiles(many, share.ValidatePath) == nil {
		t.Errorf("%d files accepted", len(many))
	}
}

func FuzzParseInfo(f *testing.F) {
	for _, c := range infoCases {
		f.Add([]byte(c.in), c.needPort)
	}
	f.Fuzz(func(t *testing.T, b []byte, needPort bool) {
		i, err := ParseInfo(b, needPort)
		if err != nil {
			return
		}
		if i.Alias == "" || len(i.Alias) > MaxAlias || i.Fingerprint == "" || len(i.Fingerprint) > MaxIDBytes {
			t.Fatalf("accepted %+v", i)
		}
		if needPort && (i.Port < 1 || i.Port > 65535 || (i.Protocol != "http" && i.Protocol != "https")) {
			t.Fatalf("accepted port %d protocol %q", i.Port, i.Protocol)
		}
	})
}

func FuzzPrepareUpload(f *testing.F) {
	f.Add([]byte(`{"info":{"alias":"A","fingerprint":"x"},"files":{"f":{"id":"f","fileName":"a/b.txt","size":3,"fileType":"text/plain"}}}`))
	for _, c := range fileCases {
		f.Add([]byte(`{"info":{"alias":"A","fingerprint":"x"},"files":{"f":{"fileName":"` + strings.ReplaceAll(c.f.FileName, `\`, `\\`) + `","size":1}}}`))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var req PrepareUpload
		if decodeBytes(b, MaxPrepareBody, &req) != nil || req.Info.check(false) != nil {
			return
		}
		if checkFiles(req.Files, share.ValidatePath) != nil {
			return
		}
		for _, f := range req.Files {
			if err := share.ValidatePath(f.FileName); err != nil || f.FileName == "" || strings.HasPrefix(f.FileName, "/") {
				t.Fatalf("accepted name %q", f.FileName)
			}
			if f.Size < 0 || f.Size > MaxFileSize {
				t.Fatalf("accepted size %d", f.Size)
			}
		}
	})
}
