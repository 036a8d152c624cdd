package http2

import (
	"errors"
	"fmt"
	"time"
)

// Limits of the parser. Beyond them a frame or header block is skipped
// and reported, so hostile input costs bounded memory.
const (
	// MaxBufferedFrame is the largest non-DATA frame held whole. DATA is
	// streamed and never held.
	MaxBufferedFrame = 1 << 20
	// MaxHeaderBlock bounds a header block assembled from CONTINUATIONs.
	MaxHeaderBlock = 1 << 20
	// MaxContinuations bounds the CONTINUATION frames of one block, which
	// stops floods of empty fragments.
	MaxContinuations = 1024
	// MaxSyncScan is how many bytes are searched for a frame boundary
	// after a gap or on a connection joined mid-way.
	MaxSyncScan = 256 << 10
	// syncFrameLimit bounds frame lengths believed while searching.
	syncFrameLimit = 1 << 20
)

// Handler receives what a Parser finds, in stream order.
type Handler interface {
	// Frame is called once per frame, when its last byte has arrived.
	// For a frame that completes a header block, HeaderBlock comes first.
	Frame(f *Frame, ts time.Time)
	// DataChunk streams DATA payload (padding removed) as it arrives,
	// before the Frame call for that DATA frame.
	DataChunk(f *FrameHeader, b []byte, ts time.Time)
	// HeaderBlock delivers a whole header block: HEADERS or PUSH_PROMISE
	// plus any CONTINUATION frames. first is the frame that opened it.
	HeaderBlock(first *FrameHeader, block []byte, ts time.Time)
	// HeadersLost says a header block could not be decoded whole, so
	// HPACK state of this direction may have missed insertions.
	HeadersLost(ts time.Time)
	// Preface is called when the client preface has been read whole.
	Preface(ts time.Time)
	// Synced is called when frame boundaries are found after a gap or on
	// a connection joined mid-way; skipped bytes were discarded.
	Synced(skipped int, ts time.Time)
	// Error reports a malformed frame. Parsing goes on.
	Error(err error, ts time.Time)
}

type state uint8

const (
	statePreface state = iota
	stateFrames
	stateSync
)

// Stats counts what one direction's parser saw.
type Stats struct {
	Frames       uint64
	Errors       uint64
	SkippedBytes uint64 // bytes discarded while searching for a frame boundary
	Resyncs      uint64
}

// Parser parses one direction of an HTTP/2 connection.
type Parser struct {
	h     Handler
	state state

	prefaceSeen int
	scan        int    // where the boundary search resumes in buf
	buf         []byte // header, or whole non-DATA frame, being assembled
	in          bool   // inside a frame whose header is in hdr
	hdr         FrameHeader
	skip        uint32 // payload bytes of an oversized frame still to discard
	// DATA streaming state.
	dataLeft uint32 // payload bytes still to come
	padKnown bool
	padLeft  int // padding at the end of the current DATA frame
	dataPad  int // the current DATA frame's pad length, -1 if none

	// Header block assembly.
	block       []byte
	blockFirst  FrameHeader
	blockOpen   bool
	blockFrames int // CONTINUATIONs so far
	// dropping says the rest of the header block of dropStream was
	// already reported lost: its CONTINUATIONs pass without more errors.
	dropping   bool
	dropStream uint32

	// scratch is where frames are parsed and dispatched from; parsers
	// fed by one goroutine may share one (ShareScratch), which keeps an
	// idle connection small.
	scratch *Frame
	Stats   Stats
}

// ShareScratch makes the parser build its frames in f, which other
// parsers fed by the same goroutine may use too: a Frame is only valid
// during the Handler call.
func (p *Parser) ShareScratch(f *Frame) { p.scratch = f }

// frameFor returns the scratch frame, reset to header h.
func (p *Parser) frameFor(h FrameHeader, pad int) *Frame {
	f := p.scratch
	if f == nil {
		f = new(Frame)
		p.scratch = f
	}
	f.reset(h, pad)
	return f
}

// NewParser returns a parser. preface says whether the direction starts
// at its first byte with the client preface; fromStart says the first byte
// is a frame boundary (a server direction seen from the start). Otherwise
// the parser searches for frame boundaries.
func NewParser(h Handler, preface, fromStart bool) *Parser {
	p := &Parser{h: h, state: stateSync}
	switch {
	case preface:
		p.state = statePreface
	case fromStart:
		p.state = stateFrames
	}
	return p
}

