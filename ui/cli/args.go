package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"porch/ui/human"
)

// errUsage marks a command line that cannot be understood; it exits with status 2.
var errUsage = errors.New("usage")

// usageError wraps errUsage with a message for the user.
func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// flagKind says whether a flag takes a value and whether it may repeat.
type flagKind int

const (
	flagBool flagKind = iota
	flagString
	flagList
)

// flagSpec describes one --flag a command accepts.
type flagSpec struct {
	name  string
	kind  flagKind
	value string // placeholder shown in help, e.g. DIR
	help  string
}

// globalFlags are accepted by every command (README, "The command line").
var globalFlags = []flagSpec{
	{"data", flagString, "DIR", "all state: identity, shares, hash cache, settings (default: the user's config dir)/porch"},
	{"name", flagString, "NAME", "display name shown to neighbours (default: the host name)"},
	{"listen", flagString, "HOST:PORT", fmt.Sprintf("address to serve on (default :%d, or a free port if taken)", defaultPort)},
	{"iface", flagList, "NAME", "network interface for mDNS and LocalSend (repeatable; default: every multicast-capable interface that is up)"},
	{"peer", flagList, "HOST:PORT", "a neighbour reached without mDNS (repeatable)"},
	{"downloads", flagString, "DIR", "where downloads land (default: the download folder in the settings, at first ~/Downloads)"},
	{"localsend", flagBool, "", "speak LocalSend too (TCP and UDP 53317); --localsend=false turns it off"},
	{"localsend-pin", flagString, "PIN", "PIN LocalSend senders must give (default: the one in the settings, at first none)"},
	{"verbose", flagBool, "", "debug logging on stderr"},
	{"help", flagBool, "", "show help for the command"},
}

// parsed is a command line after flag parsing: flags by name, positional arguments in order.
type parsed struct {
	flags map[string][]string
	args  []string
}

// parseArgs parses flags that may stand before, between or after the
// positional arguments. "--" ends flag parsing. Both "--flag value" and
// "--flag=value" are accepted, with one or two leading dashes.
func parseArgs(argv []string, specs []flagSpec) (parsed, error) {
	p := parsed{flags: map[string][]string{}}
	byName := map[string]flagSpec{}
	for _, s := range specs {
		byName[s.name] = s
	}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			p.args = append(p.args, argv[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			p.args = append(p.args, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		value, hasValue := "", false
		if k := strings.IndexByte(name, '='); k >= 0 {
			name, value, hasValue = name[:k], name[k+1:], true
		}
		if name == "h" {
			name = "help"
		}
		spec, ok := byName[name]
		if !ok {
			return p, usageError("unknown flag --%s", name)
		}
		switch spec.kind {
		case flagBool:
			if hasValue && value != "true" && value != "false" {
				return p, usageError("--%s takes no value", name)
			}
			if !hasValue {
				value = "true"
			}
			p.flags[name] = []string{value}
		default:
			if !hasValue {
				if i+1 >= len(argv) {
					return p, usageError("--%s needs a value (%s)", name, spec.value)
				}
				i++
				value = argv[i]
			}
			if spec.kind == flagString {
				p.flags[name] = []string{value}
			} else {
				p.flags[name] = append(p.flags[name], value)
			}
		}
	}
	return p, nil
}

// str returns a string flag's value, or def when absent.
func (p parsed) str(name, def string) string {
	if v := p.flags[name]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

// list returns every value of a repeatable flag.
func (p parsed) list(name string) []string { return p.flags[name] }

// bool reports whether a boolean flag is set.
func (p parsed) bool(name string) bool { return p.str(name, "false") == "true" }

// duration parses a duration flag.
func (p parsed) duration(name string, def time.Duration) (time.Duration, error) {
	v := p.str(name, "")
	if v == "" {
		return def, nil
	}
	d, err := human.ParseDuration(v)
	if err != nil {
		return 0, usageError("--%s: %v", name, err)
	}
	return d, nil
}
