package tcp

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/hoptap/hoptap/decoder/packet"
)

// fuzzLen is the length of each side's source stream in FuzzReassembly.
const fuzzLen = 600

var fuzzSrc = func() (src [2][]byte) {
	rng := rand.New(rand.NewPCG(1, 2))
	for side := range src {
		src[side] = make([]byte, fuzzLen)
		for i := range src[side] {
			src[side][i] = byte(rng.Uint32())
		}
	}
	return src
}()

// Fuzz record layout: one control byte, then offset, length and ack.
const (
	fzSide  = 1 << 0 // 0 client, 1 server
	fzSYN   = 1 << 1
	fzFIN   = 1 << 2 // the segment runs to the end of the source
	fzRST   = 1 << 3
	fzACK   = 1 << 4
	fzCut   = 1 << 5 // snap length keeps half the payload
	fzTuple = 1 << 6 // the second client port
	fzIdle  = 1 << 7 // a long silence before this segment
	fzRec   = 6
)

// fzSeg encodes one fuzz record.
func fzSeg(ctl byte, off, n, ack int) []byte {
	return []byte{ctl, byte(off >> 8), byte(off), byte(n), byte(ack >> 8), byte(ack)}
}

func fzJoin(cfg byte, recs ...[]byte) []byte {
	out := []byte{cfg}
	for _, r := range recs {
		out = append(out, r...)
	}
	return out
}