// Idle reports whether the parser sits at a frame boundary with nothing
// held: a parser made by NewParser(h, false, true) would go on the same.
func (p *Parser) Idle() bool {
	return p.state == stateFrames && !p.in && len(p.buf) == 0 && p.skip == 0 && p.dataLeft == 0 &&
		!p.blockOpen && !p.dropping
}

// InSync reports whether frame boundaries are known.
func (p *Parser) InSync() bool { return p.state != stateSync }

// Skip passes over bytes that the source left out as whole frames
// nobody asked for (PING and WINDOW_UPDATE), and says whether it could:
// at a frame boundary with no header block open, or while searching for
// boundaries (the bytes held are given up: what follows does not follow
// them). Anywhere else they are a gap.
func (p *Parser) Skip() bool {
	switch {
	case p.Idle():
		return true
	case p.state == stateSync:
		p.Stats.SkippedBytes += uint64(len(p.buf))
		p.buf, p.scan = p.buf[:0], 0
		return true
	}
	return false
}

// Gap tells the parser bytes were lost: frame boundaries must be found
// again and any header block in progress is gone.
func (p *Parser) Gap(ts time.Time) {
	if p.blockOpen || (p.in && (p.hdr.Type == TypeHeaders || p.hdr.Type == TypePushPromise || p.hdr.Type == TypeContinuation)) {
		p.h.HeadersLost(ts)
	}
	p.reset()
	p.state = stateSync
}

func (p *Parser) reset() {
	p.buf = p.buf[:0]
	p.in, p.skip, p.dataLeft = false, 0, 0
	p.block, p.blockOpen, p.blockFrames = p.block[:0], false, 0
	p.dropping = false
	p.scan = 0
}

// Feed parses the next bytes of the direction.
func (p *Parser) Feed(b []byte, ts time.Time) {
	for len(b) > 0 {
		switch p.state {
		case statePreface:
			n := min(len(b), len(Preface)-p.prefaceSeen)
			if string(b[:n]) != Preface[p.prefaceSeen:p.prefaceSeen+n] {
				p.error(errors.New("client preface expected"), ts)
				p.state = stateSync
				// The bytes that matched so far are searched and skipped
				// like the rest, however the stream was cut.
				p.buf = append(p.buf[:0], Preface[:p.prefaceSeen]...)
				continue
			}
			p.prefaceSeen += n
			b = b[n:]
			if p.prefaceSeen == len(Preface) {
				p.state = stateFrames
				p.h.Preface(ts)
			}
		case stateFrames:
			b = p.frames(b, ts)
		case stateSync:
			b = p.sync(b, ts)
		}
	}
}

func (p *Parser) error(err error, ts time.Time) {
	p.Stats.Errors++
	p.h.Error(err, ts)
}

// frames consumes bytes while in sync and returns the rest.
func (p *Parser) frames(b []byte, ts time.Time) []byte {
	if !p.in {
		need := HeaderLen - len(p.buf)
		if len(b) < need {
			p.buf = append(p.buf, b...)
			return nil
		}
		var hb []byte
		if len(p.buf) == 0 {
			hb = b[:HeaderLen]
		} else {
			p.buf = append(p.buf, b[:need]...)
			hb = p.buf
		}
		p.hdr = ReadHeader(hb)
		p.buf = p.buf[:0]
		b = b[need:]
		p.in = true
		if p.hdr.Type == TypeData {
			p.dataLeft = p.hdr.Length
			p.padKnown = !p.hdr.Flags.Has(FlagPadded)
			p.padLeft = 0
			p.dataPad = -1
		} else if p.hdr.Length > MaxBufferedFrame {
			p.skip = p.hdr.Length
			p.error(fmt.Errorf("%v frame of %d bytes on stream %d exceeds the %d-byte limit; skipped", p.hdr.Type, p.hdr.Length, p.hdr.StreamID, MaxBufferedFrame), ts)
			if p.hdr.Type == TypeHeaders || p.hdr.Type == TypeContinuation || p.hdr.Type == TypePushPromise {
				p.h.HeadersLost(ts)
				p.dropBlock(p.hdr)
			}
		}
		if p.hdr.Length == 0 {
			p.finishFrame(nil, ts)
			return b
		}
	}
	switch {
	case p.hdr.Type == TypeData:
		return p.data(b, ts)
	case p.skip > 0:
		n := min(uint32(len(b)), p.skip)
		p.skip -= n
		if p.skip == 0 {
			p.in = false
		}
		return b[n:]
	}
	need := int(p.hdr.Length) - len(p.buf)
	if len(p.buf) == 0 && len(b) >= need {
		// Whole payload in this chunk: parse in place, no copy.
		p.finishFrame(b[:need], ts)
		return b[need:]
	}
	n := min(len(b), need)
	p.buf = append(p.buf, b[:n]...)
	if len(p.buf) == int(p.hdr.Length) {
		p.finishFrame(p.buf, ts)
		p.buf = p.buf[:0]
	}
	return b[n:]
}

