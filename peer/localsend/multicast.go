package localsend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
)

// Group is LocalSend's IPv4 multicast group.
var Group = netip.AddrFrom4([4]byte{224, 0, 0, 167})

// announceAt is when after Announce the three datagrams go out, as
// LocalSend sends them.
var announceAt = []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, 2 * time.Second}

// Multicast is LocalSend discovery on chosen interfaces: one UDP socket on
// port 53317 (shared with other programs on the machine) that joins the
// group on each interface, hears datagrams that arrived on those
// interfaces only, and sends on each of them. Safe for concurrent use.
type Multicast struct {
	ifaces []net.Interface
	conn   net.PacketConn
	pc     *ipv4.PacketConn
	port   int
	mu     sync.Mutex // serialises sends (the outgoing interface is socket state)
	wake   chan struct{}
}

// ListenMulticast joins LocalSend's group on ifaces. port is 53317 except
// in tests.
func ListenMulticast(ifaces []net.Interface, port int) (*Multicast, error) {
	if len(ifaces) == 0 {
		return nil, errors.New("localsend: no interface for multicast")
	}
	lc := net.ListenConfig{Control: reuseAddr}
	conn, err := lc.ListenPacket(context.Background(), "udp4", "0.0.0.0:"+strconv.Itoa(port))
	if err != nil {
		return nil, fmt.Errorf("localsend: UDP port %d: %w", port, err)
	}
	pc := ipv4.NewPacketConn(conn)
	group := &net.UDPAddr{IP: Group.AsSlice()}
	var joined []net.Interface
	for _, ifi := range ifaces {
		if err := pc.JoinGroup(&ifi, group); err != nil {
			continue
		}
		joined = append(joined, ifi)
	}
	if len(joined) == 0 {
		conn.Close()
		return nil, fmt.Errorf("localsend: cannot join %s on any of the interfaces", Group)
	}
	if err := pc.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true); err != nil {
		conn.Close()
		return nil, fmt.Errorf("localsend: %w", err)
	}
	pc.SetMulticastTTL(1)
	pc.SetMulticastLoopback(true)
	return &Multicast{ifaces: joined, conn: conn, pc: pc, port: port, wake: make(chan struct{}, 1)}, nil
}

// Close leaves the group and closes the socket.
func (m *Multicast) Close() error { return m.conn.Close() }

// Send sends one datagram holding i on every interface.
func (m *Multicast) Send(i Info) error {
	b, err := json.Marshal(i)
	if err != nil {
		return err
	}
	dst := &net.UDPAddr{IP: Group.AsSlice(), Port: m.port}
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for _, ifi := range m.ifaces {
		if err := m.pc.SetMulticastInterface(&ifi); err != nil {
			errs = append(errs, err)
			continue
		}
		// The source is the interface's own address: left to the kernel,
		// an interface whose only address is host-scoped (loopback) sends
		// from 0.0.0.0, which no one can answer.
		var cm *ipv4.ControlMessage
		if src := ifaceAddr4(ifi); src.IsValid() {
			cm = &ipv4.ControlMessage{IfIndex: ifi.Index, Src: src.AsSlice()}
		}
		if _, err := m.pc.WriteTo(b, cm, dst); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ifi.Name, err))
		}
	}
	if len(errs) == len(m.ifaces) {
		return errors.Join(errs...)
	}
	return nil
}

// Announce asks Run to announce self again (three datagrams).
func (m *Multicast) Announce() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Heard is one datagram heard: what it says and who sent it.
type Heard struct {
	Info Info
	From netip.Addr
}

// Run announces self (at start and after each Announce) and calls heard
// for every well-formed datagram from another device that arrived on one
// of the interfaces, until ctx ends; it then closes the socket. heard runs
// on Run's goroutine and must not block for long.
func (m *Multicast) Run(ctx context.Context, self func() Info, heard func(Heard)) error {
	defer context.AfterFunc(ctx, func() { m.conn.Close() })()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		m.Announce()
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.wake:
			}
			start := time.Now()
			for _, at := range announceAt {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(start.Add(at))):
				}
				i := self()
				t := true
				i.Announce, i.Announcement = &t, &t
				m.Send(i)
			}
		}
	})
	buf := make([]byte, MaxDatagram+1)
	for {
		n, cm, src, err := m.pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		if n > MaxDatagram || cm == nil || !slices.ContainsFunc(m.ifaces, func(i net.Interface) bool { return i.Index == cm.IfIndex }) {
			continue
		}
		if dst, ok := netip.AddrFromSlice(cm.Dst); !ok || dst.Unmap() != Group {
			continue
		}
		ua, ok := src.(*net.UDPAddr)
		if !ok {
			continue
		}
		from, ok := netip.AddrFromSlice(ua.IP)
		if !ok || from.Unmap().IsUnspecified() || from.IsMulticast() {
			continue
		}
		i, err := ParseInfo(buf[:n], true)
		if err != nil {
			continue
		}
		heard(Heard{Info: i, From: from.Unmap()})
	}
}

// ifaceAddr4 returns the first IPv4 address of ifi, if any.
func ifaceAddr4(ifi net.Interface) netip.Addr {
	addrs, _ := ifi.Addrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Unmap().Is4() {
				return ip.Unmap()
			}
		}
	}
	return netip.Addr{}
}
