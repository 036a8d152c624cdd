package capture

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/decoder/filter"
)

// Filters are the kernel-side options as people type them, read the same
// way by "hoptap capture" and the agent.
type Filters struct {
	Payload    string   // auto, all or headers
	Snaplen    int      // 0: everything
	Ports      []string // repeatable or comma-separated
	Hosts      []string // addresses or CIDRs
	BufferMiB  int      // ring buffer, a power of two
	CgroupRoot string   // "": found in mountinfo
}

// Probe checks the filters and turns them into probe options.
func (f Filters) Probe() (bpf.Options, error) {
	var p bpf.Options
	var err error
	if p.Payload, err = bpf.ParsePayloadMode(f.Payload); err != nil {
		return p, err
	}
	if f.Snaplen < 0 || f.Snaplen > bpf.MaxSnaplen {
		return p, fmt.Errorf("snap length %d: want 0 to %d", f.Snaplen, bpf.MaxSnaplen)
	}
	if f.Snaplen > 0 && f.Snaplen < 60 {
		return p, fmt.Errorf("snap length %d: want at least 60, to keep the IP and TCP headers", f.Snaplen)
	}
	p.Snaplen = f.Snaplen
	if p.Ports, err = filter.ParsePorts(f.Ports); err != nil {
		return p, err
	}
	if p.Prefixes, err = ParseHosts(f.Hosts); err != nil {
		return p, err
	}
	if f.BufferMiB <= 0 || f.BufferMiB&(f.BufferMiB-1) != 0 || f.BufferMiB > 1024 {
		return p, fmt.Errorf("buffer size %d MiB: want a power of two up to 1024", f.BufferMiB)
	}
	p.RingBytes = f.BufferMiB << 20
	p.CgroupRoot = f.CgroupRoot
	return p, nil
}

// ParseHosts reads host filters: addresses or CIDRs, comma-separated or
// repeated.
func ParseHosts(in []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, h := range in {
		for _, one := range strings.Split(h, ",") {
			s := strings.TrimSpace(one)
			if strings.Contains(s, "/") {
				pf, err := netip.ParsePrefix(s)
				if err != nil {
					return nil, fmt.Errorf("bad host %q: want an address or CIDR", s)
				}
				out = append(out, pf.Masked())
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("bad host %q: want an address or CIDR", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out, nil
}
