package metrics

import (
	"net/netip"
	"time"

	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/grpc"
)

// joinKey names one call on one connection, the same from both sockets.
type joinKey struct {
	client, server netip.AddrPort
	stream         uint32
}

// pendingCall is the first of a call's two views, waiting for the other.
type pendingCall struct {
	side     Side
	at       time.Time // when it went into the map, for expiry
	dur      time.Duration
	hasDur   bool
	status   grpc.Int
	fromHTTP bool
	view     *view
	series   *series
	verdict  verdict
	// clientEnded: the client reset the call. Its view ends at its own
	// RST_STREAM, the server's at that frame's arrival: their difference
	// is the two directions' delays compared, not a hop's time.
	clientEnded bool
}

// join pairs a view of a call with the other socket's view; the call's
// failure, if any, is counted by the pair (or when the view is settled
// alone).
func (r *Recorder) join(e *decoder.CallEvent, v *view, ser *series, vd verdict) {
	c := e.Call
	k := joinKey{e.Conn.Client, v.server, c.Stream}
	me := pendingCall{clientEnded: c.End == grpc.EndRSTStream && c.RSTBy == grpc.C2S, side: v.side, status: c.Status, fromHTTP: c.StatusFromHTTP, view: v, series: ser, verdict: vd}
	if !c.Start.IsZero() && !c.EndTS.IsZero() {
		me.dur, me.hasDur = c.EndTS.Sub(c.Start), true
	}
	other, ok := r.take(k)
	if ok && other.side == me.side {
		// The same call seen twice from one side: a reused stream on a
		// reused tuple. The older view is settled alone.
		r.settle(&other, "expired")
		ok = false
	}
	if !ok {
		r.park(k, me)
		return
	}
	cl, sv := &me, &other
	if me.side == SideServer {
		cl, sv = &other, &me
	}
	switch {
	case cl.clientEnded || sv.clientEnded:
		r.hopMisses.WithLabelValues("client_reset").Inc()
	case cl.hasDur && sv.hasDur:
		if d := cl.dur - sv.dur; d >= 0 {
			r.hopSeries(cl.view, cl.series).Observe(d.Seconds())
		} else {
			// The client saw the call end before the server sent its
			// end: these are not the two views of one call.
			r.hopMisses.WithLabelValues("anomaly").Inc()
		}
	}
	if sv.verdict.failed {
		r.fail(sv.view, sv.series.l, sv.verdict.origin)
	}
	if cl.verdict.failed {
		o := cl.verdict.origin
		if cl.verdict.needServer {
			o = OriginProxy
			if sv.status.OK && !sv.fromHTTP && sv.status.V == cl.status.V {
				o = OriginApplication
			}
		}
		r.fail(cl.view, cl.series.l, o)
	}
}

// take finds and removes the view waiting under k.
func (r *Recorder) take(k joinKey) (pendingCall, bool) {
	if r.hasLast && r.lastKey == k {
		r.hasLast = false
		return r.last, true
	}
	p, ok := r.pending[k]
	if ok {
		delete(r.pending, k)
	}
	return p, ok
}

// park keeps a view until its other side comes. Both views of a call
// decoded once come one after the other, so the last one waits in a
// slot of its own; an older one moves to the map.
func (r *Recorder) park(k joinKey, p pendingCall) {
	if r.hasLast {
		r.toMap(r.lastKey, r.last)
	}
	r.last, r.lastKey, r.hasLast = p, k, true
}

func (r *Recorder) toMap(k joinKey, p pendingCall) {
	if len(r.pending) >= r.cfg.MaxPending {
		r.settle(&p, "full")
		return
	}
	p.at = r.now()
	r.pending[k] = p
}

// expire settles views whose other side never came.
func (r *Recorder) expire(now time.Time) {
	if r.hasLast {
		r.hasLast = false
		r.toMap(r.lastKey, r.last)
	}
	for k, p := range r.pending {
		if now.Sub(p.at) < r.cfg.HopWindow {
			continue
		}
		delete(r.pending, k)
		r.settle(&p, "expired")
	}
}

// settle counts a view that will never be joined, and why.
func (r *Recorder) settle(p *pendingCall, why string) {
	r.hopMisses.WithLabelValues(why).Inc()
	if p.verdict.failed {
		r.fail(p.view, p.series.l, p.verdict.origin)
	}
}
