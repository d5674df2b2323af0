//go:build cgo

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRunReport: `connlint run --report FILE` writes the HTML page of the
// captured traffic (the Nagle stall of python's server drawn as a ladder),
// from a temporary capture that is removed afterwards, or from -w FILE.
func TestRunReport(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("connlint run captures on lo: needs root (sudo go test -run TestRunReport ./cmd/connlint)")
	}
	for _, tool := range []string{"python3", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps installs it)", tool)
		}
	}
	t.Setenv("SUDO_USER", "")
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	port := startServer(t)
	dir := t.TempDir()
	tmpDir := t.TempDir()
	t.Setenv("TMPDIR", tmpDir) // the temporary capture goes here: its removal can be checked
	filter := "tcp port " + strconv.Itoa(port)

	runReport := func(extra ...string) (int, string, []byte) {
		t.Helper()
		page := filepath.Join(dir, "page.html")
		os.Remove(page)
		args := append([]string{"run", "--config", "", "-f", filter, "--report", page}, extra...)
		args = append(append(args, "--"), curl(port, 4)...)
		var out, errb bytes.Buffer
		code := run(args, nil, &out, &errb)
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatalf("--report page not written (exit %d): %v\n%s", code, err, errb.String())
		}
		return code, errb.String(), b
	}

	code, stderr, page := runReport()
	if code != exitOK {
		t.Fatalf("run --report: exit %d\n%s", code, stderr)
	}
	if !bytes.Contains(page, []byte(`data-rule="nagle-delayed-ack"`)) || !bytes.Contains(page, []byte(`data-kind="ladder"`)) {
		t.Errorf("the page has no nagle-delayed-ack ladder:\n%s", stderr)
	}
	if bytes.Contains(page, []byte("No diagram:")) {
		t.Errorf("a drawn finding has no diagram: the temporary capture was not read a second time")
	}
	if !bytes.Contains(page, []byte("not kept: -w FILE keeps it")) {
		t.Errorf("the page does not say the capture was not kept")
	}
	if left, _ := filepath.Glob(filepath.Join(tmpDir, "connlint-run-*.pcap")); len(left) > 0 {
		t.Errorf("temporary capture left behind: %v", left)
	}

	pcap := filepath.Join(dir, "kept.pcap")
	code, stderr, page = runReport("-w", pcap, "--fail-on", "warning")
	if code != exitFindings {
		t.Errorf("run --report --fail-on warning: exit %d, want %d\n%s", code, exitFindings, stderr)
	}
	if !bytes.Contains(page, []byte("Analysed: "+pcap)) || strings.Count(string(page), `<figure class="diagram"`) == 0 {
		t.Errorf("the -w page does not name %s or has no diagram", pcap)
	}
}
