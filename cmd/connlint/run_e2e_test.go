//go:build cgo

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// httpServer is python's http.server speaking HTTP/1.1 keep-alive: it
// writes the headers (end_headers flushes them) and the body in two
// sends, so a client that sends its next request on the same connection
// meets Nagle × delayed ACK: the body waits for the ACK of the headers,
// which the client delays by ~40 ms. A real mistake, made by a real
// server. It binds port 0 and prints the port it got, so that the test
// uses a port no one else does.
const httpServer = `
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def do_GET(self):
        body = b'x' * 100
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
`

// startServer runs httpServer and returns its port.
func startServer(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("python3", "-c", httpServer)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("python server did not start: %v", err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("python server printed %q", line)
	}
	return port
}

// curl fetches n URLs on one keep-alive connection.
func curl(port, n int) []string {
	args := []string{"curl", "-sS", "--max-time", "20"}
	u := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	for i := 0; i < n; i++ {
		args = append(args, "-o", "/dev/null", u+"r"+strconv.Itoa(i))
	}
	return args
}

// TestRunEndToEnd wraps a real client/server pair on loopback with
// `connlint run` and checks that the exit code and every CI format report
// the Nagle × delayed-ACK stall, that a baseline written from the run
// silences it, and that the command's own exit status wins.
func TestRunEndToEnd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("connlint run captures on lo: needs root (CI runs this as root through .ci/run; locally: sudo go test -run TestRunEndToEnd ./cmd/connlint)")
	}
	for _, tool := range []string{"python3", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps installs it)", tool)
		}
	}
	t.Setenv("SUDO_USER", "") // stay root: run would otherwise drop this test process to the sudo user
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	port := startServer(t)
	dir := t.TempDir()
	filter := "tcp port " + strconv.Itoa(port)
	base := []string{"run", "--config", "", "-f", filter, "--fail-on", "warning"}
	runWith := func(extra []string, command ...string) (int, string, string) {
		t.Helper()
		args := append(append(append([]string{}, base...), extra...), "--")
		var out, errb bytes.Buffer
		code := run(append(args, command...), nil, &out, &errb)
		return code, out.String(), errb.String()
	}
	readOut := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// SARIF, with the capture and a baseline kept.
	pcap, baseline := filepath.Join(dir, "traffic.pcap"), filepath.Join(dir, "baseline.json")
	code, _, stderr := runWith([]string{"--format", "sarif", "-o", filepath.Join(dir, "out.sarif"), "-w", pcap, "--write-baseline", baseline}, curl(port, 6)...)
	if code != exitFindings {
		t.Fatalf("run --fail-on warning over a Nagle stall: exit %d, want %d\n%s", code, exitFindings, stderr)
	}
	sarifDoc := readOut("out.sarif")
	validateSARIFSchema(t, sarifDoc)
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string } `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(sarifDoc, &log); err != nil || len(log.Runs) != 1 {
		t.Fatalf("SARIF: %v", err)
	}
	nagle := 0
	for _, r := range log.Runs[0].Results {
		if r.RuleID == "nagle-delayed-ack" {
			nagle++
			if uri := r.Locations[0].PhysicalLocation.ArtifactLocation.URI; !strings.HasSuffix(uri, "traffic.pcap") {
				t.Errorf("SARIF result names %q, want the -w capture", uri)
			}
		}
	}
	if nagle < 3 {
		t.Fatalf("SARIF: %d nagle-delayed-ack results over 6 keep-alive requests, want ≥ 3:\n%s", nagle, sarifDoc)
	}
	if st, err := os.Stat(pcap); err != nil || st.Size() == 0 {
		t.Errorf("-w %s not kept: %v", pcap, err)
	}

	// JUnit: well-formed, a failure naming the rule.
	code, out, _ := runWith([]string{"--format", "junit"}, curl(port, 4)...)
	var suites struct {
		Suites []struct {
			Cases []struct {
				Name      string `xml:"name,attr"`
				ClassName string `xml:"classname,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Body    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil {
		t.Fatalf("JUnit is not well-formed XML: %v\n%s", err, out)
	}
	failed := false
	for _, s := range suites.Suites {
		for _, c := range s.Cases {
			if c.ClassName == "nagle-delayed-ack" && c.Failure != nil && strings.Contains(c.Failure.Body, "delayed ACK") {
				failed = true
			}
		}
	}
	if code != exitFindings || !failed {
		t.Errorf("JUnit: exit %d, nagle-delayed-ack failure %t\n%s", code, failed, out)
	}

	// GitHub: a ::warning per finding, and the job summary.
	summary := filepath.Join(dir, "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	code, out, _ = runWith([]string{"--format", "github"}, curl(port, 4)...)
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	if code != exitFindings || !strings.Contains(out, "::warning file=lo,title=nagle-delayed-ack ") {
		t.Errorf("GitHub: exit %d\n%s", code, out)
	}
	if s := string(readOut("summary.md")); !strings.Contains(s, "nagle-delayed-ack") {
		t.Errorf("GitHub job summary lacks the rule:\n%s", s)
	}

	// GitLab Code Quality.
	code, out, _ = runWith([]string{"--format", "gitlab"}, curl(port, 4)...)
	var issues []struct {
		CheckName string `json:"check_name"`
		Severity  string `json:"severity"`
	}
	if err := json.Unmarshal([]byte(out), &issues); err != nil {
		t.Fatalf("GitLab: %v\n%s", err, out)
	}
	found := false
	for _, i := range issues {
		found = found || i.CheckName == "nagle-delayed-ack" && i.Severity == "major"
	}
	if code != exitFindings || !found {
		t.Errorf("GitLab: exit %d, nagle-delayed-ack major %t\n%s", code, found, out)
	}

	// The baseline written by the first run silences the same traffic: a
	// re-run with fewer requests (at most one stall per request, fewer than
	// recorded) and the kept capture itself.
	code, out, stderr = runWith([]string{"--baseline", baseline}, curl(port, 3)...)
	if code != exitOK {
		t.Errorf("run --baseline: exit %d, want 0\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "baseline "+baseline+": ") {
		t.Errorf("text report does not say what the baseline hid:\n%s", out)
	}
	if code, out, _ := runCLI("lint", "--config", "", "--fail-on", "warning", "--baseline", baseline, pcap); code != exitOK {
		t.Errorf("lint --baseline on the kept capture: exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI("lint", "--config", "", "--fail-on", "warning", pcap); code != exitFindings {
		t.Errorf("lint on the kept capture without baseline: exit %d, want 1\n%s", code, out)
	}

	// The command's status wins; nothing found and success is 0.
	if code, _, _ := runWith(nil, "false"); code != 1 {
		t.Errorf("run -- false: exit %d, want 1", code)
	}
	if code, _, _ := runWith(nil, "sh", "-c", "exit 3"); code != 3 {
		t.Errorf("run -- sh -c 'exit 3': exit %d, want 3", code)
	}
	if code, out, _ := runWith(nil, "true"); code != exitOK || !strings.Contains(out, "no findings") {
		t.Errorf("run -- true: exit %d, want 0\n%s", code, out)
	}
	start := time.Now()
	if code, _, _ := runWith(nil, "no-such-command-connlint"); code != 127 {
		t.Errorf("run -- no-such-command: exit %d, want 127", code)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("a command that cannot start should not wait for anything")
	}
}
