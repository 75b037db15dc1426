package peer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"porch/peer/discovery"
	"porch/peer/localsend"
	"porch/share"
)

// LocalSend: this machine on LocalSend's network (package peer/localsend)
// beside Porch's own. A serving engine (serve, the window) listens on TCP
// and UDP 53317, announces itself, answers and lists LocalSend devices,
// receives what they send through the offer decision, and sends to them. A
// one-shot engine (porch peers, porch send) takes part briefly when the
// port is free, and otherwise reads the devices the running engine of the
// same data folder has seen.

// Keys of LocalSend's state in the settings table.
const (
	localSendKey        = "localsend"         // LocalSendSettings
	localSendDevicesKey = "localsend.devices" // the devices a running engine sees, for one-shot commands
)

// maxMessages is how many LocalSend text messages the engine keeps.
const maxMessages = 50

// portWait is how long a serving engine waits for LocalSend's port when it
// is taken, before it falls back to a free one.
const portWait = 5 * time.Second

// LocalSendSettings are the user's LocalSend choices.
type LocalSendSettings struct {
	Off bool   `json:"off"` // do not speak LocalSend at all
	PIN string `json:"pin"` // PIN LocalSend senders must give; "" for none
}

// Message is a text message a LocalSend device sent.
type Message struct {
	From     string    `json:"from"`
	FromAddr string    `json:"from_addr"`
	Text     string    `json:"text"`
	At       time.Time `json:"at"`
}

// lsPart is the engine's LocalSend state. mu guards everything but cert,
// which is set once in New.
type lsPart struct {
	cert   *localsend.Cert // nil when LocalSend is off at start
	toggle chan struct{}   // wakes runLocalSend after SetLocalSendSettings

	mu       sync.Mutex
	settings LocalSendSettings
	node     *localsend.Node
	offline  bool              // a one-shot engine that could not take the port
	offers   map[string]string // LocalSend session id -> offer id
	done     map[string]int64  // offer id -> bytes received
	messages []Message
}

// initLocalSend loads the settings and the certificate.
func (e *Engine) initLocalSend() error {
	e.ls = &lsPart{toggle: make(chan struct{}, 1), offers: map[string]string{}, done: map[string]int64{}}
	raw, ok, err := e.db.Setting(localSendKey)
	if err != nil {
		return err
	}
	if ok {
		if err := json.Unmarshal(raw, &e.ls.settings); err != nil {
			e.log.Warn("ignoring unreadable LocalSend settings", "err", err)
		}
	}
	if e.opts.LocalSendPIN != "" {
		e.ls.settings.PIN = e.opts.LocalSendPIN
	}
	if !e.opts.LocalSend {
		return nil
	}
	e.ls.cert, err = localsend.LoadCert(e.opts.DataDir)
	return err
}

// LocalSendSettings returns the LocalSend settings in force.
func (e *Engine) LocalSendSettings() LocalSendSettings {
	e.ls.mu.Lock()
	defer e.ls.mu.Unlock()
	return e.ls.settings
}

// SetLocalSendSettings applies s at once (turning LocalSend off stops its
// server and discovery, on starts them) and saves it in the data folder.
func (e *Engine) SetLocalSendSettings(s LocalSendSettings) error {
	s.PIN = strings.TrimSpace(s.PIN)
	if len(s.PIN) > 64 {
		return fmt.Errorf("%w: the LocalSend PIN is longer than 64 characters", ErrSettings)
	}
	e.ls.mu.Lock()
	e.ls.settings = s
	e.ls.mu.Unlock()
	select {
	case e.ls.toggle <- struct{}{}:
	default:
	}
	e.emit(Event{Kind: SettingsChanged})
	b, _ := json.Marshal(s)
	return e.db.SetSetting(localSendKey, b)
}

// LocalSendFingerprint is this machine's fingerprint as LocalSend shows it
// ("" when the engine does not speak LocalSend).
func (e *Engine) LocalSendFingerprint() string {
	if e.ls.cert == nil {
		return ""
	}
	return e.ls.cert.Fingerprint
}

// LocalSendPort is the TCP port LocalSend devices reach this machine on
// (0 when LocalSend is not running).
func (e *Engine) LocalSendPort() int {
	e.ls.mu.Lock()
	defer e.ls.mu.Unlock()
	if e.ls.node == nil {
		return 0
	}
	return e.ls.node.Self().Port
}

