//go:build cgo

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	sniffBinOnce sync.Once
	sniffBin     string
	sniffBinErr  error
)

// liveBinary builds connlint once for the live tests, which run it as a
// process so that signals reach it as they would from a terminal.
func liveBinary(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (CI runs this as root)")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	sniffBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "connlint-live")
		if err != nil {
			sniffBinErr = err
			return
		}
		sniffBin = filepath.Join(dir, "connlint")
		if out, err := exec.Command("go", "build", "-o", sniffBin, ".").CombinedOutput(); err != nil {
			sniffBinErr = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if sniffBinErr != nil {
		t.Fatal(sniffBinErr)
	}
	return sniffBin
}

// stampedLine is one line of sniff's stdout and when the test read it.
type stampedLine struct {
	at   time.Time
	text string
}

// liveSniff is a running `connlint sniff`.
type liveSniff struct {
	cmd    *exec.Cmd
	lines  chan stampedLine // stdout, closed at EOF
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

// startSniff runs sniff with args and waits for its "listening on" line.
func startSniff(t *testing.T, args ...string) *liveSniff {
	t.Helper()
	s := &liveSniff{lines: make(chan stampedLine, 1000), done: make(chan error, 1)}
	s.cmd = exec.Command(liveBinary(t), append([]string{"sniff", "-i", "lo", "-Z", "-"}, args...)...)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errp, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.cmd.Process.Kill() })
	ready := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(errp)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.Contains(sc.Text(), "listening on lo") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			s.lines <- stampedLine{time.Now(), sc.Text()}
		}
		close(s.lines)
	}()
	go func() { wg.Wait(); s.done <- s.cmd.Wait() }()
	select {
	case <-ready:
	case err := <-s.done:
		t.Fatalf("sniff exited before listening: %v\nstderr: %s", err, s.errText())
	case <-time.After(10 * time.Second):
		t.Fatalf("no listening line after 10 s; stderr: %s", s.errText())
	}
	return s
}

func (s *liveSniff) errText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

// wait waits for sniff to exit by itself or after a signal.
func (s *liveSniff) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("sniff exited with %v\nstderr: %s", err, s.errText())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("sniff did not exit; stderr: %s", s.errText())
	}
}

// rest drains the stdout lines still to come (after exit).
func (s *liveSniff) rest() []string {
	var out []string
	for l := range s.lines {
		out = append(out, l.text)
	}
	return out
}

// overrunServer answers one request with more body bytes than its
// Content-Length says, then closes: a content-length-mismatch (overrun).
func overrunServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		var req []byte
		for !bytes.Contains(req, []byte("\r\n\r\n")) {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			req = append(req, buf[:n]...)
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhello world")
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// resetServer reads only the first of the pipelined requests, answers it
// and closes: the unread request makes the kernel send a RST, an
// abortive-close, which the rule reports when the connection ends.
func resetServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var req []byte
		one := make([]byte, 1)
		for !bytes.HasSuffix(req, []byte("\r\n\r\n")) {
			if _, err := c.Read(one); err != nil {
				return
			}
			req = append(req, one[0])
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		time.Sleep(50 * time.Millisecond) // the response is out (and acknowledged) before the RST
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// Issue 13: a finding about a connection comes out within about a second of
// the connection's end, with no further traffic on the interface: live
// time advances with the wall clock (ticks), and a closed connection ends
// once its close linger (LiveCloseLinger) has passed. abortive-close is
// reported at the connection's end, so without ticks it would wait for the
// next packet.
func TestSniffFindingSoonAfterConnectionEnd(t *testing.T) {
	port := resetServer(t)
	s := startSniff(t, "--format", "ndjson", "tcp", "port", fmt.Sprint(port))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /a HTTP/1.1\r\nHost: test\r\n\r\nGET /b HTTP/1.1\r\nHost: test\r\n\r\n")
	io.ReadAll(c) // until the RST (or FIN)
	ended := time.Now()
	c.Close()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("sniff ended; stderr: %s", s.errText())
			}
			if !strings.Contains(l.text, `"rule":"abortive-close"`) {
				continue
			}
			lag := l.at.Sub(ended)
			t.Logf("finding %v after the connection's end", lag.Round(time.Millisecond))
			// "within about a second" (issue 13), plus slack for a loaded
			// 2-core CI machine; before ticks it took the next packet (seconds)
			if lag > 2500*time.Millisecond {
				t.Errorf("finding came %v after the connection ended, want within 2.5 s", lag)
			}
			s.cmd.Process.Signal(syscall.SIGINT)
			s.wait(t)
			return
		case <-timeout:
			t.Fatalf("no abortive-close finding 5 s after the connection ended; stderr: %s", s.errText())
		}
	}
}

// ndjsonSummary is the fields of sniff's NDJSON summary record the tests read.
type ndjsonSummary struct {
	Type         string `json:"type"`
	Packets      int64  `json:"packets"`
	Connections  int64  `json:"connections"`
	Captured     *int64 `json:"captured"`
	QueueDropped *int64 `json:"queue_dropped"`
}

func lastSummary(t *testing.T, lines []string, stderr string) ndjsonSummary {
	t.Helper()
	if len(lines) == 0 {
		t.Fatalf("no output; stderr: %s", stderr)
	}
	var sum ndjsonSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != "summary" {
		t.Fatalf("last line is not a summary record (%v): %s", err, lines[len(lines)-1])
	}
	if sum.Captured == nil || sum.QueueDropped == nil {
		t.Errorf("summary lacks captured/queue_dropped: %s", lines[len(lines)-1])
	}
	for _, want := range []string{"packets captured", "packets received by filter", "packets dropped by kernel", "packets dropped by queue"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, stderr)
		}
	}
	return sum
}

