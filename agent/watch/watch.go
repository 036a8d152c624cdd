// Package watch serves the agent's live capture API. Each watcher gets
// the decoder's events through its own filter and JSON renderer, and raw
// packets, on a bounded queue: a slow watcher loses events, and is told
// how many; the capture never waits for anyone.
package watch

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoptap/hoptap/agent/api"
	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/bpf"
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/filter"
	"github.com/hoptap/hoptap/decoder/render"
)

// queueLen bounds what one watcher may have waiting to be sent.
const queueLen = 8192

// MaxWatchers bounds how many may watch at once.
const MaxWatchers = 16

// Server is the Capture service and a decoder.Sink. Its Sink, Packet
// and Flush methods run on the capture's goroutine.
type Server struct {
	api.UnimplementedCaptureServer
	mu       sync.Mutex
	watchers atomic.Pointer[[]*watcher] // copy on write: read without locking
	packets  int                        // watchers of packets (under mu)
	wanted   func(bool)                 // told when packets become watched or not
	frames   int                        // watchers of frames or packets (under mu)
	wantedF  func(bool)                 // told when those come and go
	anyone   int                        // watchers of anything (under mu)
	wantedA  func(bool)                 // told when the first comes and the last goes
	now      func() time.Time           // as packets tell time (Clock)
}

type watcher struct {
	req *api.WatchRequest
	// since is when the watcher came, as packets tell time (Clock): it
	// gets no packet from before, when the kernel may still have left
	// segments out that it would see as holes.
	since   time.Time
	sink    decoder.Sink   // filter → printer → lines
	filter  *filter.Filter // nil: everything
	printer *render.Printer
	ch      chan *api.WatchEvent
	lost    atomic.Uint64
}

// New returns a server with no watchers.
func New() *Server {
	s := &Server{}
	s.watchers.Store(&[]*watcher{})
	return s
}

func (s *Server) list() []*watcher { return *s.watchers.Load() }

// Active reports whether anyone watches.
func (s *Server) Active() bool { return len(s.list()) > 0 }

// PacketsWanted has f told, under the server's lock, whenever packets
// start or stop being watched, and now.
func (s *Server) PacketsWanted(f func(bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wanted = f
	f(s.packets > 0)
}

// Clock sets how the server tells the time packets are stamped with
// (bpf.Probe.Now); without one, watchers get every packet handed on.
func (s *Server) Clock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// FramesWanted has f told, under the server's lock, whenever frames or
// packets start or stop being watched (every frame and packet is then
// needed, down to PINGs), and now.
func (s *Server) FramesWanted(f func(bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wantedF = f
	f(s.frames > 0)
}

// Watched has f told, under the server's lock, whenever the first
// watcher of anything comes or the last one goes, and now.
func (s *Server) Watched(f func(bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wantedA = f
	f(s.anyone > 0)
}

// count counts a watcher in (+1) or out (-1), for those told when
// anything, packets, or frames become watched or not; under mu.
func (s *Server) count(w *watcher, d int) {
	edge := func(n *int, f func(bool)) {
		*n += d
		if f != nil && (*n == 0 || *n == 1 && d > 0) {
			f(*n > 0)
		}
	}
	edge(&s.anyone, s.wantedA)
	if w.req.Packets {
		edge(&s.packets, s.wanted)
	}
	if w.req.Packets || w.req.Frames {
		edge(&s.frames, s.wantedF)
	}
}

// Frame implements decoder.Sink.
func (s *Server) Frame(e *decoder.FrameEvent) {
	ws := s.list()
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		if w.req.Frames {
			w.sink.Frame(e)
		}
	}
}

// Call implements decoder.Sink.
func (s *Server) Call(e *decoder.CallEvent) {
	ws := s.list()
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		w.sink.Call(e)
	}
}

// Conn implements decoder.Sink.
func (s *Server) Conn(e *decoder.ConnEvent) {
	ws := s.list()
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		w.sink.Conn(e)
	}
}