// runLocalSend runs LocalSend while it is on, until ctx ends.
func (e *Engine) runLocalSend(ctx context.Context) {
	cancelSub := e.Subscribe(func(ev Event) {
		if ev.Kind == SettingsChanged {
			e.ls.mu.Lock()
			if n := e.ls.node; n != nil {
				n.Announce()
			}
			e.ls.mu.Unlock()
		}
	})
	defer cancelSub()
	for {
		if !e.LocalSendSettings().Off {
			if err := e.runNode(ctx); err != nil {
				e.log.Warn("LocalSend stopped", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-e.ls.toggle:
		}
	}
}

// runNode binds LocalSend's ports and runs a node until ctx ends or the
// settings turn LocalSend off.
func (e *Engine) runNode(ctx context.Context) error {
	port := e.opts.LocalSendPort
	if port == 0 {
		port = localsend.Port
	}
	lns, err := e.lsListen(ctx, port)
	if err != nil {
		if e.opts.ClientOnly {
			// A running Porch holds the port: read what it has seen.
			e.ls.mu.Lock()
			e.ls.offline = true
			e.ls.mu.Unlock()
			return nil
		}
		return err
	}
	self := func() localsend.Info {
		_, p, _ := net.SplitHostPort(lns[0].Addr().String())
		n, _ := strconv.Atoi(p)
		return localsend.Info{Alias: e.Name(), Port: n, Protocol: "https"}
	}
	var ifaces []net.Interface
	if ifs, err := discovery.Interfaces(e.opts.Ifaces); err == nil {
		ifaces = ifs
	} else {
		e.log.Warn("LocalSend discovery off", "err", err)
	}
	node, err := localsend.NewNode(localsend.NodeOptions{
		Cert:      e.ls.cert,
		Ifaces:    ifaces,
		UDPPort:   port,
		Listeners: lns,
		Server: localsend.ServerOptions{
			Self:     self,
			Store:    func() (*share.Store, error) { return share.OpenStore(e.Settings().DownloadDir) },
			Receive:  func() bool { return !e.opts.ClientOnly },
			Decide:   e.decideLocalSend,
			PIN:      func() string { return e.LocalSendSettings().PIN },
			Text:     e.localSendText,
			Received: e.localSendReceived,
			Ended:    e.localSendEnded,
		},
		Changed: e.localSendChanged,
		Ignore:  func(i localsend.Info) bool { return i.DeviceModel == localsend.DeviceModel },
		Logger:  e.log,
	})
	if err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.ls.mu.Lock()
	e.ls.node = node
	e.ls.mu.Unlock()
	defer func() {
		e.ls.mu.Lock()
		e.ls.node = nil
		e.ls.mu.Unlock()
		e.localSendChanged()
	}()
	// The settings turning LocalSend off end this node.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.ls.toggle:
				if e.LocalSendSettings().Off {
					cancel()
					return
				}
			}
		}
	})
	e.log.Info("LocalSend on", "port", self().Port, "fingerprint", e.ls.cert.Fingerprint)
	return node.Run(ctx)
}

// lsListen binds the TCP port on the addresses of the interfaces Porch was
// told to use (every address when none was named). A serving engine falls
// back to a free port when 53317 is taken.
func (e *Engine) lsListen(ctx context.Context, port int) ([]net.Listener, error) {
	var hosts []string
	if len(e.opts.Ifaces) == 0 {
		hosts = []string{""}
	} else {
		ifs, err := discovery.Interfaces(e.opts.Ifaces)
		if err != nil {
			return nil, err
		}
		for _, ifi := range ifs {
			addrs, _ := ifi.Addrs()
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					if ip, ok := netip.AddrFromSlice(ipn.IP); ok && !ip.Unmap().IsLinkLocalUnicast() {
						hosts = append(hosts, ip.Unmap().String())
					}
				}
			}
		}
		if len(hosts) == 0 {
			return nil, fmt.Errorf("LocalSend: no address on %s", strings.Join(e.opts.Ifaces, ", "))
		}
	}
	bind := func(port int) ([]net.Listener, error) {
		var lns []net.Listener
		for _, h := range hosts {
			ln, err := net.Listen("tcp", net.JoinHostPort(h, strconv.Itoa(port)))
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				return nil, err
			}
			lns = append(lns, ln)
			if port == 0 {
				_, p, _ := net.SplitHostPort(ln.Addr().String())
				port, _ = strconv.Atoi(p)
			}
		}
		return lns, nil
	}
	lns, err := bind(port)
	if err == nil || e.opts.ClientOnly || !errors.Is(err, syscall.EADDRINUSE) {
		return lns, err
	}
	// A one-shot command (porch peers) may hold the port for a moment.
	for deadline := time.Now().Add(portWait); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if lns, err = bind(port); err == nil {
			return lns, nil
		}
	}
	lns, err2 := bind(0)
	if err2 != nil {
		return nil, err
	}
	e.log.Warn("LocalSend port taken, using a free one instead (LocalSend devices that assume 53317 will not reach this one)",
		"wanted", port, "got", lns[0].Addr().String())
	return lns, nil
}

