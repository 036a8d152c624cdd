package render

import (
	"fmt"
	"strings"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/hpack"
	"github.com/hoptap/hoptap/decoder/http2"
	"github.com/hoptap/hoptap/decoder/protobuf"
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
			value = HeaderValue(f, p.j.showSecrets)
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

// verboseCall prints a finished call: status, timing, metadata, and the
// messages with their bodies when kept.
func (p *Printer) verboseCall(e *decoder.CallEvent) {
	c := e.Call
	w := p.w
	method := "<unknown>"
	if c.Method.OK {
		method = c.Method.V
	}
	ts := c.EndTS
	fmt.Fprintf(w, "gRPC call: %s  %s → %s  stream %d  (conn %d)\n", p.stamp(ts), e.Conn.Client, e.Conn.Server, c.Stream, e.Conn.ID)
	fmt.Fprintf(w, "    Method: %s\n", method)
	status := "<unknown>"
	if c.Status.OK {
		status = fmt.Sprintf("%s (%d)", grpc.CodeName(int(c.Status.V)), c.Status.V)
		if c.StatusFromHTTP {
			status += fmt.Sprintf(", mapped from HTTP %d", c.HTTPStatus.V)
		}
	}
	fmt.Fprintf(w, "    Status: %s\n", status)
	if c.Message.OK && c.Message.V != "" {
		fmt.Fprintf(w, "    Message: %q\n", c.Message.V)
	}
	end := string(c.End)
	if c.End == grpc.EndRSTStream {
		end += fmt.Sprintf(" (%s from %s)", http2.ErrCode(c.RSTCode), c.RSTBy)
	}
	fmt.Fprintf(w, "    End: %s\n", end)
	if d, ok := c.Duration(); ok {
		fmt.Fprintf(w, "    Duration: %v\n", d)
	}
	if d, ok := c.TTFB(); ok {
		fmt.Fprintf(w, "    Time to first response byte: %v\n", d)
	}
	if len(c.Details) > 0 {
		if st, err := protobuf.DecodeStatus(c.Details); err == nil {
			fmt.Fprintf(w, "    Status details (google.rpc.Status):\n")
			writeIndented(w, st.Text(), "        ")
		} else {
			fmt.Fprintf(w, "    Status details: undecodable: %v\n", err)
		}
	}
	for i := range c.Messages {
		m := &c.Messages[i]
		comp := ""
		if m.Compressed {
			comp = ", compressed"
		}
		fmt.Fprintf(w, "    Message %d: %s, %d bytes%s, at %s\n", i+1, m.Dir, m.Length, comp, strings.TrimSpace(p.stamp(m.TS)))
		if p.Bodies != nil {
			if s, err := p.Bodies.Text(c, m); err == nil {
				writeIndented(w, s, "        ")
			} else {
				fmt.Fprintf(w, "        <%v>\n", err)
			}
		}
	}
	if c.MessagesDropped > 0 {
		fmt.Fprintf(w, "    (%d more messages not listed)\n", c.MessagesDropped)
	}
	w.WriteByte('\n')
}

func writeIndented(w interface{ WriteString(string) (int, error) }, s, indent string) {
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		w.WriteString(indent + line + "\n")
	}
}
