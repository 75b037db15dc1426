package wire

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"testing"

	"porch/share"
)

// A file held back as a likely secret does not exist on any endpoint, and
// is not counted; a file not hashed yet (so not checked yet) is listed, but
// none of its bytes is served.
func TestHeldFileIsAbsent(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	secret := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	h, _ := share.HashReader(bytes.NewReader(secret), nil)
	cid := h.ContentID()
	p := startPeer(t, peerOpts{files: map[string][]byte{"notes.txt": []byte("hello"), "deploy.txt": secret}, hash: true})
	hc := p.raw(t)

	code, _, body := p.get(t, hc, "/v1/ls?path=files", nil)
	var page ListPage
	if code != 200 || json.Unmarshal(body, &page) != nil || len(page.Entries) != 1 || page.Entries[0].Name != "notes.txt" {
		t.Fatalf("ls: %d %s", code, body)
	}
	for _, target := range []string{"/v1/file?path=files/deploy.txt", "/v1/content/" + cid, "/v1/hashes/" + cid} {
		if code, _, _ := p.get(t, hc, target, nil); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", target, code)
		}
	}
	if code, _, body := p.get(t, hc, "/v1/search?q=deploy", nil); code != 200 || bytes.Contains(body, []byte("deploy")) {
		t.Errorf("search: %d %s", code, body)
	}
	c := p.client(t)
	if has, err := c.Has(context.Background(), []string{cid}); err != nil || len(has) != 0 {
		t.Errorf("has: %v %v", has, err)
	}
	code, _, body = p.get(t, hc, "/v1/info", nil)
	var in Info
	if code != 200 || json.Unmarshal(body, &in) != nil || in.Files != 1 || in.Bytes != 5 || in.HashedBytes != 5 {
		t.Errorf("info counts the held file: %s", body)
	}

	fresh := startPeer(t, peerOpts{files: map[string][]byte{"notes.txt": []byte("hello")}})
	if code, _, body := fresh.get(t, fresh.raw(t), "/v1/file?path=files/notes.txt", nil); code != http.StatusTooEarly || bytes.Contains(body, []byte("hello")) {
		t.Errorf("a file not checked yet: %d %q, want 425 and none of its bytes", code, body)
	}
}
