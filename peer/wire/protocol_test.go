package wire

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"porch/peer/identity"
	"porch/share"
)

func TestCheckEntry(t *testing.T) {
	cid := share.Hashes{}.ContentID()
	for _, c := range []struct {
		e  share.Entry
		ok bool
	}{
		{share.Entry{Name: "a", Path: "a"}, true},
		{share.Entry{Name: "b.txt", Path: "a/b.txt", Size: 3, ContentID: cid}, true},
		{share.Entry{Name: "d", Path: "a/d", Dir: true, Files: 2, Size: 10}, true},
		{share.Entry{}, false},
		{share.Entry{Name: "..", Path: ".."}, false},
		{share.Entry{Name: "x", Path: "../x"}, false},
		{share.Entry{Name: "x", Path: "/x"}, false},
		{share.Entry{Name: `a\b`, Path: `a\b`}, false},
		{share.Entry{Name: "a\x00", Path: "a\x00"}, false},
		{share.Entry{Name: "b", Path: "a"}, false},
		{share.Entry{Name: "a", Path: "a", Size: -1}, false},
		{share.Entry{Name: "a", Path: "a", Files: -1}, false},
		{share.Entry{Name: "a", Path: "a", ContentID: "p1-00"}, false},
		{share.Entry{Name: "a", Path: "a", Dir: true, ContentID: cid}, false},
		{share.Entry{Name: "x.partial", Path: "x.partial"}, false},
	} {
		err := checkEntry(c.e)
		if (err == nil) != c.ok {
			t.Errorf("checkEntry(%+v) = %v", c.e, err)
		}
		if err != nil && !errors.Is(err, ErrBadResponse) {
			t.Errorf("checkEntry(%+v): %v is not ErrBadResponse", c.e, err)
		}
	}
}

func FuzzCheckEntry(f *testing.F) {
	f.Add("a", "a", int64(1), false, "")
	f.Add("b", "a/b", int64(0), false, share.Hashes{}.ContentID())
	f.Add("..", "../..", int64(0), true, "")
	f.Fuzz(func(t *testing.T, name, p string, size int64, dir bool, cid string) {
		e := share.Entry{Name: name, Path: p, Size: size, Dir: dir, ContentID: cid}
		if checkEntry(e) != nil {
			return
		}
		if share.ValidatePath(p) != nil || p == "" || strings.HasPrefix(p, "/") || size < 0 {
			t.Fatalf("accepted %+v", e)
		}
		for _, part := range strings.Split(p, "/") {
			if part == ".." || part == "." || strings.ContainsAny(part, "\\\x00") {
				t.Fatalf("accepted %+v", e)
			}
		}
	})
}

func TestStatusMapping(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
	}{
		{share.ErrBadPath, 400},
		{share.ErrBadName, 400},
		{share.ErrBadContentID, 400},
		{ErrBadRequest, 400},
		{share.ErrNotFound, 404},
		{share.ErrNotShared, 404},
		{share.ErrChanged, 409},
		{share.ErrNotHashed, 425},
		{ErrRange, 416},
		{&http.MaxBytesError{Limit: 1}, 413},
		{errors.New("disk on fire"), 500},
	} {
		if got := statusOf(c.err); got != c.code {
			t.Errorf("statusOf(%v) = %d, want %d", c.err, got, c.code)
		}
		// And back: the client sees the same sentinel.
		if c.code == 400 || c.code == 404 || c.code == 409 || c.code == 416 || c.code == 425 {
			se := &StatusError{Code: c.code}
			if statusOf(se) != c.code {
				t.Errorf("StatusError %d maps to %d", c.code, statusOf(se))
			}
		}
	}
}

// FuzzCheckInfo decodes /v1/info bodies as a client receives them: whatever
// is accepted names the connection's key and a canonical UUID, with no
// negative count.
func FuzzCheckInfo(f *testing.F) {
	const fp = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"
	const id = "0b5e3c1e-7d5a-4c1a-9f2b-3d4e5f6a7b8c"
	for _, seed := range []string{
		`{"v":1,"id":"` + id + `","name":"Alice","fp":"` + fp + `","port":46724,"files":1,"bytes":2,"hashed_bytes":2,"iv":17}`,
		`{"v":1,"id":"../../etc","fp":"` + fp + `"}`,
		`{"v":1,"id":"` + strings.ToUpper(id) + `","fp":"` + fp + `"}`,
		`{"v":1,"id":"` + id + `","fp":"` + fp + `","files":-1}`,
		`{"id":"` + id + `","fp":"other"}`,
		`null`, `[]`, `{"iv":-1}`,
	} {
		f.Add([]byte(seed), "")
		f.Add([]byte(seed), id)
	}
	f.Fuzz(func(t *testing.T, body []byte, want string) {
		var in Info
		if json.Unmarshal(body, &in) != nil {
			return
		}
		if err := checkInfo(in, fp, want); err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("error of %d bytes repeats the body", len(err.Error()))
			}
			return
		}
		if in.Fingerprint != fp || !identity.ValidID(in.ID) || (want != "" && in.ID != want) || in.Files < 0 || in.Bytes < 0 || in.HashedBytes < 0 {
			t.Fatalf("accepted %+v", in)
		}
	})
}
