package render

import (
	"fmt"
	"strings"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/hpack"
	"github.com/hoptap/hoptap/decoder/http2"
)

// verboseFrame prints a detail tree like tshark -V.
func (p *Printer) verboseFrame(e *decoder.FrameEvent) {
	f := e.Frame
	w := p.w
	fmt.Fprintf(w, "Frame %d: %s  %s  (conn %d, %s)\n", p.n, p.stamp(e.TS), arrow(e.Conn, e.Dir), e.Conn.ID, e.Dir)
	fmt.Fprintf(w, "    HyperText Transfer Protocol 2: %s\n", f.Type)
	fmt.Fprintf(w, "        Length: %d\n", f.Length)
	fmt.Fprintf(w, "        Type: %s (%d)\n", f.Type, uint8(f.Type))
	if fl := http2.FlagString(f.Type, f.Flags); fl != "" {
		fmt.Fprintf(w, "        Flags: 0x%02x %s\n", uint8(f.Flags), fl)
	} else {
		fmt.Fprintf(w, "        Flags: 0x%02x\n", uint8(f.Flags))
	}
	fmt.Fprintf(w, "        Reserved: %v\n", f.Reserved)
	fmt.Fprintf(w, "        Stream Identifier: %d\n", f.StreamID)
	if f.PadLength >= 0 {
		fmt.Fprintf(w, "        Pad Length: %d\n", f.PadLength)
	}
	if f.Priority != nil {
		fmt.Fprintf(w, "        Exclusive: %v\n        Stream Dependency: %d\n        Weight: %d\n",
			f.Priority.Exclusive, f.Priority.DependsOn, int(f.Priority.Weight)+1)
	}
	switch f.Type {
	case http2.TypeRSTStream:
		fmt.Fprintf(w, "        Error: %s (%d)\n", f.ErrCode, uint32(f.ErrCode))
	case http2.TypeGoAway:
		fmt.Fprintf(w, "        Promised-Stream-ID: %d\n        Error: %s (%d)\n", f.LastStream, f.ErrCode, uint32(f.ErrCode))
		if len(f.Debug) > 0 {
			fmt.Fprintf(w, "        Additional Debug Data: %q\n", f.Debug)
		}
	case http2.TypeSettings:
		for _, s := range f.Settings {
			fmt.Fprintf(w, "        Settings - %s : %d\n", s.ID, s.Value)
		}
	case http2.TypeWindowUpdate:
		fmt.Fprintf(w, "        Window Size Increment: %d\n", f.Increment)
	case http2.TypePing:
		fmt.Fprintf(w, "        Ping: %x\n", f.PingData)
	case http2.TypePushPromise:
		fmt.Fprintf(w, "        Promised-Stream-ID: %d\n", f.PromisedID)
	}
	if e.HeadersShown {
		writeHeaderTree(p, e.Headers, e.HeadersErr)
	}
	w.WriteByte('\n')
}

func writeHeaderTree(p *Printer, fs []hpack.Field, err error) {
	w := p.w
	for i := range fs {
		f := &fs[i]
		name, value := "<unknown>", "<unknown>"
		if f.NameKnown {
			name = f.Name
		}
		if f.ValueKnown && f.NameKnown {
			value = HeaderValue(f)
		}
		if f.Rep == 0 && !f.NameKnown && !f.ValueKnown && f.Index == 0 {
			fmt.Fprintf(w, "        Header: <rest of block lost>\n")
			continue
		}
		fmt.Fprintf(w, "        Header: %s: %s\n", name, value)
		fmt.Fprintf(w, "            Representation: %s\n", f.RepString())
		if f.Index != 0 {
			fmt.Fprintf(w, "            Index: %d\n", f.Index)
		}
		var huff []string
		if f.HuffmanName {
			huff = append(huff, "name")
		}
		if f.HuffmanValue {
			huff = append(huff, "value")
		}
		if len(huff) > 0 {
			fmt.Fprintf(w, "            Huffman: %s\n", strings.Join(huff, ", "))
		}
		if !f.NameKnown || !f.ValueKnown {
			fmt.Fprintf(w, "            Unknown: table entry inserted before the capture or a gap\n")
		}
	}
	if err != nil {
		fmt.Fprintf(w, "        HPACK error: %v\n", err)
	}
}
