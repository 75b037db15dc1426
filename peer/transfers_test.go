package peer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// An unfinished transfer saved by an earlier run (here in transfers.json,
// as the previous version saved them, so the migration is tested too) comes
// back paused, ready to resume; finished and failed ones come back as they
// were.
func TestTransfersComeBackPausedAfterRestart(t *testing.T) {
	data := t.TempDir()
	saved := []TransferInfo{
		{ID: "a", PeerID: "p", Path: "album", Dir: t.TempDir(), Name: "album", State: TransferRunning, Done: 10, Total: 100},
		{ID: "b", PeerID: "p", Path: "x.bin", Dir: t.TempDir(), Name: "x.bin", State: TransferDone, Done: 5, Total: 5},
		{ID: "c", PeerID: "p", Path: "y.bin", Dir: t.TempDir(), Name: "y.bin", State: TransferFailed, Err: "gone"},
		{ID: "d", PeerID: "p", Path: "z.bin", Dir: t.TempDir(), Name: "z.bin", State: TransferQueued},
	}
	b, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "transfers.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{DataDir: data, ClientOnly: true, Discovery: newBus().join})
	if err != nil {
		t.Fatal(err)
	}
	got := e.Transfers()
	want := map[string]TransferState{"a": TransferPaused, "b": TransferDone, "c": TransferFailed, "d": TransferPaused}
	if len(got) != len(want) {
		t.Fatalf("got %d transfers, want %d", len(got), len(want))
	}
	for _, ti := range got {
		if ti.State != want[ti.ID] {
			t.Errorf("transfer %s: state %q, want %q", ti.ID, ti.State, want[ti.ID])
		}
	}
	if got[0].Done != 10 || got[0].Total != 100 {
		t.Errorf("progress lost: %+v", got[0])
	}
	// Resuming a transfer whose neighbour is not online fails in plain words
	// and keeps the transfer.
	if err := e.ResumeTransfer("a"); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ti := range e.Transfers() {
		if ti.ID == "a" && ti.State != TransferFailed && ti.State != TransferPaused {
			t.Errorf("resumed transfer without its neighbour: state %q", ti.State)
		}
	}
	if err := e.PauseTransfer("nope"); err == nil {
		t.Error("pausing an unknown transfer succeeded")
	}

	// A restart finds them in the database, in order, with their last state.
	if _, err := os.Stat(filepath.Join(data, "transfers.json.migrated")); err != nil {
		t.Error(err)
	}
	e2, err := New(Options{DataDir: data, ClientOnly: true, Discovery: newBus().join})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	got2 := e2.Transfers()
	if len(got2) != len(want) || got2[0].ID != "a" || got2[3].ID != "d" || got2[0].Done != 10 {
		t.Fatalf("after a restart: %+v", got2)
	}
	if got2[0].State != TransferPaused && got2[0].State != TransferFailed {
		t.Errorf("after a restart transfer a is %q", got2[0].State)
	}
}
