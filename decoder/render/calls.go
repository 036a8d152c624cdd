package render

import (
	"bufio"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
	"github.com/hoptap/hoptap/decoder/http2"
)

// CallTable collects calls for the --calls view.
type CallTable struct {
	rows    []callRow
	methods map[string]*methodStats
	first   time.Time
	// live prints each row as its call ends, for live captures, and keeps
	// memory bounded: rows are not kept, per-method latencies are a
	// uniform sample, and methods past maxMethods are pooled.
	live    bool
	header  bool
	num     []byte
	sampled bool
	rng     uint64
	// The last method's statistics, and connections' client and server
	// columns rendered (direct-mapped by connection id): calls of a
	// connection come one after another, and mostly of one method.
	lastKey   string
	lastStats *methodStats
	conns     *[liveConnSlots]liveConn
}

const liveConnSlots = 64

type liveConn struct {
	id             uint64
	client, server netip.AddrPort
	cols           []byte // both columns, padded, with the gaps after them
}

// Bounds of a live table.
const (
	maxMethods       = 1024
	maxMethodSamples = 1 << 16
	otherMethods     = "(other methods)"
)

type callRow struct {
	start          time.Time
	client, server string
	stream         uint32
	method, status string
	dur, ttfb      string
	req, resp      string
	end            string
}

type methodStats struct {
	count    int
	byStatus map[string]*int
	// The last status counted and its count: a method's calls mostly
	// end alike, and a map update per live row showed in profiles.
	lastStatus string
	lastN      *int
	durs       []time.Duration
	unknown    int // calls whose duration is unknown
}

// NewCallTable returns an empty table.
func NewCallTable() *CallTable { return &CallTable{methods: map[string]*methodStats{}} }

// callKeys are what both views of a call need.
type callKeys struct {
	ts                  time.Time
	method, status, end string
	dur, ttfb           time.Duration
	hasDur, hasTTFB     bool
}

// count adds a call to the per-method statistics.
func (t *CallTable) count(e *decoder.CallEvent) callKeys {
	c := e.Call
	k := callKeys{ts: c.Start, method: "?", status: "?", end: string(c.End)}
	if k.ts.IsZero() {
		k.ts = c.EndTS
	}
	if t.first.IsZero() || k.ts.Before(t.first) {
		t.first = k.ts
	}
	if c.Method.OK {
		k.method = c.Method.V
	}
	if c.Status.OK {
		k.status = grpc.CodeName(int(c.Status.V))
		if c.StatusFromHTTP {
			k.status += fmt.Sprintf(" (http %d)", c.HTTPStatus.V)
		}
	}
	if c.End == grpc.EndRSTStream {
		by := "client"
		if c.RSTBy == grpc.S2C {
			by = "server"
		}
		k.end = fmt.Sprintf("rst_stream %s by %s", http2.ErrCode(c.RSTCode), by)
	}
	key := k.method
	m := t.lastStats
	if m == nil || key != t.lastKey {
		if t.live && t.methods[key] == nil && len(t.methods) >= maxMethods {
			key = otherMethods
		}
		m = t.methods[key]
		if m == nil {
			m = &methodStats{byStatus: map[string]*int{}}
			t.methods[key] = m
		}
		t.lastKey, t.lastStats = k.method, m
	}
	m.count++
	if m.lastN == nil || k.status != m.lastStatus {
		n := m.byStatus[k.status]
		if n == nil {
			n = new(int)
			m.byStatus[k.status] = n
		}
		m.lastStatus, m.lastN = k.status, n
	}
	*m.lastN++
	if k.dur, k.hasDur = c.Duration(); k.hasDur {
		t.sample(m, k.dur)
	} else {
		m.unknown++
	}
	k.ttfb, k.hasTTFB = c.TTFB()
	return k
}

