package report_test

import "testing"

func TestQuickWrite(t *testing.T) {
	for _, n := range []string{"nagle-delayed-ack", "dumb-proxy-keepalive", "port-churn", "pipelined-unsafe-method"} {
		in := buildInput(t, labPath(n))
		writeReport(t, in, "/tmp/rep", n)
	}
}