// data streams the payload of a DATA frame.
func (p *Parser) data(b []byte, ts time.Time) []byte {
	if len(b) == 0 {
		return b // the chunk ended with the frame header
	}
	if !p.padKnown {
		pad := int(b[0])
		if uint32(pad) >= p.hdr.Length {
			p.error(fmt.Errorf("DATA frame on stream %d: padding %d exceeds payload %d", p.hdr.StreamID, pad, p.hdr.Length), ts)
			pad = int(p.hdr.Length) - 1
		}
		p.padKnown, p.padLeft = true, pad
		p.dataPad = pad
		p.dataLeft--
		b = b[1:]
	}
	n := min(uint32(len(b)), p.dataLeft)
	chunk := b[:n]
	if dataEnd := int(p.dataLeft) - p.padLeft; len(chunk) > dataEnd {
		chunk = chunk[:max(dataEnd, 0)]
	}
	if len(chunk) > 0 {
		p.h.DataChunk(&p.hdr, chunk, ts)
	}
	p.dataLeft -= n
	if p.dataLeft == 0 {
		p.in = false
		p.Stats.Frames++
		f := p.frameFor(p.hdr, p.dataPad)
		p.checkInterleave(f, ts)
		p.h.Frame(f, ts)
	}
	return b[n:]
}

// finishFrame parses and dispatches a buffered frame.
func (p *Parser) finishFrame(payload []byte, ts time.Time) {
	p.in = false
	if p.hdr.Type == TypeData { // zero-length DATA
		p.Stats.Frames++
		f := p.frameFor(p.hdr, -1)
		if p.hdr.Flags.Has(FlagPadded) {
			p.error(errors.New("DATA frame: PADDED without pad length"), ts)
		}
		p.checkInterleave(f, ts)
		p.h.Frame(f, ts)
		return
	}
	f := p.frameFor(p.hdr, 0)
	if err := f.parse(payload); err != nil {
		p.error(err, ts)
		if f.Type == TypeHeaders || f.Type == TypePushPromise || f.Type == TypeContinuation {
			p.h.HeadersLost(ts)
			p.dropBlock(f.FrameHeader)
		}
		p.Stats.Frames++
		p.h.Frame(f, ts)
		return
	}
	p.Stats.Frames++
	interrupted := p.checkInterleave(f, ts)
	switch f.Type {
	case TypeHeaders, TypePushPromise:
		p.block = append(p.block[:0], f.Fragment...)
		p.blockFirst, p.blockOpen, p.blockFrames = f.FrameHeader, true, 0
		p.dropping = false
		p.maybeEndBlock(f, ts)
	case TypeContinuation:
		if !p.blockOpen {
			if p.dropping && f.StreamID == p.dropStream {
				p.dropping = !f.Flags.Has(FlagEndHeaders)
				break
			}
			if !interrupted {
				p.error(fmt.Errorf("CONTINUATION on stream %d without a header block", f.StreamID), ts)
				p.h.HeadersLost(ts)
			}
			break
		}
		p.blockFrames++
		if p.blockFrames > MaxContinuations || len(p.block)+len(f.Fragment) > MaxHeaderBlock {
			p.error(fmt.Errorf("header block on stream %d exceeds %d bytes or %d frames; dropped", f.StreamID, MaxHeaderBlock, MaxContinuations), ts)
			p.h.HeadersLost(ts)
			p.dropBlock(f.FrameHeader)
			p.block = p.block[:0]
			break
		}
		p.block = append(p.block, f.Fragment...)
		p.maybeEndBlock(f, ts)
	}
	p.h.Frame(f, ts)
}