// FuzzReassembly feeds segments cut from two fixed source streams, in any
// order, with any flags and acknowledgements, and checks that whatever is
// delivered is the source at the right offset, that delivered bytes plus
// gaps never run past what the source holds, that the Handler contract
// holds and that the limits are kept.
func FuzzReassembly(f *testing.F) {
	const A, S = fzACK, fzACK | fzSide
	// Handshake, in-order data both ways, FINs.
	f.Add(fzJoin(0, fzSeg(fzSYN, 0, 0, 0), fzSeg(fzSYN|S, 0, 0, 0), fzSeg(A, 0, 0, 0),
		fzSeg(A, 0, 200, 0), fzSeg(A, 200, 200, 0), fzSeg(S, 0, 100, 400),
		fzSeg(A|fzFIN, 400, 0, 100), fzSeg(S|fzFIN, 100, 0, fuzzLen)))
	// Reordered, duplicated and overlapping data; a cut segment.
	f.Add(fzJoin(1, fzSeg(A, 100, 100, 0), fzSeg(A, 0, 50, 0), fzSeg(A, 0, 50, 0), fzSeg(A, 30, 100, 0),
		fzSeg(A|fzCut, 200, 100, 0), fzSeg(A|fzFIN, 300, 0, 0)))
	// A hole proven lost by the peer's ACK, a reset, and port reuse.
	f.Add(fzJoin(2, fzSeg(A, 0, 10, 0), fzSeg(A, 50, 10, 0), fzSeg(S, 0, 0, 60), fzSeg(S, 0, 0, 60),
		fzSeg(S, 0, 0, 60), fzSeg(S, 0, 0, 60), fzSeg(S, 0, 0, 60), fzSeg(S|fzRST, 0, 0, 0),
		fzSeg(fzSYN, 0, 0, 0), fzSeg(A, 0, 20, 0)))
	// Two tuples under MaxConns, a buffer limit and an idle timeout.
	f.Add(fzJoin(8, fzSeg(A, 100, 200, 0), fzSeg(A|fzTuple, 5, 5, 0), fzSeg(A, 300, 200, 0),
		fzSeg(A|fzIdle, 0, 100, 0), fzSeg(S|fzTuple, 0, 10, 0)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		cfgByte := data[0]
		data = data[1:]
		cfg := Config{
			MaxConns:       1 + int(cfgByte>>3&1),
			MaxConnBuffer:  256,
			MaxTotalBuffer: 384,
			IdleTimeout:    time.Second,
			ReorderWindow:  1 + int(cfgByte&3),
		}
		isn := [2]uint32{1<<32 - fuzzLen/2, 0x7fffff00} // offsets cross 2^32 and 2^31
		if cfgByte&4 != 0 {
			isn[0], isn[1] = isn[1], isn[0]
		}
		cli := [2]netip.AddrPort{netip.MustParseAddrPort("10.1.0.1:1000"), netip.MustParseAddrPort("10.1.0.1:1001")}
		srv := netip.MustParseAddrPort("10.1.0.2:80")
		side := func(c *Conn, d Dir) int {
			if c.Addr(d) == srv {
				return 1
			}
			return 0
		}

		r := newRecorder(t)
		type key struct {
			cr *connRec
			d  Dir
		}
		base := map[key]int{}
		// start returns the source offset of the first byte of a callback
		// covering n bytes at recorder position pos. The offset where the
		// direction's stream began is taken from the assembler at its first
		// callback; everything after is checked against the source.
		start := func(cr *connRec, d Dir, pos, n int) (int, int) {
			s := side(cr.c, d)
			k := key{cr, d}
			b, ok := base[k]
			if !ok {
				b = int(int32(cr.c.half[d].next-uint32(n)-isn[s]-1)) - pos
				if b < 0 {
					t.Fatalf("conn %d dir %d starts at source offset %d", cr.id, d, b)
				}
				base[k] = b
			}
			return s, b + pos
		}
		r.onData = func(cr *connRec, d Dir, pos int, b []byte) {
			s, off := start(cr, d, pos, len(b))
			if off+len(b) > fuzzLen {
				t.Fatalf("conn %d dir %d: data at [%d,%d) past the source's %d bytes", cr.id, d, off, off+len(b), fuzzLen)
			}
			for i, c := range b {
				if c != fuzzSrc[s][off+i] {
					t.Fatalf("conn %d dir %d: byte at source offset %d is %#x, want %#x", cr.id, d, off+i, c, fuzzSrc[s][off+i])
				}
			}
		}
		r.onGap = func(cr *connRec, d Dir, pos int, n int) {
			if _, off := start(cr, d, pos, n); off+n > fuzzLen {
				t.Fatalf("conn %d dir %d: gap [%d,%d) past the source's %d bytes", cr.id, d, off, off+n, fuzzLen)
			}
		}
		a := NewAssembler(r, cfg)
		ts := t0
		for ; len(data) >= fzRec; data = data[fzRec:] {
			ctl := data[0]
			off := int(data[1])<<8 | int(data[2])
			n := int(data[3])
			ack := int(data[4])<<8 | int(data[5])
			sd := int(ctl & fzSide)
			off %= fuzzLen + 1
			ack %= fuzzLen + 1
			if ctl&fzSYN != 0 {
				off = 0 // data on a SYN (TCP Fast Open) starts at offset 0
			}
			if ctl&fzFIN != 0 {
				n = fuzzLen - off
			}
			n = min(n, fuzzLen-off)
			s := packet.Segment{
				Src: cli[ctl>>6&1], Dst: srv,
				Seq: isn[sd] + 1 + uint32(off), Ack: isn[1-sd] + 1 + uint32(ack),
				Payload: fuzzSrc[sd][off : off+n], WireLen: n,
			}
			if sd == 1 {
				s.Src, s.Dst = s.Dst, s.Src
			}
			if ctl&fzSYN != 0 {
				s.Seq--
			}
			if ctl&fzCut != 0 {
				s.Payload = s.Payload[:n/2]
			}
			for _, fl := range []struct {
				bit  byte
				flag uint8
			}{{fzSYN, packet.FlagSYN}, {fzFIN, packet.FlagFIN}, {fzRST, packet.FlagRST}, {fzACK, packet.FlagACK}} {
				if ctl&fl.bit != 0 {
					s.Flags |= fl.flag
				}
			}
			if ctl&fzIdle != 0 {
				ts = ts.Add(2 * cfg.IdleTimeout)
			}
			ts = ts.Add(time.Millisecond)
			s.TS = ts
			a.Add(&s)
			if a.Conns() > cfg.MaxConns {
				t.Fatalf("%d connections tracked, limit %d", a.Conns(), cfg.MaxConns)
			}
			if a.Buffered() > cfg.MaxTotalBuffer {
				t.Fatalf("%d bytes buffered, limit %d", a.Buffered(), cfg.MaxTotalBuffer)
			}
			for _, c := range a.conns {
				for d := range c.half {
					if c.half[d].oooBytes > cfg.MaxConnBuffer {
						t.Fatalf("conn %d dir %d holds %d bytes, limit %d", c.ID, d, c.half[d].oooBytes, cfg.MaxConnBuffer)
					}
				}
			}
		}
		a.Flush(ts)
		if a.Conns() != 0 || a.Buffered() != 0 {
			t.Fatalf("after Flush: Conns()=%d Buffered()=%d", a.Conns(), a.Buffered())
		}
		var gaps uint64
		for _, cr := range r.conns {
			if !cr.closed {
				t.Fatalf("conn %d never closed", cr.id)
			}
			for d := AtoB; d <= BtoA; d++ {
				dr := &cr.dirs[d]
				for _, g := range dr.gaps {
					gaps += uint64(g.n)
				}
			}
		}
		if st := a.Stats(); st.GapBytes != gaps {
			t.Fatalf("GapBytes = %d, handlers were told of %d", st.GapBytes, gaps)
		}
	})
}
