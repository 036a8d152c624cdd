package grpc

import (
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/hoptap/hoptap/decoder/hpack"
)

// MaxOpenCalls bounds the calls tracked per connection; beyond it the
// oldest is reported incomplete.
const MaxOpenCalls = 4096

// Tracker follows the calls of one HTTP/2 connection.
type Tracker struct {
	emit     func(*Call)
	keepBody bool
	calls    map[uint32]*Call
	// Streams that ended must not come back as new calls when late frames
	// (after a RST_STREAM, say) arrive: requests are numbered upwards, so
	// a stream between the first and the highest request seen that is not
	// open has ended; other ended streams (from before the capture, or whose
	// request was lost) are remembered.
	firstReq, maxReq uint32
	ended            map[uint32]bool
	endedOrder       []uint32
	lingering        []*Call // reset calls waiting for the peer's frames in flight
	pool             *CallPool
	headerLists      func() bool // nil: always kept
	Stats            TrackerStats
}

// TrackerStats counts what the tracker had to give up on.
type TrackerStats struct {
	Calls   uint64
	Evicted uint64
}

// NewTracker returns a tracker that hands finished calls to emit. With
// keepBody the first MessageBodyLimit bytes of each message are kept.
func NewTracker(emit func(*Call), keepBody bool) *Tracker {
	// The maps are made on first use: an idle connection keeps none.
	return &Tracker{emit: emit, keepBody: keepBody}
}

// UsePool makes new calls come from p, for sinks that keep nothing of a
// call; the caller puts them back after emitting them.
func (t *Tracker) UsePool(p *CallPool) { t.pool = p }

// KeepHeaderLists says, as each call begins, whether it keeps its header
// lists (Request, Response, Trailers); nil, the default, says always. A
// call begun while f says no has HeadersLeftOut set and no lists:
// copying them is a good part of a call's cost for a sink that reads
// none (a metric, a line of text).
func (t *Tracker) KeepHeaderLists(f func() bool) { t.headerLists = f }

// Open returns the number of calls in progress.
func (t *Tracker) Open() int { return len(t.calls) }

// maxEnded bounds the remembered ended streams from before the capture.
const maxEnded = 1024

// over reports whether stream already ended.
func (t *Tracker) over(stream uint32) bool {
	if _, open := t.calls[stream]; open {
		return false
	}
	return t.ended[stream] || t.maxReq != 0 && stream >= t.firstReq && stream <= t.maxReq
}

func (t *Tracker) call(stream uint32, midstream bool) *Call {
	if c, ok := t.calls[stream]; ok {
		return c
	}
	if len(t.calls) >= MaxOpenCalls {
		t.evictOldest()
	}
	var c *Call
	if t.pool != nil {
		c = t.pool.get()
	} else {
		c = &Call{}
	}
	c.Stream = stream
	c.HeadersLeftOut = t.headerLists != nil && !t.headerLists()
	c.Messages = c.msgs[:0]
	c.framer[0].keepBody, c.framer[1].keepBody = t.keepBody, t.keepBody
	if midstream {
		// The stream started before we saw it: counts and framing are unknown.
		c.framer[0].lost, c.framer[1].lost = true, true
	} else {
		c.ReqMsgs, c.RespMsgs = Int{0, true}, Int{0, true}
		c.ReqBytes, c.RespBytes = Int{0, true}, Int{0, true}
	}
	if t.calls == nil {
		t.calls = map[uint32]*Call{}
	}
	t.calls[stream] = c
	t.Stats.Calls++
	return c
}

func (t *Tracker) evictOldest() {
	var oldest uint32
	first := true
	for id := range t.calls {
		if first || id < oldest {
			oldest, first = id, false
		}
	}
	t.Stats.Evicted++
	t.finish(t.calls[oldest], time.Time{}, EndIncomplete)
}

func (t *Tracker) finish(c *Call, ts time.Time, end End) {
	if c.rst {
		end = EndRSTStream
		t.lingering = slices.DeleteFunc(t.lingering, func(x *Call) bool { return x == c })
	}
	delete(t.calls, c.Stream)
	if t.maxReq == 0 || c.Stream < t.firstReq || c.Stream > t.maxReq {
		if t.ended == nil {
			t.ended = map[uint32]bool{}
		}
		t.ended[c.Stream] = true
		t.endedOrder = append(t.endedOrder, c.Stream)
		if len(t.endedOrder) > maxEnded {
			delete(t.ended, t.endedOrder[0])
			t.endedOrder = t.endedOrder[1:]
		}
	}
	if c.EndTS.IsZero() {
		c.EndTS = ts
	}
	c.End = end
	for d := range c.framer {
		if c.framer[d].lost {
			if d == int(C2S) {
				c.ReqMsgs, c.ReqBytes = Int{}, Int{}
			} else {
				c.RespMsgs, c.RespBytes = Int{}, Int{}
			}
		}
	}
	c.mapHTTP()
	t.emit(c)
}

