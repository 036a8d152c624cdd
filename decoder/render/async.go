package render

import (
	"github.com/hoptap/hoptap/decoder"
	"github.com/hoptap/hoptap/decoder/http2"
)

// Async is a decoder.Sink that hands events to another goroutine, so that
// decoding and printing run on two cores. Events are copied, since the
// decoder reuses their buffers; order is kept.
type Async struct {
	next  decoder.Sink
	batch []item
	ch    chan []item
	free  chan []item
	done  chan struct{}
}

const asyncBatch = 256

type item struct {
	kind  uint8 // 1 frame, 2 call, 3 conn
	conn  decoder.Conn
	frame decoder.FrameEvent
	f     http2.Frame
	prio  http2.Priority
	call  decoder.CallEvent
	cev   decoder.ConnEvent
}

// NewAsync starts the goroutine feeding next. Close must be called.
func NewAsync(next decoder.Sink) *Async {
	a := &Async{next: next, ch: make(chan []item, 4), free: make(chan []item, 6), done: make(chan struct{})}
	go a.loop()
	return a
}

func (a *Async) loop() {
	defer close(a.done)
	for batch := range a.ch {
		for i := range batch {
			it := &batch[i]
			switch it.kind {
			case 1:
				a.next.Frame(&it.frame)
			case 2:
				a.next.Call(&it.call)
			case 3:
				a.next.Conn(&it.cev)
			}
			*it = item{}
		}
		select {
		case a.free <- batch[:0]:
		default:
		}
	}
}

func (a *Async) slot() *item {
	if a.batch == nil {
		select {
		case a.batch = <-a.free:
		default:
			a.batch = make([]item, 0, asyncBatch)
		}
	}
	a.batch = a.batch[:len(a.batch)+1]
	it := &a.batch[len(a.batch)-1]
	return it
}

func (a *Async) push() {
	if len(a.batch) == cap(a.batch) {
		a.ch <- a.batch
		a.batch = nil
	}
}

// Frame implements decoder.Sink.
func (a *Async) Frame(e *decoder.FrameEvent) {
	it := a.slot()
	it.kind = 1
	it.conn = *e.Conn
	it.f = *e.Frame
	f := &it.f
	// Detach everything that points into the parser's buffers.
	f.Data, f.Fragment = nil, nil
	if f.Priority != nil {
		it.prio = *f.Priority
		f.Priority = &it.prio
	}
	if len(f.Settings) > 0 {
		f.Settings = append([]http2.Setting(nil), f.Settings...)
	}
	if len(f.Debug) > 0 {
		f.Debug = append([]byte(nil), f.Debug...)
	}
	if len(f.Unparsed) > 0 {
		f.Unparsed = append([]byte(nil), f.Unparsed...)
	}
	it.frame = *e
	it.frame.Conn, it.frame.Frame = &it.conn, f
	a.push()
}

// Call implements decoder.Sink. Finished calls are not changed again.
func (a *Async) Call(e *decoder.CallEvent) {
	it := a.slot()
	it.kind = 2
	it.conn = *e.Conn
	it.call = decoder.CallEvent{Conn: &it.conn, Call: e.Call}
	a.push()
}

// Conn implements decoder.Sink.
func (a *Async) Conn(e *decoder.ConnEvent) {
	it := a.slot()
	it.kind = 3
	it.conn = *e.Conn
	it.cev = *e
	it.cev.Conn = &it.conn
	a.push()
}

// Close delivers what is pending and waits for the goroutine.
func (a *Async) Close() {
	if len(a.batch) > 0 {
		a.ch <- a.batch
	}
	a.batch = nil
	close(a.ch)
	<-a.done
}
