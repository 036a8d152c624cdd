// Command recevents records the ring buffer's events as the agent's
// probe selects them (twin stamps, control segments left out), for
// BenchmarkReplay in agent/node: a gob stream of []bpf.Event batches,
// each as read. It runs until -d passes or SIGINT, then prints what it
// wrote and the kernel's counters. Needs root.
//
//	recevents -port 10000 -host 198.18.0.0/15 -d 20s -o events.gob
package main

import (
	"encoding/gob"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hoptap/hoptap/agent/capture"
	"github.com/hoptap/hoptap/bpf"
)

func main() {
	out := flag.String("o", "events.gob", "file to write")
	ports := flag.String("port", "", "ports to record, comma-separated (as the agent's --port)")
	hosts := flag.String("host", "", "addresses or CIDRs to record (as the agent's --host)")
	dur := flag.Duration("d", 20*time.Second, "how long to record")
	flag.Parse()
	if err := record(*out, *ports, *hosts, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "recevents:", err)
		os.Exit(1)
	}
}

func record(out, ports, hosts string, dur time.Duration) error {
	f := capture.Filters{BufferMiB: 8}
	if ports != "" {
		f.Ports = []string{ports}
	}
	if hosts != "" {
		f.Hosts = []string{hosts}
	}
	opts, err := f.Probe()
	if err != nil {
		return err
	}
	// As the agent runs when nobody watches (agent/node, capture.Run).
	opts.Lazy, opts.ElideControl, opts.StampTwins = true, true, true
	p, err := bpf.Open(opts)
	if err != nil {
		return err
	}
	defer p.Close()
	fh, err := os.Create(out)
	if err != nil {
		return err
	}
	enc := gob.NewEncoder(fh)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-time.After(dur):
		case <-sig:
		}
		p.Stop()
	}()
	fmt.Fprintf(os.Stderr, "recevents: recording to %s for %v (Ctrl-C stops)\n", out, dur)
	events, batches := 0, 0
	var werr error
	for b := range p.Events() {
		evs := make([]bpf.Event, len(b.Events))
		for i, e := range b.Events {
			e.Data = append([]byte(nil), e.Data...) // the ring's space is handed back
			evs[i] = e
		}
		b.Release()
		if werr == nil {
			werr = enc.Encode(evs)
		}
		events += len(evs)
		batches++
	}
	if err := fh.Close(); werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("writing %s: %w", out, werr)
	}
	k, err := p.Counters()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "recevents: %d events in %d batches; kernel: %d packets, %d lost, %d twins counted, %d segments left out\n",
		events, batches, k.Packets, k.Lost, k.Twins, k.Elided)
	return nil
}
