package wire

import (
	"encoding/json"
	"strings"
	"testing"

	"porch/peer/identity"
	"porch/share"
)

// FuzzCheckOfferRequest decodes offers as a receiver does: whatever is
// accepted comes from the caller's key, has a well-formed token, valid and
// bounded items and totals that are the items' sums.
func FuzzCheckOfferRequest(f *testing.F) {
	const fp = "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b"
	const id = "0b5e3c1e-7d5a-4c1a-9f2b-3d4e5f6a7b8c"
	const tok = "0123456789abcdef0123456789abcdef"
	from := `"from":{"id":"` + id + `","name":"Alice","fp":"` + fp + `","port":46724}`
	for _, seed := range []string{
		`{"id":"` + tok + `",` + from + `,"items":[{"name":"a","size":3},{"name":"d","dir":true,"size":5,"files":2}],"files":3,"bytes":8}`,
		`{"id":"` + tok + `",` + from + `,"items":[{"name":"../a","size":3}],"files":1,"bytes":3}`,
		`{"id":"` + strings.ToUpper(tok) + `",` + from + `,"items":[{"name":"a"}],"files":1}`,
		`{"id":"` + tok + `",` + from + `,"items":[{"name":"a","size":-1}],"files":1,"bytes":-1}`,
		`{"id":"` + tok + `",` + from + `,"items":[{"name":"a","files":2}],"files":2}`,
		`{"id":"` + tok + `",` + from + `,"items":[{"name":"d","dir":true,"size":1125899906842624,"files":1}],"files":1,"bytes":1125899906842624}`,
		`{"id":"` + tok + `",` + from + `,"items":[],"files":0}`,
		`null`, `{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req OfferRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		if err := checkOfferRequest(&req, fp); err != nil {
			if len(err.Error()) > 400 {
				t.Fatalf("error of %d bytes repeats the body", len(err.Error()))
			}
			return
		}
		if !ValidOfferToken(req.ID) || req.From.Fingerprint != fp || !identity.ValidID(req.From.ID) ||
			len(req.Items) == 0 || len(req.Items) > MaxOfferItems {
			t.Fatalf("accepted %+v", req)
		}
		files, bytes := 0, int64(0)
		for _, it := range req.Items {
			if share.ValidateName(it.Name) != nil || it.Size < 0 || it.Files < 0 || (!it.Dir && it.Files > 1) {
				t.Fatalf("accepted item %+v", it)
			}
			n := it.Files
			if !it.Dir {
				n = 1
			}
			files += n
			bytes += it.Size
		}
		if files != req.Files || bytes != req.Bytes || bytes > MaxOfferBytes || files > MaxOfferFiles {
			t.Fatalf("accepted totals %d, %d for items holding %d, %d", req.Files, req.Bytes, files, bytes)
		}
	})
}

// A receiver's status is checked: unknown states and negative counts fail,
// and the reason is cut and cleaned for a terminal.
func TestCheckOfferStatus(t *testing.T) {
	for _, bad := range []OfferStatus{{State: "won"}, {State: ""}, {State: "done", Done: -1}, {State: "pending", Total: -5}} {
		if err := checkOfferStatus(&bad); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	st := OfferStatus{State: "declined", Reason: "no\x1b[2J" + strings.Repeat("é", 300)}
	if err := checkOfferStatus(&st); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(st.Reason, "\x1b\n") || len(st.Reason) > maxOfferReason+len("…") {
		t.Errorf("reason kept as %q (%d bytes)", st.Reason, len(st.Reason))
	}
}
