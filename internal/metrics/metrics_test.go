package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/reassembly"
)

// The endpoint serves every metric the issue asks for, with the values the
// pipeline reported, in an exposition promtool accepts.
func TestExposition(t *testing.T) {
	m := New(func() capture.Stats {
		return capture.Stats{Live: true, Captured: 1000, KernelReceived: 2000, KernelDropped: 3, IfaceDropped: 1, QueueDropped: 7}
	})
	for range 10 {
		m.Packet(100)
	}
	m.Finding(&analyze.Finding{Rule: "delayed-ack-stall", Severity: analyze.Warning, Duration: 40 * time.Millisecond})
	m.Finding(&analyze.Finding{Rule: "content-length-mismatch", Severity: analyze.Error})
	m.Connection(&analyze.ConnReport{Transactions: make([]*analyze.TxReport, 3)})
	m.ConnEnd(&reassembly.Conn{End: reassembly.EndRST})
	m.Progress(reassembly.Stats{EvictedFull: 2, OutOfOrderDropped: 10}, 5)
	m.Progress(reassembly.Stats{EvictedFull: 3, OutOfOrderDropped: 10}, 4)

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	for _, want := range []string{
		"connlint_capture_packets_total 1000",
		"connlint_capture_received_by_filter_total 2000",
		`connlint_capture_dropped_packets_total{where="kernel"} 3`,
		`connlint_capture_dropped_packets_total{where="interface"} 1`,
		`connlint_capture_dropped_packets_total{where="queue"} 7`,
		"connlint_packets_analyzed_total 10",
		"connlint_bytes_analyzed_total 1000",
		"connlint_connections_open 4",
		`connlint_connections_ended_total{end="rst"} 1`,
		"connlint_transactions_total 3",
		`connlint_findings_total{rule="delayed-ack-stall",severity="warning"} 1`,
		`connlint_findings_total{rule="content-length-mismatch",severity="error"} 1`,
		`connlint_stall_seconds_bucket{rule="delayed-ack-stall",le="0.04"} 1`,
		`connlint_stall_seconds_bucket{rule="delayed-ack-stall",le="0.025"} 0`,
		`connlint_memory_bound_hits_total{bound="table_full"} 3`,
		`connlint_memory_bound_hits_total{bound="out_of_order_bytes"} 10`,
		`connlint_memory_bound_hits_total{bound="idle_timeout"} 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("exposition lacks %q", want)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (Debian package prometheus; make deps installs it): exposition not validated")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