// localSendChanged saves the device list for one-shot commands and tells
// the subscribers.
func (e *Engine) localSendChanged() {
	if e.opts.ClientOnly {
		return
	}
	b, _ := json.Marshal(e.LocalSendDevices())
	if err := e.db.SetSetting(localSendDevicesKey, b); err != nil {
		e.log.Debug("saving the LocalSend devices", "err", err)
	}
	e.emit(Event{Kind: DevicesChanged})
}

// LocalSendDevices returns the LocalSend devices seen, by name. Other
// Porches are left out: they are neighbours over Porch's own protocol.
func (e *Engine) LocalSendDevices() []localsend.Device {
	out := []localsend.Device{}
	for _, d := range e.allDevices() {
		if d.DeviceModel != localsend.DeviceModel {
			out = append(out, d)
		}
	}
	return out
}

func (e *Engine) allDevices() []localsend.Device {
	e.ls.mu.Lock()
	node, offline := e.ls.node, e.ls.offline
	e.ls.mu.Unlock()
	if node != nil {
		return node.Devices()
	}
	if !offline {
		return nil
	}
	var ds []localsend.Device
	if raw, ok, err := e.db.Setting(localSendDevicesKey); err == nil && ok {
		json.Unmarshal(raw, &ds)
	}
	if len(ds) > localsend.MaxDevices {
		ds = ds[:localsend.MaxDevices]
	}
	localsend.SortDevices(ds)
	return ds
}

// ResolveDevice finds a LocalSend device by name, fingerprint prefix or
// address; errors wrap localsend.ErrNoDevice or localsend.ErrAmbiguous.
func (e *Engine) ResolveDevice(ref string) (localsend.Device, error) {
	return localsend.Resolve(e.LocalSendDevices(), ref)
}

// lsClient returns the client that speaks for this machine.
func (e *Engine) lsClient() (*localsend.Client, error) {
	if e.ls.cert == nil {
		return nil, errors.New("LocalSend is off (--localsend=false)")
	}
	e.ls.mu.Lock()
	node := e.ls.node
	e.ls.mu.Unlock()
	if node != nil {
		return node.Client(), nil
	}
	return localsend.NewClient(e.ls.cert, func() localsend.Info {
		return localsend.Info{Alias: e.Name(), Port: localsend.Port, Protocol: "https"}
	}, nil), nil
}

// SendToDevice sends files and folders to a LocalSend device (pin when it
// asks for one), reporting progress; cancelling ctx cancels the session on
// the device too.
func (e *Engine) SendToDevice(ctx context.Context, d localsend.Device, paths []string, pin string, progress func(GetProgress)) error {
	data, _ := filepath.Abs(e.opts.DataDir)
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if rel, err := filepath.Rel(abs, data); err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
			return fmt.Errorf("cannot send %s: it holds Porch's own data folder (its keys)", p)
		}
	}
	files, err := localsend.Collect(paths)
	if err != nil {
		return err
	}
	c, err := e.lsClient()
	if err != nil {
		return err
	}
	var meter rateMeter
	err = c.Send(ctx, d, pin, files, func(done, total int64, file string) {
		if progress != nil {
			progress(GetProgress{Done: done, Total: total, Rate: meter.add(done), Sources: 1, File: file})
		}
	})
	if err != nil {
		return e.lsFriendly(d, err)
	}
	return nil
}

// FetchFromDevice downloads what a LocalSend device offers for download
// (its "share via link" / download mode) into dir.
func (e *Engine) FetchFromDevice(ctx context.Context, d localsend.Device, dir, pin string, progress func(GetProgress)) (localsend.Fetched, error) {
	if !d.Download {
		return localsend.Fetched{}, fmt.Errorf("%s does not offer files for download (in LocalSend: Send → Share via link)", d.Alias)
	}
	c, err := e.lsClient()
	if err != nil {
		return localsend.Fetched{}, err
	}
	store, err := share.OpenStore(dir)
	if err != nil {
		return localsend.Fetched{}, err
	}
	defer store.Close()
	var meter rateMeter
	res, err := c.Fetch(ctx, d, pin, store, func(done, total int64, file string) {
		if progress != nil {
			progress(GetProgress{Done: done, Total: total, Rate: meter.add(done), Sources: 1, File: file})
		}
	})
	if err != nil {
		return res, e.lsFriendly(d, err)
	}
	return res, nil
}