// Packet offers an observation to the watchers that asked for packets.
func (s *Server) Packet(e *bpf.Event, src, dst netip.AddrPort, c *capture.Comment) {
	ws := s.list()
	if len(ws) == 0 {
		return
	}
	// One copy for every watcher that wants it: sending only reads it.
	var ev *api.WatchEvent
	for _, w := range ws {
		if !w.req.Packets || e.TS.Before(w.since) || !w.wants(src, dst) {
			continue
		}
		if ev == nil {
			ev = &api.WatchEvent{Event: &api.WatchEvent_Packet{Packet: &api.Packet{
				TsUnixNano: e.TS.UnixNano(), Ingress: e.Dir == bpf.Ingress, WireLen: uint32(e.Len),
				Data: slices.Clone(e.Data), Comment: c.String(),
			}}}
		}
		w.push(ev)
	}
}

// Flush hands each watcher the lines rendered so far.
func (s *Server) Flush() {
	for _, w := range s.list() {
		w.printer.Flush()
	}
}

func (w *watcher) wants(src, dst netip.AddrPort) bool {
	unmap := func(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }
	return w.filter == nil || w.filter.Ends(unmap(src), unmap(dst))
}

// push queues an event, or counts it lost.
func (w *watcher) push(ev *api.WatchEvent) {
	select {
	case w.ch <- ev:
	default:
		w.lost.Add(1)
	}
}

// lines receives the printer's output and queues it a line at a time.
type lines struct {
	w       *watcher
	partial []byte
}

func (l *lines) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := slices.Index(b, '\n')
		if i < 0 {
			l.partial = append(l.partial, b...)
			break
		}
		line := string(append(l.partial, b[:i]...))
		l.partial = l.partial[:0]
		b = b[i+1:]
		l.w.push(&api.WatchEvent{Event: &api.WatchEvent_Json{Json: line}})
	}
	return n, nil
}

func newWatcher(req *api.WatchRequest) (*watcher, error) {
	w := &watcher{req: req, ch: make(chan *api.WatchEvent, queueLen)}
	spec := filter.Spec{Methods: req.Methods, Statuses: req.Statuses, Hosts: req.Hosts}
	for _, p := range req.Ports {
		if p == 0 || p > 65535 {
			return nil, errors.New("bad port " + strconv.Itoa(int(p)))
		}
		spec.Ports = append(spec.Ports, uint16(p))
	}
	mode := render.ModeJSON
	switch req.Format {
	case "", "json":
	case "text":
		mode = render.ModeText
	case "calls":
		mode = render.ModeCalls
	default:
		return nil, errors.New("format " + strconv.Quote(req.Format) + ": want json, text or calls")
	}
	w.printer = render.NewPrinter(&lines{w: w}, mode)
	if mode == render.ModeCalls {
		w.printer.LiveCalls()
	}
	w.printer.ShowSecrets(req.ShowSecrets)
	w.sink = w.printer
	if !spec.Empty() {
		f, err := filter.New(spec, w.printer)
		if err != nil {
			return nil, err
		}
		w.sink, w.filter = f, f
	}
	return w, nil
}

// errBusy is returned when MaxWatchers already watch.
var errBusy = errors.New("too many watchers on this agent")

func (s *Server) add(w *watcher) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.list()
	if len(cur) >= MaxWatchers {
		return errBusy
	}
	s.count(w, 1) // every segment copied from now on
	if s.now != nil {
		w.since = s.now()
	}
	next := append(slices.Clone(cur), w)
	s.watchers.Store(&next)
	return nil
}

func (s *Server) remove(w *watcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := slices.DeleteFunc(slices.Clone(s.list()), func(x *watcher) bool { return x == w })
	s.watchers.Store(&next)
	s.count(w, -1)
}

// Watch implements api.CaptureServer.
func (s *Server) Watch(req *api.WatchRequest, stream api.Capture_WatchServer) error {
	w, err := newWatcher(req)
	if err != nil {
		return err
	}
	if err := s.add(w); err != nil {
		return err
	}
	defer s.remove(w)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev := <-w.ch:
			if err := stream.Send(ev); err != nil {
				return err
			}
		case <-tick.C:
			if n := w.lost.Swap(0); n > 0 {
				if err := stream.Send(&api.WatchEvent{Event: &api.WatchEvent_Lost{Lost: &api.Lost{Events: n}}}); err != nil {
					return err
				}
			}
		}
	}
}