// Headers handles a decoded header block on a stream.
func (t *Tracker) Headers(d Dir, stream uint32, fs []hpack.Field, endStream bool, ts time.Time) {
	if stream == 0 || t.over(stream) {
		return
	}
	if d == C2S {
		c, existed := t.calls[stream]
		if !existed {
			if t.maxReq == 0 {
				t.firstReq = stream
			}
			t.maxReq = max(t.maxReq, stream)
			c = t.call(stream, false)
			c.Start = ts
			c.setRequest(fs)
		}
		// A later client header block would be request trailers, which
		// gRPC does not use; the stream's end still counts.
		if endStream {
			c.reqEnded = true
		}
		return
	}
	c, existed := t.calls[stream]
	if !existed {
		c = t.call(stream, true)
	}
	if c.rst {
		if c.RSTBy == C2S {
			// The server's answer to a reset call: keep its status.
			c.keep(&c.Trailers, fs)
			c.applyStatus(fs)
			if endStream {
				t.finish(c, ts, EndRSTStream)
			}
		}
		return
	}
	if c.FirstResp.IsZero() {
		c.FirstResp = ts
	}
	st, hasStatus, certain := lookup(fs, ":status")
	if !hasStatus {
		st = Str{"", certain}
	}
	if !c.respSeen && (c.reqSeen || hasStatus) {
		c.respSeen = true
		c.keep(&c.Response, fs)
		if st.OK {
			if n, err := strconv.Atoi(st.V); err == nil {
				c.HTTPStatus = Int{int64(n), true}
			}
		}
		if endStream {
			c.applyStatus(fs)
			t.finish(c, ts, EndTrailersOnly)
		}
		return
	}
	c.trailersSeen = true
	c.keep(&c.Trailers, fs)
	if endStream {
		c.applyStatus(fs)
		t.finish(c, ts, EndTrailers)
	}
}

// Data handles DATA payload bytes of a stream.
func (t *Tracker) Data(d Dir, stream uint32, b []byte, ts time.Time) {
	if t.over(stream) {
		return
	}
	c, existed := t.calls[stream]
	if !existed {
		c = t.call(stream, true)
	}
	if c.rst {
		return
	}
	if d == S2C && c.FirstResp.IsZero() {
		c.FirstResp = ts
	}
	c.framer[d].feed(b, func(m *Message) {
		if d == C2S {
			c.ReqMsgs.V++
			c.ReqBytes.V += int64(m.Length)
		} else {
			c.RespMsgs.V++
			c.RespBytes.V += int64(m.Length)
		}
		if len(c.Messages) < MaxMessageRecords {
			c.Messages = append(c.Messages, MessageRecord{Dir: d, TS: ts, Compressed: m.Compressed, Length: m.Length, Body: m.Body})
		} else {
			c.MessagesDropped++
		}
	})
}

// EndStream handles END_STREAM on a DATA frame.
func (t *Tracker) EndStream(d Dir, stream uint32, ts time.Time) {
	c, ok := t.calls[stream]
	if !ok {
		return
	}
	if c.rst {
		if d != c.RSTBy {
			t.finish(c, ts, EndRSTStream)
		}
		return
	}
	if d == C2S {
		c.reqEnded = true
		return
	}
	// A response ending with DATA has no trailers, so no status.
	t.finish(c, ts, EndTrailers)
}

// RST handles RST_STREAM.
func (t *Tracker) RST(d Dir, stream uint32, code uint32, ts time.Time) {
	if t.over(stream) {
		return
	}
	c, ok := t.calls[stream]
	if !ok {
		c = t.call(stream, true)
	}
	if c.rst {
		if d != c.RSTBy {
			t.finish(c, ts, EndRSTStream) // both sides reset
		}
		return
	}
	c.rst, c.RSTCode, c.RSTBy, c.EndTS = true, code, d, ts
	if d == S2C {
		// The client sends no status: nothing it still sends can change
		// the call.
		t.finish(c, ts, EndRSTStream)
		return
	}
	t.lingering = append(t.lingering, c)
}

// LingerFor is how long a call the client reset waits for the server to
// end its side of the stream. The server's status often follows the
// reset: frames in flight, or (Python's gRPC) a deadline status sent
// after the answers to newer streams. A server that says nothing more
// leaves the call's status unknown once this has passed.
const LingerFor = time.Second

// Lingering returns the number of reset calls waiting for the server.
func (t *Tracker) Lingering() int { return len(t.lingering) }

// Activity is called for every frame, at its time: reset calls of other
// streams that have waited LingerFor end.
func (t *Tracker) Activity(stream uint32, ts time.Time) {
	if len(t.lingering) != 0 {
		t.expire(ts, stream)
	}
}

// Expire ends the reset calls that have waited LingerFor by now, for
// live captures, where time passes without frames.
func (t *Tracker) Expire(now time.Time) { t.expire(now, 0) }

func (t *Tracker) expire(now time.Time, except uint32) {
	for i := 0; i < len(t.lingering); {
		c := t.lingering[i]
		if c.Stream != except && now.Sub(c.EndTS) >= LingerFor {
			t.finish(c, c.EndTS, EndRSTStream) // removes it from lingering
			continue
		}
		i++
	}
}

// GoAway handles GOAWAY sent in direction d. Streams above the last
// stream id were never processed by the sender and end now.
func (t *Tracker) GoAway(d Dir, last uint32, ts time.Time) {
	for _, c := range t.sorted() {
		// Only streams initiated by the receiver of the GOAWAY are refused.
		initiatedByClient := c.Stream%2 == 1
		if c.Stream > last && initiatedByClient == (d == S2C) {
			c.GoAway = true
			t.finish(c, ts, EndGoAway)
		}
	}
}

// Lost says bytes of direction d were lost: the messages of every open
// call in that direction can no longer be framed or counted.
func (t *Tracker) Lost(d Dir) {
	for _, c := range t.calls {
		c.framer[d].lost = true
	}
}

// Close ends every open call: the connection closed, or the capture ended.
func (t *Tracker) Close(ts time.Time, end End) {
	for _, c := range t.sorted() {
		t.finish(c, ts, end)
	}
}

func (t *Tracker) sorted() []*Call {
	cs := make([]*Call, 0, len(t.calls))
	for _, c := range t.calls {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].Stream < cs[j].Stream })
	return cs
}
