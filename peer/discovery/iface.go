package discovery

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// ErrNoInterface is returned when no network interface can carry mDNS.
var ErrNoInterface = errors.New("discovery: no usable network interface (need one that is up and multicast-capable)")

// Interfaces returns the network interfaces discovery should use.
//
// With no names it returns every interface that is up, multicast-capable and
// not loopback; if there is none, the loopback interface if it is up and
// multicast-capable (so two copies on one machine without a network still find
// each other). With names it returns exactly those interfaces, in that order
// without duplicates, and fails if one does not exist or is not up and
// multicast-capable. It fails with ErrNoInterface when nothing is usable.
func Interfaces(names []string) ([]net.Interface, error) {
	if len(names) > 0 {
		var out []net.Interface
		for _, name := range names {
			ifi, err := net.InterfaceByName(name)
			if err != nil {
				return nil, fmt.Errorf("discovery: interface %q: %w", name, err)
			}
			if !usable(*ifi) {
				return nil, fmt.Errorf("discovery: interface %q is not up and multicast-capable", name)
			}
			if !slices.ContainsFunc(out, func(o net.Interface) bool { return o.Index == ifi.Index }) {
				out = append(out, *ifi)
			}
		}
		return out, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("discovery: list interfaces: %w", err)
	}
	var out, loop []net.Interface
	for _, ifi := range all {
		if !usable(ifi) {
			continue
		}
		if ifi.Flags&net.FlagLoopback != 0 {
			loop = append(loop, ifi)
		} else {
			out = append(out, ifi)
		}
	}
	if len(out) == 0 {
		out = loop
	}
	if len(out) == 0 {
		return nil, ErrNoInterface
	}
	return out, nil
}

func usable(ifi net.Interface) bool {
	return ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0
}

// localAddrs returns the addresses to announce for ifaces: their IPv4 and
// IPv6 addresses except link-local ones, which are used only when there is
// nothing else. Loopback addresses count only on a loopback interface.
func localAddrs(ifaces []net.Interface) []netip.Addr {
	var addrs, linkLocal []netip.Addr
	for _, ifi := range ifaces {
		ias, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, ia := range ias {
			ipn, ok := ia.(*net.IPNet)
			if !ok {
				continue
			}
			a, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			a = a.Unmap()
			switch {
			case a.IsUnspecified() || a.IsMulticast():
			case a.IsLoopback() && ifi.Flags&net.FlagLoopback == 0:
			case a.IsLinkLocalUnicast():
				linkLocal = appendUnique(linkLocal, a)
			default:
				addrs = appendUnique(addrs, a)
			}
		}
	}
	if len(addrs) == 0 {
		addrs = linkLocal
	}
	return addrs
}

func appendUnique(list []netip.Addr, a netip.Addr) []netip.Addr {
	if slices.Contains(list, a) {
		return list
	}
	return append(list, a)
}
