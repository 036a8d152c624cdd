package capture

import (
	"fmt"
	"io"

	"github.com/hoptap/hoptap/decoder"
)

// maxMidway bounds the connections midwayHint remembers: past it, a
// node full of old channels has shown its first ones already.
const maxMidway = 4096

// midwayHint says once, when it first happens, why a call shows ? for
// its method: its connection was open before the capture began, so
// header fields sent as references to HPACK state from before it (as
// gRPC sends a method it called before) cannot be known. A newcomer who
// starts the capture after the traffic otherwise sees only question
// marks until the summary explains them. The agent, running since
// before the connection opened, has its HPACK state: the note points
// there too.
type midwayHint struct {
	decoder.Sink
	w      io.Writer
	midway map[uint64]bool // connections joined mid-way, by decoder.Conn.ID
	told   bool
}

func newMidwayHint(next decoder.Sink, w io.Writer) *midwayHint {
	return &midwayHint{Sink: next, w: w, midway: map[uint64]bool{}}
}

func (h *midwayHint) Conn(e *decoder.ConnEvent) {
	if !h.told {
		switch e.Kind {
		case decoder.ConnOpen:
			if len(h.midway) < maxMidway {
				h.midway[e.Conn.ID] = true
			}
		case decoder.ConnClose:
			delete(h.midway, e.Conn.ID)
		}
	}
	h.Sink.Conn(e)
}

func (h *midwayHint) Call(e *decoder.CallEvent) {
	if !h.told && !e.Call.Method.OK && h.midway[e.Conn.ID] {
		h.told = true
		h.midway = nil
		fmt.Fprintf(h.w, "hoptap: note: calls on %s ↔ %s show ? for their method (and often status): that connection was open before the capture began, and its headers refer to HPACK state from before it (unknown, never guessed); new connections decode in full (restart the client), and a node agent that was running when it opened knows its calls (capture --agent or --node)\n",
			e.Conn.Client, e.Conn.Server)
	}
	h.Sink.Call(e)
}
