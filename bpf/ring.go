package bpf

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ring consumes the BPF ring buffer straight from its shared mapping.
// A general-purpose reader takes a lock, copies each record out and
// publishes the consumer position for every record; here events point
// into the mapping and the position is published once a batch of them
// has been handled, which is most of the reading cost at tens of
// thousands of packets a second.
type ring struct {
	consPage []byte  // read-write: the consumer position
	dataMap  []byte  // read-only: the producer page, then the data
	cons     *uint64 // into consPage
	prod     *uint64 // into dataMap
	// data is the data pages, mapped once: the kernel offers them twice
	// in a row so that no record wraps, but every page mapped counts in
	// the resident size (16 MiB for an 8 MiB ring). The few records that
	// wrap are put together in wrapped instead.
	data    []byte
	wrapped []byte
	wraps   uint64 // records put together in wrapped
	mask    uint64
	poller
	stopped atomic.Bool
}

// poller waits for a ring buffer's wake-ups: a duplicate of the map's
// descriptor in Go's network poller, so that waiting parks the
// goroutine, no thread sits in epoll_wait, and the runtime's monitor can
// sleep while traffic is quiet. The poller's epoll is edge-triggered: a
// wait ends at the kernel's next wake-up, however much already waits.
type poller struct {
	poll *os.File
	conn syscall.RawConn
}

func newPoller(fd int) (poller, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return poller{}, fmt.Errorf("ring buffer: dup: %w", err)
	}
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return poller{}, fmt.Errorf("ring buffer: %w", err)
	}
	p := poller{poll: os.NewFile(uintptr(dup), "ringbuf")}
	if err := p.poll.SetReadDeadline(time.Time{}); err != nil {
		p.poll.Close()
		return poller{}, fmt.Errorf("ring buffer: cannot be polled: %w", err)
	}
	if p.conn, err = p.poll.SyscallConn(); err != nil {
		p.poll.Close()
		return poller{}, fmt.Errorf("ring buffer: %w", err)
	}
	return p, nil
}

// await parks until the kernel's next wake-up, or until the deadline
// set on poll passes (os.ErrDeadlineExceeded).
func (p *poller) await() error {
	first := true
	return p.conn.Read(func(uintptr) bool {
		// The first call only arms the poller. The second comes once
		// the kernel woke us.
		done := !first
		first = false
		return done
	})
}

func (p *poller) close() {
	if p.poll != nil {
		p.poll.Close()
	}
}

// Record header bits (kernel's BPF_RINGBUF_*).
const (
	ringBusy   = 1 << 31
	ringDrop   = 1 << 30
	ringHdrLen = 8
)

func newRing(m *ebpf.Map) (*ring, error) {
	size := int(m.MaxEntries())
	page := os.Getpagesize()
	if size <= 0 || size&(size-1) != 0 {
		return nil, fmt.Errorf("ring buffer size %d is not a power of two", size)
	}
	fd := m.FD()
	r := &ring{mask: uint64(size - 1)}
	var err error
	if r.consPage, err = unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("mapping the consumer page: %w", err)
	}
	if r.dataMap, err = unix.Mmap(fd, int64(page), page+size, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		r.close()
		return nil, fmt.Errorf("mapping the data pages: %w", err)
	}
	r.cons = (*uint64)(unsafe.Pointer(&r.consPage[0]))
	r.prod = (*uint64)(unsafe.Pointer(&r.dataMap[0]))
	r.data = r.dataMap[page:]
	if r.poller, err = newPoller(fd); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// consumed is the consumer position the kernel last saw from us.
func (r *ring) consumed() uint64 { return atomic.LoadUint64(r.cons) }

// publish hands the space before pos back to the kernel.
func (r *ring) publish(pos uint64) { atomic.StoreUint64(r.cons, pos) }

// Outcomes of next.
const (
	recOK      = iota
	recNone    // nothing committed at pos
	recBusy    // the record at pos is still being written
	recSkipped // a discarded record; the position moved past it
	recWrapped // a record that wrapped, put together in a buffer the next call reuses
)

// next looks at the record at pos. The sample stays valid until pos is
// published past it, or, for one that wraps around the end of the
// data (recWrapped), until the next call.
func (r *ring) next(pos uint64) (sample []byte, after uint64, st int, err error) {
	prod := atomic.LoadUint64(r.prod)
	if prod == pos {
		return nil, pos, recNone, nil
	}
	if prod-pos < ringHdrLen {
		return nil, pos, recNone, errors.New("ring buffer: torn record header")
	}
	start := pos & r.mask
	hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[start])))
	if hdr&ringBusy != 0 {
		return nil, pos, recBusy, nil
	}
	n := uint64(hdr &^ (ringBusy | ringDrop))
	after = pos + (ringHdrLen+n+7)&^7
	if after-pos > prod-pos {
		return nil, pos, recNone, errors.New("ring buffer: record runs past the producer")
	}
	if hdr&ringDrop != 0 {
		return nil, after, recSkipped, nil
	}
	// Records are 8-byte aligned, so a header never wraps; a sample may.
	at := (start + ringHdrLen) & r.mask
	if end := at + n; end <= uint64(len(r.data)) {
		return r.data[at:end:end], after, recOK, nil
	}
	first := uint64(len(r.data)) - at
	r.wraps++
	r.wrapped = append(append(r.wrapped[:0], r.data[at:]...), r.data[:n-first]...)
	return r.wrapped, after, recWrapped, nil
}