func (p *Parser) maybeEndBlock(f *Frame, ts time.Time) {
	if f.Flags.Has(FlagEndHeaders) {
		p.blockOpen = false
		p.h.HeaderBlock(&p.blockFirst, p.block, ts)
	}
}

// checkInterleave enforces RFC 9113 §6.10: nothing may come between a
// header block's frames but its CONTINUATIONs. It reports whether f broke
// a block.
func (p *Parser) checkInterleave(f *Frame, ts time.Time) bool {
	if p.blockOpen && (f.Type != TypeContinuation || f.StreamID != p.blockFirst.StreamID) {
		p.error(fmt.Errorf("%v frame on stream %d interrupts the header block of stream %d", f.Type, f.StreamID, p.blockFirst.StreamID), ts)
		p.h.HeadersLost(ts)
		p.dropBlock(p.blockFirst)
		return true
	}
	return false
}

// dropBlock abandons the header block that the frame h belongs to, which
// was reported lost.
func (p *Parser) dropBlock(h FrameHeader) {
	p.blockOpen = false
	p.dropping, p.dropStream = !h.Flags.Has(FlagEndHeaders), h.StreamID
}

// sync searches the bytes for a frame boundary. A boundary is believed
// when two plausible frame headers follow each other, or one plausible
// frame ends exactly where the captured bytes end (writers flush whole
// frames, so segments tend to end on frame boundaries).
func (p *Parser) sync(b []byte, ts time.Time) []byte {
	p.buf = append(p.buf, b...)
	i, ok, resume := findBoundary(p.buf, p.scan)
	p.scan = resume
	if ok {
		p.scan = 0
		rest := append([]byte(nil), p.buf[i:]...)
		p.Stats.SkippedBytes += uint64(i)
		p.Stats.Resyncs++
		p.buf = p.buf[:0]
		p.state = stateFrames
		p.in = false
		p.h.Synced(i, ts)
		return rest
	}
	if len(p.buf) > MaxSyncScan {
		drop := min(len(p.buf)-HeaderLen, p.scan)
		p.Stats.SkippedBytes += uint64(drop)
		p.buf = append(p.buf[:0], p.buf[drop:]...)
		p.scan -= drop
		if len(p.buf) > MaxSyncScan {
			// A pending candidate holds the whole buffer: give it up.
			extra := len(p.buf) - HeaderLen
			p.Stats.SkippedBytes += uint64(extra)
			p.buf = append(p.buf[:0], p.buf[extra:]...)
			p.scan = 0
		}
	}
	return nil
}

// FindBoundary returns the offset of the first believable frame header in b.
func FindBoundary(b []byte) (int, bool) {
	i, ok, _ := findBoundary(b, 0)
	return i, ok
}

// findBoundary searches b from offset from. resume is where a later
// search, with more bytes appended, must start: offsets before it were
// rejected for good, so the search costs linear time overall.
func findBoundary(b []byte, from int) (at int, ok bool, resume int) {
	resume = -1
	i := from
	for ; i+HeaderLen <= len(b); i++ {
		h := ReadHeader(b[i:])
		if !believable(h) {
			continue
		}
		end := i + HeaderLen + int(h.Length)
		if end == len(b) && strongAlone(h) {
			return i, true, 0
		}
		if end+HeaderLen <= len(b) {
			if believable(ReadHeader(b[end:])) {
				return i, true, 0
			}
			continue
		}
		if resume < 0 {
			resume = i // may yet be confirmed by the bytes to come
		}
	}
	if resume < 0 {
		resume = i
	}
	return 0, false, resume
}

// believable is Plausible for a header found by searching. An empty DATA
// frame without END_STREAM carries nothing, so peers do not send it; but
// nine bytes at the end of a run of zeros (padding, zero-filled messages)
// read as one, with the next bytes as its stream id.
func believable(h FrameHeader) bool {
	if h.Type == TypeData && h.Length == 0 && !h.Flags.Has(FlagEndStream) {
		return false
	}
	return Plausible(h, syncFrameLimit)
}

// strongAlone reports whether a single frame header is distinctive
// enough to trust without a second one after it.
func strongAlone(h FrameHeader) bool {
	switch h.Type {
	case TypeSettings, TypePing, TypeWindowUpdate, TypeRSTStream, TypeGoAway:
		return true
	case TypeHeaders:
		return h.Flags.Has(FlagEndHeaders) && h.Length > 0
	case TypeData:
		return h.Length >= 5 // a gRPC message prefix at least
	}
	return false
}
