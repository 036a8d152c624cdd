package capture

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoptap/hoptap/test/peers"
)

// wireFrame is one frame of a --wire capture as tshark reads it.
type wireFrame struct {
	n       int
	ifc     string // interface block name
	inbound bool   // pcapng direction flag (wire blocks only)
	ts      int64  // ns
	key     string // seq, ack, IP length, flags: the segment at every point
	src     string
	payload bool
	comment string
}

func epochNS(t *testing.T, s string) int64 {
	t.Helper()
	sec, frac, _ := strings.Cut(s, ".")
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad frame.time_epoch %q", s)
	}
	return a*1e9 + b
}

var hopRE = regexp.MustCompile(` hop=(\S+)#(\d+) since=(\S+)`)

// TestWireHops runs interop calls between two pods while the capture
// also stamps both pods' host-side veths (--wire). The calls decode as
// without it; and in tshark's reading of the file every segment goes
// from its sender's socket through the sender's veth and the
// receiver's veth to the receiver's socket, each observation naming the
// one before it and the exact time between them; the summary's hops
// count what the file shows.
func TestWireHops(t *testing.T) {
	tshark := peers.Tool(t, "tshark")
	server, client := interopBed(t)
	out := filepath.Join(t.TempDir(), "wire.pcapng")
	peers.KeepOnFailure(t, out)
	l := startCapture(t, "-o", "json", "-w", out, "--port", fmt.Sprint(serverPort), "--wire", client.Host+","+server.Host)
	if !strings.Contains(l.stderr.String(), "where segments cross "+client.Host+", "+server.Host+" (tcx)") {
		t.Errorf("the start line does not name the wire interfaces:\n%s", l.stderr.String())
	}
	cases := []string{"large_unary", "ping_pong", "server_streaming", "status_code_and_message"}
	interopClient(t, client, server, cases...)
	l.stop(t)
	summary := l.stderr.String()
	t.Logf("summary:\n%s", summary)

	// The calls, as without --wire.
	left := map[string]int{}
	for _, c := range cases {
		for _, w := range want[c] {
			left[fmt.Sprint(w.method, w.status)]++
		}
	}
	for _, c := range peers.HoptapCalls(t, l.stdout.Bytes()) {
		m := deref(c.Method)
		k := fmt.Sprint(m[strings.LastIndexByte(m, '/')+1:], []any{*c.Status})
		if left[k] == 0 {
			t.Errorf("unexpected call %s", c.String())
		}
		left[k]--
	}
	for k, n := range left {
		if n > 0 {
			t.Errorf("call %s missing", k)
		}
	}

	rows := peers.Run(t, tshark, "-r", out, "-T", "fields", "-E", "separator=|",
		"-e", "frame.number", "-e", "frame.interface_name", "-e", "frame.packet_flags_direction", "-e", "frame.time_epoch",
		"-e", "tcp.seq_raw", "-e", "tcp.ack_raw", "-e", "ip.len", "-e", "tcp.flags", "-e", "ip.src", "-e", "tcp.len", "-e", "frame.comment")
	var frames []wireFrame
	for _, line := range strings.Split(strings.TrimSpace(string(rows)), "\n") {
		f := strings.SplitN(line, "|", 11)
		if len(f) != 11 {
			t.Fatalf("tshark row %q", line)
		}
		n, _ := strconv.Atoi(f[0])
		frames = append(frames, wireFrame{n: n, ifc: f[1], inbound: f[2] == "0x00000001", ts: epochNS(t, f[3]),
			key: f[4] + "/" + f[5] + "/" + f[6] + "/" + f[7], src: f[8], payload: f[9] != "0", comment: f[10]})
		if frames[len(frames)-1].n != len(frames) {
			t.Fatalf("frame numbers skip at %q", line)
		}
	}
	hostOf := map[string]string{client.Addr: client.Host, server.Addr: server.Host}
	// A point as a hop= names it, and as the summary does.
	point := func(f wireFrame) (hop, name string) {
		switch f.ifc {
		case "hoptap-egress":
			return "egress", "socket egress"
		case "hoptap-ingress":
			return "ingress", "socket ingress"
		}
		dir := "egress"
		if f.inbound {
			dir = "ingress"
		}
		ifc := strings.TrimPrefix(f.ifc, "wire-")
		return ifc + "/" + dir, ifc + " " + dir
	}
	last := map[string]int{} // frame index of each segment's latest observation
	pairs := map[string]int{}
	followed := 0
	for i, f := range frames {
		hop, _ := point(f)
		if strings.HasPrefix(f.ifc, "wire-") {
			want := fmt.Sprintf("wire=%s %s", strings.TrimPrefix(f.ifc, "wire-"), hop[strings.IndexByte(hop, '/')+1:])
			if !strings.HasPrefix(f.comment, want) {
				t.Fatalf("frame %d on %s (inbound %v): comment %q, want it to start %q", f.n, f.ifc, f.inbound, f.comment, want)
			}
		}
		prev, seen := last[f.key]
		last[f.key] = i
		m := hopRE.FindStringSubmatch(f.comment)
		if m == nil {
			continue
		}
		ref, _ := strconv.Atoi(m[2])
		since, err := time.ParseDuration(m[3])
		if err != nil {
			t.Fatalf("frame %d: since %q: %v", f.n, m[3], err)
		}
		p := frames[prev]
		ph, pname := point(p)
		_, name := point(f)
		if !seen || ref != p.n || m[1] != ph || since != time.Duration(f.ts-p.ts) {
			t.Fatalf("frame %d (%s) says hop=%s#%d since=%s; the segment's previous frame is %d (%s, %s later)",
				f.n, f.ifc, m[1], ref, since, p.n, ph, time.Duration(f.ts-p.ts))
		}
		pairs[pname+" -> "+name]++
	}
	// The whole path of each data segment the client or server sent: its
	// socket, its veth, the other pod's veth, the other socket.
	for i, f := range frames {
		if f.ifc != "hoptap-egress" || !f.payload {
			continue
		}
		if i+3 >= len(frames) {
			t.Fatalf("frame %d: the capture ends before its segment's path does", f.n)
		}
		var path []string
		for _, g := range frames[i+1:] {
			if g.key == f.key {
				_, name := point(g)
				path = append(path, name)
				if len(path) == 3 {
					break
				}
			}
		}
		other := client.Host
		if f.src == client.Addr {
			other = server.Host
		}
		want := []string{hostOf[f.src] + " ingress", other + " egress", "socket ingress"}
		if fmt.Sprint(path) != fmt.Sprint(want) {
			t.Errorf("frame %d from %s: its segment went %v, want %v", f.n, f.src, path, want)
		}
		followed++
	}
	if followed < 10 {
		t.Fatalf("only %d data segments followed", followed)
	}
	// The summary's hops are the file's.
	for pair, n := range pairs {
		if !strings.Contains(summary, fmt.Sprintf("hop: %s: %d segments,", pair, n)) {
			t.Errorf("the summary has no %q with %d segments", pair, n)
		}
	}
	if got := strings.Count(summary, "\nhop: "); got != len(pairs) {
		t.Errorf("the summary lists %d hops, the file shows %d: %v", got, len(pairs), pairs)
	}
	t.Logf("%d data segments followed socket to socket; hops %v", followed, pairs)
}
