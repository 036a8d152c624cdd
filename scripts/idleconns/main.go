// Command idleconns opens many idle HTTP/2 connections to a server and
// holds them until it is told to stop: the load for measuring what idle
// connections cost the agent (make bench-agent). Each connection sends
// the client preface and SETTINGS, acknowledges the server's SETTINGS,
// and then stays silent, as an idle gRPC channel does.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

func main() {
	addr := flag.String("addr", "", "server HOST:PORT")
	n := flag.Int("n", 1000, "connections to open")
	par := flag.Int("parallel", 64, "connections being opened at once")
	flag.Parse()
	if *addr == "" {
		fmt.Fprintln(os.Stderr, "idleconns: -addr is required")
		os.Exit(2)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		fails atomic.Int64
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, *par)
	start := time.Now()
	for i := 0; i < *n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := open(*addr)
			if err != nil {
				if fails.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "idleconns:", err)
				}
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	// The line the bench waits for.
	fmt.Printf("open %d failed %d in %s\n", len(conns), fails.Load(), time.Since(start).Round(time.Millisecond))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	for _, c := range conns {
		c.Close()
	}
}

// open dials and does the HTTP/2 connection set-up.
func open(addr string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	// Preface, then an empty SETTINGS frame.
	if _, err := io.WriteString(c, preface+"\x00\x00\x00\x04\x00\x00\x00\x00\x00"); err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	var hdr [9]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			c.Close()
			return nil, fmt.Errorf("reading the server's SETTINGS: %w", err)
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		if _, err := r.Discard(n); err != nil {
			c.Close()
			return nil, err
		}
		if hdr[3] == 4 && hdr[4]&1 == 0 { // the server's SETTINGS: acknowledge it
			if _, err := c.Write([]byte{0, 0, 0, 4, 1, 0, 0, 0, 0}); err != nil {
				c.Close()
				return nil, err
			}
			c.SetReadDeadline(time.Time{})
			go io.Copy(io.Discard, r) // pings and window updates, if any
			return c, nil
		}
	}
}
