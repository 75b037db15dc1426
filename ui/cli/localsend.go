package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"text/tabwriter"
	"time"

	"porch/peer"
	"porch/peer/localsend"
	"porch/ui/human"
)

// LocalSend on the command line: --localsend=false and --localsend-pin for
// every command, LocalSend devices in `porch peers`, `porch send DEVICE
// PATH...` to one, and `porch fetch DEVICE` for what one offers for
// download.

// pinFlag is the PIN a LocalSend device asks for, for send and fetch.
var pinFlag = flagSpec{"pin", flagString, "PIN", "the PIN the LocalSend device asks for"}

// localSend says whether this command's engine speaks LocalSend: the
// window, serve, and the commands that list or reach LocalSend devices,
// unless --localsend=false.
func (o *options) localSend() bool {
	if o.str("localsend", "true") != "true" {
		return false
	}
	if o.cmd == nil {
		return true
	}
	switch o.cmd.name {
	case "serve", "peers", "send", "fetch":
		return true
	}
	return false
}

// deviceJSON is the LocalSend part of an entry in `porch peers --json`.
func deviceJSON(d localsend.Device) peerJSON {
	return peerJSON{ID: d.Fingerprint, Name: d.Alias, Addrs: []string{d.Addr.String()}, Port: d.Port,
		Fingerprint: d.Fingerprint, Online: true, Kind: "localsend", DeviceType: d.DeviceType,
		DeviceModel: d.DeviceModel, Version: d.Version, Download: d.Download}
}

// printDevices writes the LocalSend devices under the neighbours.
func printDevices(o *options, ds []localsend.Device) error {
	if len(ds) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(o.stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCALSEND\tFINGERPRINT\tADDRESS\tDEVICE")
	for _, d := range ds {
		what := d.DeviceType
		if d.DeviceModel != "" {
			what += " · " + d.DeviceModel
		}
		what += " · LocalSend " + d.Version
		if d.Download {
			what += " · offers a download"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.Alias, d.Fingerprint[:min(8, len(d.Fingerprint))], d.AddrPort(), what)
	}
	return tw.Flush()
}

// findDevice starts a one-shot engine and waits (--wait, default 5s) for
// a LocalSend device matching ref, or for a Porch neighbour of that name
// when porchToo is set (then dev is zero and porch true).
func (o *options) findDevice(ctx context.Context, ref string, porchToo bool) (eng *peer.Engine, dev localsend.Device, porch bool, stop func(), err error) {
	if o.str("wait", "") == "" {
		o.flags["wait"] = []string{"5s"}
	}
	eng, stop, err = o.clientEngine(ctx, func(e *peer.Engine) bool {
		if _, err := e.ResolveDevice(ref); err == nil {
			return true
		}
		_, err := e.Resolve(ref)
		return porchToo && err == nil
	})
	if err != nil {
		return nil, dev, false, nil, err
	}
	// A Porch neighbour of that name wins over a LocalSend device.
	if _, perr := eng.Resolve(ref); porchToo && perr == nil {
		return eng, dev, true, stop, nil
	}
	dev, err = eng.ResolveDevice(ref)
	if err == nil {
		return eng, dev, false, stop, nil
	}
	stop()
	if errors.Is(err, localsend.ErrNoDevice) && porchToo {
		err = fmt.Errorf("no neighbour and no LocalSend device named %q — is it on this network, with LocalSend open (TCP and UDP 53317 allowed through its firewall)?", ref)
	}
	return nil, dev, false, nil, err
}

// sendLocalSend is `porch send DEVICE PATH...` when DEVICE is a LocalSend
// device; handled is false when it names a Porch neighbour (or an
// address), which cmdSend then serves.
func (o *options) sendLocalSend(ctx context.Context) (handled bool, err error) {
	ref := o.args[0]
	if _, _, err := net.SplitHostPort(ref); err == nil || !o.localSend() {
		return false, nil
	}
	eng, dev, porch, stop, err := o.findDevice(ctx, ref, true)
	if err != nil {
		return true, err
	}
	stop2 := stop
	defer func() { stop2() }()
	if porch {
		return false, nil
	}
	paths := o.args[1:]
	fmt.Fprintf(o.stderr, "sending to %s (LocalSend %s, %s); waiting for an answer…\n", dev.Alias, dev.Version, dev.AddrPort())
	bar := newProgressBar(o.stderr, "to "+dev.Alias)
	err = eng.SendToDevice(ctx, dev, paths, o.str("pin", ""), bar.update)
	bar.finish()
	if err != nil {
		if ctx.Err() != nil {
			return true, fmt.Errorf("interrupted; the transfer was cancelled on %s", dev.Alias)
		}
		return true, err
	}
	fmt.Fprintf(o.stdout, "sent %s to %s\n", strings.Join(paths, ", "), dev.Alias)
	return true, nil
}

func cmdFetch(o *options) error {
	if len(o.args) != 1 {
		return usageError("needs exactly one DEVICE")
	}
	ctx, cancelSig := signalContext()
	defer cancelSig()
	eng, dev, _, stop, err := o.findDevice(ctx, o.args[0], false)
	if err != nil {
		return err
	}
	defer stop()
	dir := o.str("to", o.downloads)
	if dir == "" {
		dir = eng.Settings().DownloadDir
	}
	bar := newProgressBar(o.stderr, "from "+dev.Alias)
	t0 := time.Now()
	res, err := eng.FetchFromDevice(ctx, dev, dir, o.str("pin", ""), bar.update)
	bar.finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(o.stderr, "%s: %d files, %s into %s in %v\n", dev.Alias, len(res.Files), human.Bytes(res.Bytes), dir,
		time.Since(t0).Round(time.Millisecond))
	for _, f := range res.Files {
		fmt.Fprintln(o.stdout, f)
	}
	return nil
}
