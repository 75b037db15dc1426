package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestFindCommandAndFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		argv     []string
		cmd      string
		args     []string
		flag     string
		flagWant []string
	}{
		{[]string{"ls", "alice/music", "--json"}, "ls", []string{"alice/music"}, "json", []string{"true"}},
		{[]string{"--data", "/d", "share", "add", "a", "b"}, "share add", []string{"a", "b"}, "data", []string{"/d"}},
		{[]string{"share", "--data=/d", "ls"}, "share ls", nil, "data", []string{"/d"}},
		{[]string{"get", "bob/x", "--to", "out", "--iface", "a", "--iface", "b"}, "get", []string{"bob/x"}, "iface", []string{"a", "b"}},
		{[]string{"--name", "serve", "peers"}, "peers", nil, "name", []string{"serve"}},
		{[]string{"get", "--", "--odd/name"}, "get", []string{"--odd/name"}, "", nil},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			cmd, rest := findCommand(tc.argv)
			if cmd == nil || cmd.name != tc.cmd {
				t.Fatalf("command %v, want %q", cmd, tc.cmd)
			}
			p, err := parseArgs(rest, append(slices.Clone(globalFlags), cmd.flags...))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.args, tc.args) {
				t.Errorf("args %q, want %q", p.args, tc.args)
			}
			if tc.flag != "" && !slices.Equal(p.flags[tc.flag], tc.flagWant) {
				t.Errorf("--%s = %q, want %q", tc.flag, p.flags[tc.flag], tc.flagWant)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		argv   []string
		status int
		stderr string
	}{
		{[]string{"bogus"}, 2, "unknown command"},
		{[]string{"ls", "--nope"}, 2, "unknown flag --nope"},
		{[]string{"share", "add", "--data", data}, 2, "needs at least one PATH"},
		{[]string{"share", "add", "--data", data, data + "/missing"}, 1, "missing"},
		{[]string{"serve", "--data", data, "--max-upload", "fast"}, 2, "--max-upload"},
		{[]string{"share", "ls", "--data", data, "--json"}, 0, ""},
		{[]string{"share", "rescan", "--data", data}, 0, ""},
		{[]string{"trust", "ls", "--data", data, "--json"}, 0, ""},
		{[]string{"trust", "--data", data}, 2, "needs exactly one PEER"},
		{[]string{"untrust", "--data", data, "nobody"}, 1, "not a trusted neighbour"},
		{[]string{"share", "rescan", "--data", data, "extra"}, 2, "takes no arguments"},
		{[]string{"get", "--help"}, 0, ""},
		{[]string{"search", "--data", data, "size>lots"}, 2, "not a size"},
	} {
		t.Run(strings.Join(tc.argv, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			got := Main(tc.argv, &out, &errb, nil)
			if got != tc.status {
				t.Fatalf("exit %d, want %d (stderr %q)", got, tc.status, errb.String())
			}
			if tc.stderr != "" && !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr %q does not mention %q", errb.String(), tc.stderr)
			}
			if tc.status == 1 && strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
				t.Errorf("failure should be one line on stderr, got %q", errb.String())
			}
		})
	}
}
