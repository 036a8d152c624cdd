package render

import (
	"bufio"
	"fmt"
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
	last    callRow
	num     []byte
	sampled bool
	rng     uint64
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
	byStatus map[string]int
	durs     []time.Duration
	unknown  int // calls whose duration is unknown
}

// NewCallTable returns an empty table.
func NewCallTable() *CallTable { return &CallTable{methods: map[string]*methodStats{}} }

// Add records one call.
func (t *CallTable) Add(e *decoder.CallEvent) {
	c := e.Call
	ts := c.Start
	if ts.IsZero() {
		ts = c.EndTS
	}
	if t.first.IsZero() || ts.Before(t.first) {
		t.first = ts
	}
	method := "?"
	if c.Method.OK {
		method = c.Method.V
	}
	status := "?"
	if c.Status.OK {
		status = grpc.CodeName(int(c.Status.V))
		if c.StatusFromHTTP {
			status += fmt.Sprintf(" (http %d)", c.HTTPStatus.V)
		}
	}
	end := string(c.End)
	if c.End == grpc.EndRSTStream {
		by := "client"
		if c.RSTBy == grpc.S2C {
			by = "server"
		}
		end = fmt.Sprintf("rst_stream %s by %s", http2.ErrCode(c.RSTCode), by)
	}
	row := &t.last
	*row = callRow{start: ts, client: e.Conn.Client.String(), server: e.Conn.Server.String(),
		stream: c.Stream, method: method, status: status, end: end,
		dur: "?", ttfb: "?", req: optCount(c.ReqMsgs), resp: optCount(c.RespMsgs)}
	key := method
	if t.live && t.methods[key] == nil && len(t.methods) >= maxMethods {
		key = otherMethods
	}
	m := t.methods[key]
	if m == nil {
		m = &methodStats{byStatus: map[string]int{}}
		t.methods[key] = m
	}
	m.count++
	m.byStatus[status]++
	if d, ok := c.Duration(); ok {
		row.dur = fmtDur(d)
		t.sample(m, d)
	} else {
		m.unknown++
	}
	if d, ok := c.TTFB(); ok {
		row.ttfb = fmtDur(d)
	}
	if !t.live {
		t.rows = append(t.rows, *row)
	}
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
var liveCols = [...]int{10, 21, 21, 6, 46, 13, 9, 9, 4, 4, 0}

// writeLive prints one row now, without fmt: it runs once per call.
func (t *CallTable) writeLive(w *bufio.Writer, e *decoder.CallEvent) {
	t.Add(e)
	if !t.header {
		t.header = true
		t.liveRow(w, "TIME", "CLIENT", "SERVER", "STREAM", "METHOD", "STATUS", "DURATION", "TTFB", "REQ", "RESP", "END")
	}
	r := &t.last
	t.num = strconv.AppendFloat(t.num[:0], r.start.Sub(t.first).Seconds(), 'f', 6, 64)
	n := len(t.num)
	t.num = strconv.AppendUint(t.num, uint64(r.stream), 10)
	t.liveRow(w, string(t.num[:n]), r.client, r.server, string(t.num[n:]), r.method, r.status, r.dur, r.ttfb, r.req, r.resp, r.end)
}

func (t *CallTable) liveRow(w *bufio.Writer, cols ...string) {
	for i, c := range cols {
		w.WriteString(c)
		if i == len(cols)-1 {
			break
		}
		for pad := liveCols[i] - utf8.RuneCountInString(c); pad > 0; pad-- {
			w.WriteByte(' ')
		}
		w.WriteString("  ")
	}
	w.WriteByte('\n')
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
	switch {
	case d < time.Millisecond:
		return string(append(strconv.AppendFloat(b[:0], float64(d)/1e3, 'f', 1, 64), "µs"...))
	case d < time.Second:
		return string(append(strconv.AppendFloat(b[:0], float64(d)/1e6, 'f', 2, 64), "ms"...))
	}
	return string(append(strconv.AppendFloat(b[:0], d.Seconds(), 'f', 3, 64), 's'))
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
			st = append(st, fmt.Sprintf("%s=%d", s, c))
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
