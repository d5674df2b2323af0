package analyze

import (
	"testing"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

func TestDescribeJunkRequest(t *testing.T) {
	junk := &http1.Message{Dir: flow.ClientToServer}
	junk.Anomalies = append(junk.Anomalies, http1.AnomJunkRequest)
	if got := Describe(junk); got != "a malformed request" {
		t.Errorf("junk request described as %q", got)
	}
	ok := &http1.Message{Dir: flow.ClientToServer, Method: "GET", Target: "/x"}
	if got := Describe(ok); got != "GET /x" {
		t.Errorf("request described as %q", got)
	}
}