// lsFriendly words a LocalSend error for the user.
func (e *Engine) lsFriendly(d localsend.Device, err error) error {
	var se *localsend.StatusError
	var op *net.OpError
	switch {
	case errors.Is(err, context.Canceled):
		return err
	case errors.As(err, &se):
		return fmt.Errorf("%s (LocalSend): %w", d.Alias, err)
	case errors.Is(err, localsend.ErrFingerprint):
		return fmt.Errorf("%s answered with another certificate than it announced — refused (%w)", d.Alias, err)
	case errors.As(err, &op):
		return fmt.Errorf("cannot reach %s at %s (%v) — is LocalSend still open there, and TCP port %d allowed through its firewall?",
			d.Alias, d.AddrPort(), op.Err, d.Port)
	}
	return fmt.Errorf("%s (LocalSend): %w", d.Alias, err)
}

// lsSender is who a LocalSend offer comes from, for the offer decision.
func lsSender(d localsend.Device) OfferSender {
	return OfferSender{ID: d.Fingerprint, Name: d.Alias, Fingerprint: d.Fingerprint, Kind: SenderLocalSend, Addr: d.Addr.String()}
}

// lsItems groups a session's files into the top-level items of an offer.
func lsItems(files []localsend.File) []OfferItem {
	var items []OfferItem
	at := map[string]int{}
	for _, f := range files {
		top, _, nested := strings.Cut(f.FileName, "/")
		i, ok := at[top]
		if !ok {
			i = len(items)
			at[top] = i
			items = append(items, OfferItem{Name: top, Dir: nested})
		}
		items[i].Size += f.Size
		items[i].Files++
		if nested {
			items[i].Dir = true
		}
	}
	return items
}

// decideLocalSend decides a LocalSend offer by the offer policy.
func (e *Engine) decideLocalSend(ctx context.Context, lo localsend.Offer) error {
	if lo.Text != "" {
		switch e.AcceptPolicy() {
		case AcceptAll, AcceptAsk:
			if e.AcceptPolicy() == AcceptAsk && !e.opts.Prompt {
				return localsend.ErrDeclined
			}
			return nil
		}
		return localsend.ErrDeclined
	}
	o := Offer{From: lsSender(lo.From), Items: lsItems(lo.Files), Dir: e.Settings().DownloadDir}
	ok, err := e.decideOffer(ctx, &o, lo.SessionID)
	if err != nil {
		return err
	}
	if !ok {
		return localsend.ErrDeclined
	}
	e.ls.mu.Lock()
	e.ls.offers[lo.SessionID] = o.ID
	e.ls.mu.Unlock()
	return nil
}

func (e *Engine) localSendText(lo localsend.Offer) {
	m := Message{From: lo.From.Alias, FromAddr: lo.From.Addr.String(), Text: lo.Text, At: time.Now()}
	e.ls.mu.Lock()
	e.ls.messages = append(e.ls.messages, m)
	if len(e.ls.messages) > maxMessages {
		e.ls.messages = e.ls.messages[len(e.ls.messages)-maxMessages:]
	}
	e.ls.mu.Unlock()
	e.log.Info("LocalSend message", "from", m.From, "addr", m.FromAddr, "text", shortText(m.Text, 200))
	e.emit(Event{Kind: MessageReceived, Message: m})
}

// shortText cuts s to n bytes for a log line.
func shortText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// Messages returns the last LocalSend text messages, oldest first.
func (e *Engine) Messages() []Message {
	e.ls.mu.Lock()
	defer e.ls.mu.Unlock()
	return append([]Message(nil), e.ls.messages...)
}

func (e *Engine) localSendReceived(lo localsend.Offer, rel string, size int64) {
	e.log.Info("LocalSend file received", "from", lo.From.Alias, "name", path.Clean(rel), "bytes", size)
	e.ls.mu.Lock()
	id := e.ls.offers[lo.SessionID]
	e.ls.done[id] += size
	done := e.ls.done[id]
	e.ls.mu.Unlock()
	if id != "" {
		e.offerProgress(id, done, 1)
	}
}

func (e *Engine) localSendEnded(lo localsend.Offer, kept, failed int, cancelled bool) {
	e.ls.mu.Lock()
	id := e.ls.offers[lo.SessionID]
	delete(e.ls.offers, lo.SessionID)
	delete(e.ls.done, id)
	e.ls.mu.Unlock()
	e.log.Info("LocalSend session ended", "from", lo.From.Alias, "files", kept, "failed", failed, "cancelled", cancelled)
	if id == "" {
		return
	}
	var err error
	switch {
	case cancelled:
		err = context.Canceled
	case failed > 0:
		err = fmt.Errorf("%d of %d files did not arrive whole", failed, kept+failed)
	}
	e.offerEnded(id, err)
}