// wait parks until the kernel signals data, stop is called, or timeout
// passes. It reports whether stop was called.
func (r *ring) wait(timeout time.Duration) (stopped bool, err error) {
	if r.stopped.Load() {
		return true, nil
	}
	r.poll.SetReadDeadline(time.Now().Add(timeout))
	// A stop between the check above and this deadline had its own
	// deadline overwritten: look again, or wait out the timeout.
	if r.stopped.Load() {
		return true, nil
	}
	err = r.await() // the caller just found the ring empty
	if r.stopped.Load() {
		return true, nil
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return false, fmt.Errorf("ring buffer: waiting: %w", err)
	}
	return false, nil
}

// nudge wakes a waiting reader now, to read and wait again.
func (r *ring) nudge() {
	r.poll.SetReadDeadline(time.Now())
}

// stop wakes the reader for its last drain.
func (r *ring) stop() {
	r.stopped.Store(true)
	r.poll.SetReadDeadline(time.Unix(1, 0))
}

// close unmaps; only the reader calls it, once it is done.
func (r *ring) close() {
	if r.dataMap != nil {
		unix.Munmap(r.dataMap)
		r.dataMap, r.data = nil, nil
	}
	if r.consPage != nil {
		unix.Munmap(r.consPage)
		r.consPage = nil
	}
	r.poller.close()
}

// RingFile is a duplicate of the ring buffer's descriptor, for another
// process to watch how full it is (RingLevel), and the ring's size.
func (p *Probe) RingFile() (*os.File, uint64, error) {
	if p.objs.Events == nil {
		return nil, 0, errors.New("ring buffer: the probe was not opened")
	}
	fd, err := unix.FcntlInt(uintptr(p.objs.Events.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("ring buffer: dup: %w", err)
	}
	return os.NewFile(uintptr(fd), "ringbuf"), uint64(p.objs.Events.MaxEntries()), nil
}

// RingLevel reads how much of a ring buffer waits for its reader, from a
// read-only mapping of its two position pages: the reader may be another
// process, one that cannot run to say.
type RingLevel struct {
	poller
	consPage, prodPage []byte
	cons, prod         *uint64
	size               uint64
}

// OpenRingLevel maps the positions of the ring buffer whose descriptor
// is fd (a RingFile's, perhaps in another process) of size bytes. It
// keeps no reference to fd.
func OpenRingLevel(fd int, size uint64) (*RingLevel, error) {
	page := os.Getpagesize()
	l := &RingLevel{size: size}
	var err error
	if l.consPage, err = unix.Mmap(fd, 0, page, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("ring buffer: mapping the consumer page: %w", err)
	}
	if l.prodPage, err = unix.Mmap(fd, int64(page), page, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		unix.Munmap(l.consPage)
		return nil, fmt.Errorf("ring buffer: mapping the producer page: %w", err)
	}
	l.cons = (*uint64)(unsafe.Pointer(&l.consPage[0]))
	l.prod = (*uint64)(unsafe.Pointer(&l.prodPage[0]))
	if l.poller, err = newPoller(fd); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// Wait parks until the programs next wake the ring's reader (they do
// each time another sixteenth of the ring is written, a quarter with
// Options.Lazy, however far the reader lags), or until timeout passes.
func (l *RingLevel) Wait(timeout time.Duration) error {
	l.poll.SetReadDeadline(time.Now().Add(timeout))
	if err := l.await(); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("ring buffer: waiting: %w", err)
	}
	return nil
}

// Backlog is how many bytes of records wait: written by the programs,
// not yet handed back by the reader.
func (l *RingLevel) Backlog() uint64 {
	c := atomic.LoadUint64(l.cons)
	return atomic.LoadUint64(l.prod) - c
}

// Size is the ring's size in bytes.
func (l *RingLevel) Size() uint64 { return l.size }

// Close unmaps; a Wait under way returns.
func (l *RingLevel) Close() {
	l.poller.close()
	unix.Munmap(l.consPage)
	if l.prodPage != nil {
		unix.Munmap(l.prodPage)
	}
}
