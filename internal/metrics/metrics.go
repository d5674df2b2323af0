// Package metrics serves a long-running sniff's counters to Prometheus
// (--metrics-addr): each sensor runs sniff, one Prometheus scrapes them all.
//
// Capture counters are read from the source when scraped (its Stats are
// safe from any goroutine); the analysis counters are updated by the
// pipeline's goroutine through the pipeline.Observer methods. Every metric
// lives in the Metrics' own registry, not the global one.
package metrics

import (
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/reassembly"
)

// Metrics is a pipeline.Observer that keeps Prometheus metrics.
type Metrics struct {
	reg *prometheus.Registry

	packets, bytes prometheus.Counter
	connsOpen      prometheus.Gauge
	connsEnded     *prometheus.CounterVec // by how the connection ended
	transactions   prometheus.Counter
	findings       *prometheus.CounterVec // rule, severity
	stall          *prometheus.HistogramVec
	bounds         *prometheus.CounterVec // bound

	mu   sync.Mutex
	last reassembly.Stats // what bounds has counted so far
}

// stallBuckets span what the timing rules report, from 1 ms through a
// delayed-ACK stall (40-200 ms) up to a keep-alive or idle wait of a
// minute. The histogram is in seconds, Prometheus' base unit (promtool
// rejects a _milliseconds metric): 0.04 is a 40 ms stall.
var stallBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.04, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// New makes the metrics of a capture: stats is read at each scrape (a live
// source's Stats; nil when there is no source).
func New(stats func() capture.Stats) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.packets = prometheus.NewCounter(prometheus.CounterOpts{Name: "connlint_packets_analyzed_total",
		Help: "Packets the analysis processed (captured minus queue drops)."})
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "connlint_bytes_analyzed_total",
		Help: "Bytes on the wire of the packets the analysis processed."})
	m.connsOpen = prometheus.NewGauge(prometheus.GaugeOpts{Name: "connlint_connections_open",
		Help: "TCP connections held by the reassembler (open, or lingering after their close)."})
	m.connsEnded = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "connlint_connections_ended_total",
		Help: "TCP connections ended, by how they ended (fin, rst, idle, evicted, refused, open at exit)."}, []string{"end"})
	m.transactions = prometheus.NewCounter(prometheus.CounterOpts{Name: "connlint_transactions_total",
		Help: "HTTP request/response transactions of ended connections."})
	m.findings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "connlint_findings_total",
		Help: "Findings reported, by rule and severity."}, []string{"rule", "severity"})
	m.stall = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "connlint_stall_seconds",
		Help:    "The measured stall, hang or wait of findings that measure one (the JSON duration_ms), in seconds, by rule.",
		Buckets: stallBuckets}, []string{"rule"})
	m.bounds = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "connlint_memory_bound_hits_total",
		Help: "Times a memory bound acted: connections evicted because the table was full (table_full) or idle (idle_timeout), out-of-order bytes dropped (out_of_order_bytes)."},
		[]string{"bound"})
	m.reg.MustRegister(m.packets, m.bytes, m.connsOpen, m.connsEnded, m.transactions, m.findings, m.stall, m.bounds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if stats != nil {
		m.reg.MustRegister(captureCollector{stats})
	}
	// Series that exist from the start, so that rate() sees their first increase.
	for _, b := range []string{"table_full", "idle_timeout", "out_of_order_bytes"} {
		m.bounds.WithLabelValues(b)
	}
	return m
}

// captureCollector reads the capture's counters at scrape time.
type captureCollector struct{ stats func() capture.Stats }

var (
	descCaptured = prometheus.NewDesc("connlint_capture_packets_total",
		"Packets read from libpcap (tcpdump's \"packets captured\").", nil, nil)
	descReceived = prometheus.NewDesc("connlint_capture_received_by_filter_total",
		"Packets that passed the kernel's filter (libpcap ps_recv; on lo each packet counts twice).", nil, nil)
	descDropped = prometheus.NewDesc("connlint_capture_dropped_packets_total",
		"Packets lost: by the kernel (buffer full, raise -B), the interface, or the queue to the analysis (analysis fell behind).",
		[]string{"where"}, nil)
)

func (c captureCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCaptured
	ch <- descReceived
	ch <- descDropped
}

func (c captureCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(descCaptured, prometheus.CounterValue, float64(s.Captured))
	ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(s.KernelReceived))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.KernelDropped), "kernel")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.IfaceDropped), "interface")
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.QueueDropped), "queue")
}

// Handler serves the exposition (text or protobuf, as the scraper asks).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Packet implements pipeline.Observer.
func (m *Metrics) Packet(wireLen int) {
	m.packets.Inc()
	m.bytes.Add(float64(wireLen))
}

// Finding implements pipeline.Observer.
func (m *Metrics) Finding(f *analyze.Finding) {
	m.findings.WithLabelValues(f.Rule, strings.ToLower(f.Severity.String())).Inc()
	if f.Duration > 0 {
		m.stall.WithLabelValues(f.Rule).Observe(f.Duration.Seconds())
	}
}

// Connection implements pipeline.Observer.
func (m *Metrics) Connection(c *analyze.ConnReport) {
	m.transactions.Add(float64(len(c.Transactions) + c.TransactionsDropped))
}

// ConnEnd implements pipeline.Observer.
func (m *Metrics) ConnEnd(c *reassembly.Conn) {
	m.connsEnded.WithLabelValues(c.End.String()).Inc()
}

// Progress implements pipeline.Observer: the Assembler's counters are
// totals, the metrics get what was added since the last call.
func (m *Metrics) Progress(s reassembly.Stats, open int) {
	m.connsOpen.Set(float64(open))
	m.mu.Lock()
	defer m.mu.Unlock()
	if d := s.EvictedFull - m.last.EvictedFull; d > 0 {
		m.bounds.WithLabelValues("table_full").Add(float64(d))
	}
	if d := s.EvictedIdle - m.last.EvictedIdle; d > 0 {
		m.bounds.WithLabelValues("idle_timeout").Add(float64(d))
	}
	if d := s.OutOfOrderDropped - m.last.OutOfOrderDropped; d > 0 {
		m.bounds.WithLabelValues("out_of_order_bytes").Add(float64(d))
	}
	m.last = s
}
