package capture

import (
	"fmt"
	"io"
	"runtime"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/hoptap/hoptap/bpf"
)

// PcapNG writes one interface block per capture point (egress,
// ingress, and each interface of --wire) and a comment per packet
// naming its direction and process.
type PcapNG struct {
	w    *pcapgo.NgWriter
	ifc  [2]int         // by bpf.Dir
	wire map[uint32]int // by ifindex
	err  error
}

// NewPcapNG starts a pcapng stream for packets captured at root with o,
// and for the segments stamped at wire's interfaces.
func NewPcapNG(out io.Writer, root string, o bpf.Options, wire []bpf.WireInterface) (*PcapNG, error) {
	snap := o.Snaplen
	if snap <= 0 || snap > bpf.MaxSnaplen {
		snap = bpf.MaxSnaplen
	}
	ifc := func(d bpf.Dir) pcapgo.NgInterface {
		return pcapgo.NgInterface{
			Name:                "hoptap-" + d.String(),
			Description:         fmt.Sprintf("cgroup_skb %s at the cgroup v2 root %s: every socket on the node", d, root),
			OS:                  runtime.GOOS,
			LinkType:            layers.LinkTypeRaw,
			TimestampResolution: 9,
			SnapLength:          uint32(snap),
		}
	}
	opts := pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{
		Hardware:    runtime.GOARCH,
		OS:          runtime.GOOS,
		Application: "hoptap capture",
	}}
	w, err := pcapgo.NewNgWriterInterface(out, ifc(bpf.Ingress), opts)
	if err != nil {
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	p := &PcapNG{w: w, wire: map[uint32]int{}}
	p.ifc[bpf.Ingress] = 0
	if p.ifc[bpf.Egress], err = w.AddInterface(ifc(bpf.Egress)); err != nil {
		return nil, fmt.Errorf("pcapng: %w", err)
	}
	for _, wi := range wire {
		i, err := w.AddInterface(pcapgo.NgInterface{
			Name:                "wire-" + wi.Name,
			Description:         fmt.Sprintf("tcx ingress and egress on %s: the same segments where they crossed it, IP and TCP headers only", wi.Name),
			OS:                  runtime.GOOS,
			LinkType:            layers.LinkTypeRaw,
			TimestampResolution: 9,
			SnapLength:          uint32(snap),
		})
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		p.wire[uint32(wi.Index)] = i
	}
	return p, nil
}

// Directions of a wire stamp, as pcapng's packet flags say them.
var (
	inbound  = pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionInbound}
	outbound = pcapgo.NgEpbFlags{Direction: pcapgo.NgEpbFlagDirectionOutbound}
)

// Write adds a packet: a socket's observation in its direction's block,
// a wire stamp (bpf.KindWire) in its interface's, flagged inbound or
// outbound. The first error sticks (Err).
func (p *PcapNG) Write(e *bpf.Event, comment string) {
	if p.err != nil {
		return
	}
	i, opts := p.ifc[e.Dir&1], pcapgo.NgPacketOptions{Comments: []string{comment}}
	if e.Kind == bpf.KindWire {
		var ok bool
		if i, ok = p.wire[e.Ifindex]; !ok {
			return
		}
		opts.Flags = &inbound
		if e.Dir == bpf.Egress {
			opts.Flags = &outbound
		}
	}
	ci := gopacket.CaptureInfo{
		Timestamp:      e.TS,
		CaptureLength:  len(e.Data),
		Length:         max(e.Len, len(e.Data)),
		InterfaceIndex: i,
	}
	p.err = p.w.WritePacketWithOptions(ci, e.Data, opts)
}

// Flush writes what is buffered.
func (p *PcapNG) Flush() error {
	if p.err == nil {
		p.err = p.w.Flush()
	}
	return p.err
}

// Err is the first write error.
func (p *PcapNG) Err() error { return p.err }
