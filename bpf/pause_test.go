package bpf

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestProbePause sends three messages over one loopback connection to an
// echo server, each read back whole before the next: the first with the
// programs attached, the second paused, the third resumed. The ring
// must hold the first and third both ways and nothing of the second,
// which the ring would have delivered before the third; the echo proves
// the traffic ran as usual meanwhile. After Close, Pause does nothing.
func TestProbePause(t *testing.T) {
	requireRoot(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	p, err := Open(Options{Ports: []uint16{uint16(ln.Addr().(*net.TCPAddr).Port)}, Payload: PayloadAll})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs := [][]byte{bytes.Repeat([]byte("before-"), 50), bytes.Repeat([]byte("paused-"), 50), bytes.Repeat([]byte("resume-"), 50)}
	echo := func(m []byte) {
		t.Helper()
		if _, err := c.Write(m); err != nil {
			t.Fatal(err)
		}
		back := make([]byte, len(m))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, back); err != nil || !bytes.Equal(back, m) {
			t.Fatalf("echo of %.7q: %v", m, err)
		}
	}
	var seen []byte
	// Both ways of each message: the client's write and the echo, each at
	// egress and ingress.
	until := func(m []byte) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for bytes.Count(seen, m) < 4 {
			select {
			case b := <-p.Events():
				for _, e := range b.Events {
					if e.Kind == KindPacket {
						seen = append(seen, tcpPayload(e.Data)...)
					}
				}
				b.Release()
			case <-deadline:
				t.Fatalf("timed out waiting for %.7q four times; seen %d bytes", m, len(seen))
			}
		}
	}
	echo(msgs[0])
	until(msgs[0])
	if err := p.Pause(true); err != nil {
		t.Fatal(err)
	}
	echo(msgs[1])
	if err := p.Pause(false); err != nil {
		t.Fatal(err)
	}
	echo(msgs[2])
	until(msgs[2])
	if bytes.Contains(seen, msgs[1][:14]) {
		t.Error("the ring holds bytes sent while paused")
	}
	p.Close()
	if err := p.Pause(false); err != nil {
		t.Errorf("Pause after Close: %v", err)
	}
}
