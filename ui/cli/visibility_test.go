package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestShareVisibilityCommands(t *testing.T) {
	data, dir := t.TempDir(), t.TempDir()
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(append(args, "--data", data), &out, &errOut, nil)
		return code, out.String(), errOut.String()
	}
	shown := func() string {
		t.Helper()
		code, out, errOut := run("share", "ls", "--json")
		if code != 0 {
			t.Fatalf("share ls: %d %s", code, errOut)
		}
		var items []struct {
			Name       string `json:"name"`
			Visibility string `json:"visibility"`
			To         struct {
				Restricted bool `json:"restricted"`
				Trusted    bool `json:"trusted"`
			} `json:"to"`
		}
		if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) != 1 {
			t.Fatalf("share ls --json: %v\n%s", err, out)
		}
		return items[0].Visibility
	}
	if code, out, errOut := run("share", "add", dir, "--to", "trusted"); code != 0 || !strings.Contains(out, "with trusted") {
		t.Fatalf("share add --to trusted: %d %q %q", code, out, errOut)
	}
	if v := shown(); v != "trusted" {
		t.Errorf("visibility %q after add --to trusted", v)
	}
	// Adding again without --to keeps who may see it.
	if code, _, errOut := run("share", "add", dir); code != 0 {
		t.Fatalf("share add again: %d %s", code, errOut)
	}
	if v := shown(); v != "trusted" {
		t.Errorf("a plain add made it %q", v)
	}
	if code, out, _ := run("share", "ls"); code != 0 || !strings.Contains(out, "to trusted") {
		t.Errorf("share ls does not say who sees it:\n%s", out)
	}
	if code, _, errOut := run("share", "set", dir, "--to", "everyone"); code != 0 {
		t.Fatalf("share set --to everyone: %d %s", code, errOut)
	}
	if v := shown(); v != "everyone" {
		t.Errorf("visibility %q after set --to everyone", v)
	}
	for _, bad := range [][]string{
		{"share", "set", dir},
		{"share", "set", dir, "--to", "everyone,trusted"},
		{"share", "set", dir, "--to", ","},
		{"share", "set", "--to", "trusted"},
	} {
		if code, _, _ := run(bad...); code != 2 {
			t.Errorf("%q: exit %d, want 2", bad, code)
		}
	}
	if code, _, errOut := run("share", "set", "not-shared", "--to", "trusted"); code != 1 || !strings.Contains(errOut, "not shared") {
		t.Errorf("set of an unshared item: %d %q", code, errOut)
	}
	if v := shown(); v != "everyone" {
		t.Errorf("a refused set changed it to %q", v)
	}
}
