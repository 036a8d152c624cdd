package peers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/hoptap/hoptap/decoder/grpc"
)

// Call is one call as an oracle or hoptap sees it. Pointers are nil when
// unknown.
type Call struct {
	Client, Server string
	Stream         uint32
	Method         *string
	Status         *int
	Message        *string

	// From hoptap only: when the request HEADERS was seen (nil when the
	// call began before the capture), how long the call took and how it
	// ended (and with end "rst_stream", who reset it: "c2s" or "s2c").
	Start    *time.Time
	Duration *time.Duration
	End      string
	RstBy    string

	// From tshark only: the HPACK representation that carried :path and
	// the last grpc-status, e.g. "Indexed Header Field".
	MethodRepr, StatusRepr string
}

// Key identifies a call across tools.
func (c Call) Key() string { return fmt.Sprintf("%s>%s#%d", c.Client, c.Server, c.Stream) }

func (c Call) String() string {
	s := func(p *string) string {
		if p == nil {
			return "<unknown>"
		}
		return strconv.Quote(*p)
	}
	st := "<unknown>"
	if c.Status != nil {
		st = strconv.Itoa(*c.Status)
	}
	return fmt.Sprintf("%s method=%s status=%s message=%s", c.Key(), s(c.Method), st, s(c.Message))
}

// HoptapCalls parses the call objects of `hoptap read -o json`.
func HoptapCalls(t testing.TB, jsonl []byte) []Call {
	t.Helper()
	var out []Call
	sc := bufio.NewScanner(bytes.NewReader(jsonl))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var o struct {
			Kind    string     `json:"kind"`
			Client  string     `json:"client"`
			Server  string     `json:"server"`
			Stream  uint32     `json:"stream"`
			Method  *string    `json:"method"`
			Status  *int       `json:"grpc_status"`
			Message *string    `json:"grpc_message"`
			Start   *time.Time `json:"start"`
			DurNS   *int64     `json:"duration_ns"`
			End     string     `json:"end"`
			RstBy   string     `json:"rst_by"`
		}
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("hoptap JSON line %q: %v", sc.Text(), err)
		}
		if o.Kind == "call" {
			c := Call{Client: o.Client, Server: o.Server, Stream: o.Stream, Method: o.Method, Status: o.Status, Message: o.Message, Start: o.Start, End: o.End, RstBy: o.RstBy}
			if o.DurNS != nil {
				d := time.Duration(*o.DurNS)
				c.Duration = &d
			}
			out = append(out, c)
		}
	}
	return out
}

// pdml is the subset of tshark's PDML we read.
type pdmlPacket struct {
	Protos []pdmlField `xml:"proto"`
}

type pdmlField struct {
	Name   string      `xml:"name,attr"`
	Show   string      `xml:"show,attr"`
	Value  string      `xml:"value,attr"`
	Fields []pdmlField `xml:"field"`
}

func (f *pdmlField) find(name string) *pdmlField {
	for i := range f.Fields {
		if f.Fields[i].Name == name {
			return &f.Fields[i]
		}
	}
	return nil
}

// walk visits f and its descendants.
func (f *pdmlField) walk(fn func(*pdmlField)) {
	fn(f)
	for i := range f.Fields {
		f.Fields[i].walk(fn)
	}
}

// TsharkCalls dissects file with tshark, HTTP/2 decoded on the given
// server ports, and builds calls from the header blocks it shows: the
// method from the request's :path, the status and message from the
// response's last grpc-status and grpc-message ("" when the block with
// grpc-status has no grpc-message). tshark does not undo
// grpc-message's percent-encoding, so the oracle applies the gRPC spec's
// decoding to its value.
func TsharkCalls(t testing.TB, tshark, file string, ports []int) []Call {
	t.Helper()
	// A socket's ingress sees segments in the order they arrived, which
	// two CPUs can swap; tshark leaves such a stream unreassembled (and
	// a call's trailers unread) unless told to reorder it, as TCP does.
	args := []string{"-r", file, "-T", "pdml", "-2", "-o", "tcp.reassemble_out_of_order:TRUE"}
	for _, p := range ports {
		args = append(args, "-d", fmt.Sprintf("tcp.port==%d,http2", p))
	}
	args = append(args, "-Y", "http2.type == 1")
	out := Run(t, tshark, args...)
	dec := xml.NewDecoder(bytes.NewReader(out))
	calls := map[string]*Call{}
	var order []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("tshark PDML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "packet" {
			continue
		}
		var p pdmlPacket
		if err := dec.DecodeElement(&p, &se); err != nil {
			t.Fatalf("tshark PDML packet: %v", err)
		}
		var src, dst net.IP
		var sport, dport int
		for i := range p.Protos {
			pr := &p.Protos[i]
			pr.walk(func(f *pdmlField) {
				switch f.Name {
				case "ip.src", "ipv6.src":
					src = net.ParseIP(f.Show)
				case "ip.dst", "ipv6.dst":
					dst = net.ParseIP(f.Show)
				case "tcp.srcport":
					sport, _ = strconv.Atoi(f.Show)
				case "tcp.dstport":
					dport, _ = strconv.Atoi(f.Show)
				}
			})
			if pr.Name != "http2" {
				continue
			}
			for j := range pr.Fields {
				st := &pr.Fields[j]
				if st.Name != "http2.stream" {
					continue
				}
				typ := st.find("http2.type")
				if typ == nil || typ.Show != "1" {
					continue
				}
				sid, _ := strconv.Atoi(st.find("http2.streamid").Show)
				var hdrs [][3]string // name, value, representation
				st.walk(func(f *pdmlField) {
					if f.Name == "http2.header" {
						n, v, r := f.find("http2.header.name"), f.find("http2.header.value"), f.find("http2.header.repr")
						if n != nil {
							val, repr := "", ""
							if v != nil {
								val = v.Show
							}
							if r != nil {
								repr = r.Show
							}
							hdrs = append(hdrs, [3]string{n.Show, val, repr})
						}
					}
				})
				from := net.JoinHostPort(src.String(), strconv.Itoa(sport))
				to := net.JoinHostPort(dst.String(), strconv.Itoa(dport))
				isReq := false
				for _, h := range hdrs {
					if h[0] == ":method" {
						isReq = true
					}
				}
				var key string
				if isReq {
					c := &Call{Client: from, Server: to, Stream: uint32(sid)}
					key = c.Key()
					if _, dup := calls[key]; !dup {
						order = append(order, key)
					}
					calls[key] = c
				} else {
					key = (&Call{Client: to, Server: from, Stream: uint32(sid)}).Key()
				}
				c := calls[key]
				if c == nil {
					continue // a response to a request before the capture
				}
				if !isReq {
					for _, h := range hdrs {
						if h[0] == "grpc-status" {
							// tshark shows every header of the block, so
							// a grpc-message missing from it is provably
							// absent: "" in hoptap's JSON contract.
							empty := ""
							c.Message = &empty
						}
					}
				}
				for _, h := range hdrs {
					switch h[0] {
					case ":path":
						v := h[1]
						c.Method = &v
						c.MethodRepr = h[2]
					case "grpc-status":
						if n, err := strconv.Atoi(h[1]); err == nil {
							c.Status = &n
							c.StatusRepr = h[2]
						}
					case "grpc-message":
						v := grpc.PercentDecode(h[1])
						c.Message = &v
					}
				}
			}
		}
	}
	res := make([]Call, 0, len(order))
	for _, k := range order {
		res = append(res, *calls[k])
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Key() < res[j].Key() })
	return res
}
