package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoptap/hoptap/agent/capture"
)

// selfSnap is what the agent knows of its own work, as of the last
// progress report.
type selfSnap struct {
	have             bool
	sum              capture.Summary
	methodOverflow   uint64
	workloadOverflow uint64
	pending, views   int
}

type selfDescs struct {
	kernelPackets, lost, lostBytes, truncated, omitted, filtered *prometheus.Desc
	packets, decodeErrors, gaps, gapBytes, hpackUnknown          *prometheus.Desc
	tracked, buffered, overflow, pending, views, cpu             *prometheus.Desc
	twins, viewUnknown, elided, elidedBytes, elidedAcks, wakeups *prometheus.Desc
}

func newSelfDescs() selfDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return selfDescs{
		kernelPackets: d("hoptap_kernel_packets_total", "Packets the eBPF programs selected and tried to copy."),
		lost:          d("hoptap_lost_events_total", "Events the ring buffer had no room for (kind: packet or other).", "kind"),
		lostBytes:     d("hoptap_lost_bytes_total", "Packet bytes lost for want of ring buffer space."),
		truncated:     d("hoptap_truncated_packets_total", "Packets cut by the snap length."),
		omitted:       d("hoptap_payload_omitted_packets_total", "Packets copied without payload on purpose: their connection is neither HTTP/2 nor TLS."),
		filtered:      d("hoptap_filtered_packets_total", "TCP packets the kernel filters did not select."),
		packets:       d("hoptap_decoded_packets_total", "Packets fed to the decoder."),
		decodeErrors:  d("hoptap_decode_errors_total", "Decoding errors by layer (link, http2, hpack, headers_lost).", "layer"),
		gaps:          d("hoptap_tcp_gaps_total", "Holes in reassembled TCP streams."),
		gapBytes:      d("hoptap_tcp_gap_bytes_total", "Bytes missing in those holes, where known."),
		hpackUnknown:  d("hoptap_hpack_unknown_headers_total", "Header fields whose name or value could not be known (e.g. indexed before the capture began)."),
		tracked:       d("hoptap_tracked_connections", "Connection views the decoder tracks now."),
		buffered:      d("hoptap_reassembly_buffered_bytes", "Out-of-order bytes held for reassembly now."),
		overflow:      d("hoptap_label_overflow_total", "Label values folded into \"other\" by the cardinality caps (label: rpc_method or workload).", "label"),
		pending:       d("hoptap_rpc_hop_pending", "Call views waiting for the other socket's view."),
		views:         d("hoptap_metric_views", "Connection views with labels worked out."),
		cpu:           d("hoptap_capture_cpu_seconds_total", "CPU time of capturing and decoding, start-up excluded."),
		twins:         d("hoptap_twin_observations_total", "Second observations of segments whose sender and receiver are both on this node: the receiver's arrival time, decoded once at the sender."),
		elided:        d("hoptap_elided_segments_total", "Segments of PING and WINDOW_UPDATE frames alone that the kernel left out (no metric needs them; copied while frames or packets are watched). Not losses: the next segment tells the decoder, which skips them."),
		elidedBytes:   d("hoptap_elided_bytes_total", "Bytes of those segments the decoder skipped at frame boundaries; any it could not are counted as TCP gaps."),
		elidedAcks:    d("hoptap_elided_acks_total", "Bare ACKs (no payload, no SYN, FIN or RST) of HTTP/2 connections that the kernel left out while no one watched frames or packets: no metric needs them. Not losses."),
		wakeups:       d("hoptap_ring_wakeups_total", "Wake-ups of the agent's ring-buffer reader forced by the kernel programs: one per wake-up threshold (a quarter of the ring) of events that came to wait. Few: the reader polls on its own."),
		viewUnknown:   d("hoptap_view_times_unknown_total", "Call or handshake times left unknown at one socket because the second observation of their segment was not seen."),
	}
}

// selfCollector exports the snapshot; it is the Recorder, seen by the
// registry.
type selfCollector Recorder

func (c *selfCollector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.self
	for _, x := range []*prometheus.Desc{d.kernelPackets, d.lost, d.lostBytes, d.truncated, d.omitted, d.filtered,
		d.packets, d.decodeErrors, d.gaps, d.gapBytes, d.hpackUnknown, d.tracked, d.buffered, d.overflow, d.pending, d.views, d.cpu, d.twins, d.viewUnknown, d.elided, d.elidedBytes, d.elidedAcks, d.wakeups} {
		ch <- x
	}
}

func (c *selfCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.snap
	c.mu.Unlock()
	if !s.have {
		return
	}
	d := &c.self
	k, dec := &s.sum.Kernel, &s.sum.Decoder
	count := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v int) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(v))
	}
	count(d.kernelPackets, k.Packets)
	count(d.lost, k.Lost, "packet")
	count(d.lost, k.LostOther, "other")
	count(d.lostBytes, k.LostBytes)
	count(d.truncated, k.Truncated)
	count(d.omitted, k.Omitted)
	count(d.filtered, k.Filtered)
	count(d.packets, dec.Packets)
	count(d.decodeErrors, dec.LinkErrors, "link")
	count(d.decodeErrors, dec.FrameErrors, "http2")
	count(d.decodeErrors, dec.HPACKErrors, "hpack")
	count(d.decodeErrors, dec.HeadersLost, "headers_lost")
	count(d.gaps, dec.TCP.Gaps)
	count(d.gapBytes, dec.TCP.GapBytes)
	count(d.hpackUnknown, dec.HPACKUnknown)
	gauge(d.tracked, dec.TrackedConns)
	gauge(d.buffered, dec.BufferedBytes)
	count(d.overflow, s.methodOverflow, "rpc_method")
	count(d.overflow, s.workloadOverflow, "workload")
	gauge(d.pending, s.pending)
	gauge(d.views, s.views)
	count(d.twins, s.sum.BothEnds)
	count(d.viewUnknown, s.sum.ViewTimesUnknown)
	count(d.elided, k.Elided)
	count(d.elidedBytes, dec.TCP.ElidedBytes)
	count(d.elidedAcks, k.ElidedAcks)
	count(d.wakeups, k.Wakeups)
	ch <- prometheus.MustNewConstMetric(d.cpu, prometheus.CounterValue, s.sum.CPU.Seconds())
}
