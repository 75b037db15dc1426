package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"porch/test/netns"
)

const (
	envBin      = "PORCH_TEST_BIN"       // path of the porch binary built by the outer process
	envBuildErr = "PORCH_TEST_BUILD_ERR" // why building porch failed, passed on to the tests
	envRace     = "PORCH_E2E_RACE"       // "1": build the porch binary under test with -race
	envPrebuilt = "PORCH_E2E_BIN"        // test this porch binary instead of building one
)

var (
	moduleRoot string // the folder holding go.mod, two up from this package
	porchBin   string // the porch binary under test
	porchErr   string // non-empty: building porch failed
)

func TestMain(m *testing.M) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "go.mod"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "porch e2e: no module root two folders up:", err)
		os.Exit(1)
	}
	moduleRoot = root
	// Built before netns.Main re-executes anything: the build may need the module proxy.
	code := netns.Main(m, buildPorch)
	removeFaultBinary()
	removeLSPeer()
	os.Exit(code)
}

// buildPorch builds the binary under test once, in the process go test started, and passes its
// path (or why it failed) on in the environment; it returns the removal of the build folder.
func buildPorch() (teardown func()) {
	var dir, bin, failed string
	if p := os.Getenv(envPrebuilt); p != "" {
		if !filepath.IsAbs(p) {
			p = filepath.Join(moduleRoot, p)
		}
		if _, err := os.Stat(p); err != nil {
			failed = fmt.Sprintf("%s=%s: not usable: %v", envPrebuilt, os.Getenv(envPrebuilt), err)
		}
		bin = p
	} else {
		var err error
		if dir, err = os.MkdirTemp("", "porch-e2e-"); err != nil {
			failed = err.Error()
		} else {
			bin = filepath.Join(dir, "porch")
			if out, err := goBuild(bin); err != nil {
				failed = fmt.Sprintf("go build failed: %v\n%s", err, out)
			}
		}
	}
	os.Setenv(envBin, bin)
	os.Setenv(envBuildErr, failed)
	return func() {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
}

// goBuild builds porch (the module root's main package) into out with the toolchain that built
// this test, adding extra flags.
func goBuild(out string, extra ...string) ([]byte, error) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	args := append([]string{"build", "-o", out}, extra...)
	if os.Getenv(envRace) == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool, append(args, ".")...)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if netns.Offline() {
		cmd.Env = append(cmd.Env, "GOPROXY=off") // offline in here: fail at once, not after timeouts
	}
	return cmd.CombinedOutput()
}

var porchOnce sync.Once

// needPorch fails t if the porch binary could not be built, and returns its path.
func needPorch(t *testing.T) string {
	t.Helper()
	porchOnce.Do(func() { porchBin, porchErr = os.Getenv(envBin), os.Getenv(envBuildErr) })
	if porchErr != "" {
		t.Fatal(porchErr)
	}
	return porchBin
}

var (
	faultOnce sync.Once
	faultDir  string // holds faultBin; removed when the tests end
	faultBin  string // porch built with -tags porchfault (test-only fault hooks, see peer/wire/fault_*.go)
	faultErr  string
)

// faultBinary is a porch binary built with -tags porchfault, built on first use. It is built
// where the tests run (inside the namespace and offline when not root): GOPROXY=off there, the
// modules are already in the cache from building porchBin. Tests that need it fail if it cannot
// be built.
func faultBinary(t *testing.T) string {
	t.Helper()
	needPorch(t)
	faultOnce.Do(func() {
		dir, err := os.MkdirTemp("", "porch-fault-")
		if err != nil {
			faultErr = err.Error()
			return
		}
		faultDir = dir
		bin := filepath.Join(dir, "porch")
		t0 := time.Now()
		out, err := goBuild(bin, "-tags", "porchfault")
		if err != nil {
			faultErr = fmt.Sprintf("go build -tags porchfault failed: %v\n%s", err, out)
			return
		}
		t.Logf("built %s with -tags porchfault in %v", bin, time.Since(t0).Round(time.Millisecond))
		faultBin = bin
	})
	if faultErr != "" {
		t.Fatal(faultErr)
	}
	return faultBin
}

func removeFaultBinary() {
	if faultDir != "" {
		os.RemoveAll(faultDir)
	}
}

// testNet is a bridge of namespaces (netns.New) whose peers run porch, each with its folders:
// Data(i) for its serve or window process, CLIData(i) for one-shot commands (an identity of its
// own) and Downloads(i), all under the peer's netns folder.
type testNet struct {
	*netns.Net
}

// newTestNet makes n peers (alice, bob, carol...) and their porch folders.
func newTestNet(t *testing.T, n int) *testNet {
	t.Helper()
	tn := &testNet{netns.New(t, n)}
	for i := 0; i < n; i++ {
		for _, d := range []string{tn.Data(i), tn.CLIData(i), tn.Downloads(i)} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tn
}

func (tn *testNet) Data(i int) string      { return filepath.Join(tn.Dir(i), "data") }
func (tn *testNet) CLIData(i int) string   { return filepath.Join(tn.Dir(i), "cli") }
func (tn *testNet) Downloads(i int) string { return filepath.Join(tn.Dir(i), "downloads") }

// porchArgs appends the default flags a peer's porch gets, unless args already name them.
func (tn *testNet) porchArgs(i int, data string, withName bool, args []string) []string {
	out := append([]string(nil), args...)
	add := func(flag, val string) {
		if !hasFlag(args, flag) {
			out = append(out, flag, val)
		}
	}
	add("--data", data)
	if withName {
		add("--name", tn.Name(i))
	}
	add("--iface", netns.Iface)
	add("--downloads", tn.Downloads(i))
	return out
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// Start runs `porch ARGS...` in peer i's namespace in the background, with --data Data(i),
// --name Name(i), --iface porch0 and --downloads Downloads(i) unless ARGS name them. It is
// stopped (SIGTERM, SIGKILL after 5 s) in t.Cleanup; on failure its stderr tail is logged.
func (tn *testNet) Start(t *testing.T, i int, args ...string) *netns.Proc {
	t.Helper()
	return tn.StartEnv(t, i, nil, args...)
}

// StartEnv is Start with extra environment variables ("K=V").
func (tn *testNet) StartEnv(t *testing.T, i int, env []string, args ...string) *netns.Proc {
	t.Helper()
	return tn.StartBin(t, i, needPorch(t), env, args...)
}

// StartBin is StartEnv running another build of porch (e.g. faultBinary(t)).
func (tn *testNet) StartBin(t *testing.T, i int, bin string, env []string, args ...string) *netns.Proc {
	t.Helper()
	label := tn.Name(i) + " " + filepath.Base(bin) + " " + strings.Join(args, " ")
	if bin != needPorch(t) {
		label += " [" + bin + "]"
	}
	argv := append([]string{bin}, tn.porchArgs(i, tn.Data(i), true, args)...)
	return tn.Exec(t, i, label, env, argv...)
}

// Run runs one `porch ARGS...` command in peer i's namespace to completion (at most
// netns.RunTimeout) with --data CLIData(i) (an identity of its own), --iface porch0 and
// --downloads Downloads(i) unless ARGS name them. exit is the exit status (-1 if killed by a
// signal).
func (tn *testNet) Run(t *testing.T, i int, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	argv := append([]string{needPorch(t)}, tn.porchArgs(i, tn.CLIData(i), false, args)...)
	stdout, stderr, exit = tn.Net.Run(t, i, nil, argv...)
	t.Logf("%s$ porch %s → exit %d\n%s", tn.Name(i), strings.Join(args, " "), exit, netns.Tail(stderr, 5))
	return stdout, stderr, exit
}