// SIGINT ends an NDJSON stream with a summary record, after the findings,
// and the tcpdump-style counts go to stderr.
func TestSniffNDJSONSummaryOnSIGINT(t *testing.T) {
	port := overrunServer(t)
	s := startSniff(t, "--format", "ndjson", "tcp", "port", fmt.Sprint(port))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
	io.ReadAll(c)
	c.Close()
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGINT)
	s.wait(t)
	lines := s.rest()
	sum := lastSummary(t, lines, s.errText())
	if sum.Connections != 1 || *sum.Captured == 0 || *sum.Captured != sum.Packets+*sum.QueueDropped {
		t.Errorf("summary %+v (captured %d): want 1 connection, captured = packets + queue dropped", sum, *sum.Captured)
	}
	var findings int
	for _, l := range lines[:len(lines)-1] {
		if strings.Contains(l, `"rule":"content-length-mismatch"`) {
			findings++
		}
	}
	if findings != 1 {
		t.Errorf("%d content-length-mismatch findings before the summary, want 1:\n%s", findings, strings.Join(lines, "\n"))
	}
}

// -c stops the capture by itself after that many packets, with the summary.
func TestSniffCount(t *testing.T) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	port := sink.LocalAddr().(*net.UDPAddr).Port
	s := startSniff(t, "--format", "ndjson", "-c", "5", "udp", "port", fmt.Sprint(port))
	c, err := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 20 {
		c.Write([]byte("x"))
	}
	s.wait(t)
	sum := lastSummary(t, s.rest(), s.errText())
	if *sum.Captured != 5 {
		t.Errorf("captured %d with -c 5", *sum.Captured)
	}
}

// A -w path that cannot be created is named in the error, exit 2.
func TestSniffWriteFileError(t *testing.T) {
	bin := liveBinary(t)
	out, err := exec.Command(bin, "sniff", "-i", "lo", "-Z", "-", "-w", "/nonexistent/x.pcap").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want 2: %s", err, out)
	}
	if !strings.Contains(string(out), "/nonexistent/x.pcap") {
		t.Errorf("error does not name the path: %s", out)
	}
}

// keepAliveServer is a Go HTTP server (it offers keep-alive: HTTP/1.1, no
// Connection: close) on 127.0.0.1; returns its port.
func keepAliveServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// oneRequest makes one request on a connection of its own and closes it
// (the client closes first, as a client without a pool does). It writes
// the request by hand: Go's client with DisableKeepAlives would send
// Connection: close, and then the server would not offer persistence.
func oneRequest(t *testing.T, port int) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /one HTTP/1.1\r\nHost: test\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the server did not offer to keep the connection open")
	}
}

// Issue 13: a cross-connection finding appears while the capture runs, once
// it is true, not only at exit; and exit does not repeat it.
func TestSniffCrossConnectionFindingBeforeExit(t *testing.T) {
	port := keepAliveServer(t)
	s := startSniff(t, "--format", "ndjson", "--no-reuse-min", "3", "tcp", "port", fmt.Sprint(port))
	for range 3 {
		oneRequest(t, port)
		time.Sleep(50 * time.Millisecond) // sequential: each opens after the last closed
	}
	ended := time.Now()
	timeout := time.After(3500 * time.Millisecond)
	found := false
	for !found {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("sniff ended; stderr: %s", s.errText())
			}
			if strings.Contains(l.text, `"rule":"no-connection-reuse"`) {
				found = true
				t.Logf("finding %v after the last connection's end: %s", l.at.Sub(ended).Round(time.Millisecond), l.text)
			}
		case <-timeout:
			t.Fatalf("no no-connection-reuse finding 3.5 s after the third connection ended (before exit); stderr: %s", s.errText())
		}
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	s.wait(t)
	lines := s.rest()
	lastSummary(t, lines, s.errText())
	for _, l := range lines {
		if strings.Contains(l, `"rule":"no-connection-reuse"`) {
			t.Errorf("no-connection-reuse reported again at exit: %s", l)
		}
	}
	if !strings.Contains(lines[len(lines)-1], `"no-connection-reuse":1`) {
		t.Errorf("summary does not count one no-connection-reuse finding: %s", lines[len(lines)-1])
	}
}

// A live sniff goes through the config's suppressions: the suppressed
// finding is not streamed, and the summary record counts it and names
// connlint's version.
func TestSniffSuppressionLive(t *testing.T) {
	port := overrunServer(t)
	cfg := filepath.Join(t.TempDir(), "connlint.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("suppressions:\n  - rule: content-length-mismatch\n    server: 127.0.0.1:%d\n    reason: test server overruns on purpose\n", port)), 0o644)
	s := startSniff(t, "--config", cfg, "--format", "ndjson", "tcp", "port", fmt.Sprint(port))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n")
	io.ReadAll(c)
	c.Close()
	time.Sleep(300 * time.Millisecond)
	s.cmd.Process.Signal(syscall.SIGINT)
	s.wait(t)
	lines := s.rest()
	lastSummary(t, lines, s.errText())
	for _, l := range lines[:len(lines)-1] {
		if strings.Contains(l, `"rule":"content-length-mismatch"`) {
			t.Errorf("suppressed finding streamed: %s", l)
		}
	}
	var sum struct {
		Connlint string `json:"connlint"`
		Run      struct {
			Config     string `json:"config"`
			Suppressed int    `json:"suppressed"`
		} `json:"run"`
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &sum)
	if sum.Connlint == "" || sum.Run.Config != cfg || sum.Run.Suppressed != 1 {
		t.Errorf("summary record %s", lines[len(lines)-1])
	}
}