// Add records one call.
func (t *CallTable) Add(e *decoder.CallEvent) {
	k := t.count(e)
	if t.live {
		return
	}
	c := e.Call
	row := callRow{start: k.ts, client: e.Conn.Client.String(), server: e.Conn.Server.String(),
		stream: c.Stream, method: k.method, status: k.status, end: k.end,
		dur: "?", ttfb: "?", req: optCount(c.ReqMsgs), resp: optCount(c.RespMsgs)}
	if k.hasDur {
		row.dur = fmtDur(k.dur)
	}
	if k.hasTTFB {
		row.ttfb = fmtDur(k.ttfb)
	}
	t.rows = append(t.rows, row)
}

// sample keeps every duration, or in a live table a uniform sample of
// them (reservoir sampling) once there are many.
func (t *CallTable) sample(m *methodStats, d time.Duration) {
	n := m.count - m.unknown
	if !t.live || len(m.durs) < maxMethodSamples {
		m.durs = append(m.durs, d)
		return
	}
	t.sampled = true
	t.rng = t.rng*6364136223846793005 + 1442695040888963407
	if i := int((t.rng >> 33) % uint64(n)); i < maxMethodSamples {
		m.durs[i] = d
	}
}

// Live row columns: the widths the sorted table usually ends up with.
var liveCols = [...]int{10, 21, 21, 6, 46, 13, 9, 9, 4, 4}

const spaces = "                                                  "

// writeLive prints one row now, formatted in place: it runs once per
// call.
func (t *CallTable) writeLive(w *bufio.Writer, e *decoder.CallEvent) {
	k := t.count(e)
	b := t.num[:0]
	if !t.header {
		t.header = true
		for i, h := range []string{"TIME", "CLIENT", "SERVER", "STREAM", "METHOD", "STATUS", "DURATION", "TTFB", "REQ", "RESP"} {
			b = padCol(append(b, h...), len(b), i)
		}
		b = append(b, "END\n"...)
	}
	c := e.Call
	col := 0
	next := func(start int) {
		b = padCol(b, start, col)
		col++
	}
	start := len(b)
	b = appendFixed(b, k.ts.Sub(t.first), 1e9, 6)
	next(start)
	b = append(b, t.connCols(e.Conn)...)
	col += 2
	start = len(b)
	b = strconv.AppendUint(b, uint64(c.Stream), 10)
	next(start)
	start = len(b)
	b = append(b, k.method...)
	next(start)
	start = len(b)
	b = append(b, k.status...)
	next(start)
	start = len(b)
	b = appendOptDur(b, k.dur, k.hasDur)
	next(start)
	start = len(b)
	b = appendOptDur(b, k.ttfb, k.hasTTFB)
	next(start)
	start = len(b)
	b = appendOptCount(b, c.ReqMsgs)
	next(start)
	start = len(b)
	b = appendOptCount(b, c.RespMsgs)
	next(start)
	b = append(append(b, k.end...), '\n')
	w.Write(b)
	t.num = b[:0]
}

// connCols is the client and server columns of a connection's rows.
func (t *CallTable) connCols(c *decoder.Conn) []byte {
	if t.conns == nil {
		t.conns = new([liveConnSlots]liveConn)
	}
	lc := &t.conns[c.ID%liveConnSlots]
	if lc.cols == nil || lc.id != c.ID || lc.client != c.Client || lc.server != c.Server {
		lc.id, lc.client, lc.server = c.ID, c.Client, c.Server
		b := c.Client.AppendTo(lc.cols[:0])
		b = padCol(b, 0, 1)
		start := len(b)
		b = c.Server.AppendTo(b)
		lc.cols = padCol(b, start, 2)
	}
	return lc.cols
}

// padCol pads the column that began at start to its live width, then
// adds the gap before the next one.
func padCol(b []byte, start, col int) []byte {
	if pad := liveCols[col] - utf8.RuneCount(b[start:]); pad > 0 {
		b = append(b, spaces[:min(pad, len(spaces))]...)
	}
	return append(b, "  "...)
}

func appendOptCount(b []byte, v grpc.Int) []byte {
	if !v.OK {
		return append(b, '?')
	}
	return strconv.AppendInt(b, v.V, 10)
}

func appendOptDur(b []byte, d time.Duration, ok bool) []byte {
	if !ok {
		return append(b, '?')
	}
	return appendDur(b, d)
}

func optCount(v grpc.Int) string {
	if !v.OK {
		return "?"
	}
	return strconv.FormatInt(v.V, 10)
}

// fmtDur prints a duration with a unit that keeps 3 or 4 digits, as
// 12.3µs, 4.56ms or 1.234s.
func fmtDur(d time.Duration) string {
	var b [24]byte
	return string(appendDur(b[:0], d))
}

func appendDur(b []byte, d time.Duration) []byte {
	switch {
	case d < time.Millisecond:
		return append(appendFixed(b, d, 1e3, 1), "µs"...)
	case d < time.Second:
		return append(appendFixed(b, d, 1e6, 2), "ms"...)
	}
	return append(appendFixed(b, d, 1e9, 3), 's')
}

// appendFixed writes d/unit with the given decimals, as
// strconv.AppendFloat(float64(d)/unit, 'f', decimals) does, in integers.
// An exact tie is left to AppendFloat, which rounds the binary value.
func appendFixed(b []byte, d time.Duration, unit float64, decimals int) []byte {
	step := int64(unit)
	for range decimals {
		step /= 10
	}
	n := int64(d)
	if n < 0 || 2*(n%step) == step {
		v := float64(d) / unit
		if unit == 1e9 {
			v = d.Seconds() // as the rows were always printed
		}
		return strconv.AppendFloat(b, v, 'f', decimals, 64)
	}
	q := n / step
	if 2*(n%step) > step {
		q++
	}
	scale := int64(1)
	for range decimals {
		scale *= 10
	}
	b = strconv.AppendInt(b, q/scale, 10)
	b = append(b, '.')
	frac := q % scale
	for s := scale / 10; s > 1 && frac < s; s /= 10 {
		b = append(b, '0')
	}
	return strconv.AppendInt(b, frac, 10)
}

// Percentile returns the p-th percentile (0..100) of sorted durations by
// the nearest-rank method.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// Write prints the table (unless its rows were printed live) and the
// per-method summary.
func (t *CallTable) Write(w *bufio.Writer) {
	if !t.live {
		sort.SliceStable(t.rows, func(i, j int) bool { return t.rows[i].start.Before(t.rows[j].start) })
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "TIME\tCLIENT\tSERVER\tSTREAM\tMETHOD\tSTATUS\tDURATION\tTTFB\tREQ\tRESP\tEND")
		for _, r := range t.rows {
			fmt.Fprintf(tw, "%.6f\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.start.Sub(t.first).Seconds(),
				r.client, r.server, r.stream, r.method, r.status, r.dur, r.ttfb, r.req, r.resp, r.end)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	names := make([]string, 0, len(t.methods))
	for n := range t.methods {
		names = append(names, n)
	}
	sort.Strings(names)
	if t.sampled {
		fmt.Fprintf(w, "(percentiles from a uniform sample of up to %d durations per method)\n", maxMethodSamples)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD\tCALLS\tSTATUS\tP50\tP95\tP99")
	for _, n := range names {
		m := t.methods[n]
		sort.Slice(m.durs, func(i, j int) bool { return m.durs[i] < m.durs[j] })
		var st []string
		for s, c := range m.byStatus {
			st = append(st, fmt.Sprintf("%s=%d", s, *c))
		}
		sort.Strings(st)
		p := func(q float64) string {
			if len(m.durs) == 0 {
				return "?"
			}
			return fmtDur(Percentile(m.durs, q))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", n, m.count, strings.Join(st, " "), p(50), p(95), p(99))
	}
	tw.Flush()
}
