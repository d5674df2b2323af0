//go:build linux && cgo

package run

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/iostreams"
)

// helperEnv makes the test binary, run as COMMAND, act as the client and
// server of TestRunNetns instead of running tests.
const helperEnv = "CONNLINT_RUN_TEST_HELPER"

// TestMain lets the test binary be COMMAND (see helper).
func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode))
	}
	os.Exit(m.Run())
}

// helper serves one HTTP request on 127.0.0.1 to itself and prints the
// port; in "netns" mode it also fails (exit 3) when the host's listener,
// named by HOST_ADDR, is reachable: inside --netns it must not be.
func helper(mode string) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println("port", ln.Addr().(*net.TCPAddr).Port)
	if mode == "netns" {
		if c, err := net.DialTimeout("tcp", os.Getenv("HOST_ADDR"), time.Second); err == nil {
			c.Close()
			return 3
		}
	}
	return 0
}

// runArgs runs `connlint run ARGS` and returns its stdout and stderr.
func runArgs(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	ios, _, out, errOut := iostreams.Test()
	cmd := NewCmdRun(&cli.Factory{IO: ios, Version: "v0-test"}, nil)
	cmd.SetArgs(append([]string{"--config", "", "--drain", "100ms"}, args...))
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (capture, network namespaces)")
	}
	if os.Getenv("SUDO_USER") != "" {
		t.Skip("under sudo, run drops root for SUDO_USER: run the test as root itself")
	}
}

// --netns: COMMAND talks over its own loopback, cannot reach the host's
// (its attempt is refused inside the namespace), and the .pcapng capture
// holds its connection and none of the host's traffic on lo at the same
// time; connlint's own namespace is unchanged.
func TestRunNetns(t *testing.T) {
	needRoot(t)
	// root in a container may still be refused new namespaces
	if out, err := exec.Command("unshare", "-n", "true").CombinedOutput(); err != nil {
		t.Skipf("this machine refuses a new network namespace (unshare -n: %v %s)", err, out)
	}
	before, _ := os.Readlink("/proc/self/ns/net")
	listen := func() (net.Listener, int) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return ln, ln.Addr().(*net.TCPAddr).Port
	}
	unreachable, _ := listen() // COMMAND tries it
	host, hostPort := listen() // the host's own traffic
	// Host traffic on lo while COMMAND runs: must not be captured.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if c, err := net.Dial("tcp", host.Addr().String()); err == nil {
					c.Close()
				}
			}
		}
	}()

	file := filepath.Join(t.TempDir(), "ns.pcapng")
	t.Setenv(helperEnv, "netns")
	t.Setenv("HOST_ADDR", unreachable.Addr().String())
	out, errOut, err := runArgs(t, "--netns", "-w", file, "--format", "json", "--", os.Args[0])
	if err != nil {
		t.Fatalf("run --netns: %v (exit %v)\nstdout:\n%s\nstderr:\n%s", err, exitCode(err), out, errOut)
	}
	if !strings.Contains(errOut, "capturing on lo in a new network namespace") {
		t.Errorf("stderr does not name the namespace:\n%s", errOut)
	}
	var port int
	for _, l := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(l, "port "); ok {
			port, _ = strconv.Atoi(p)
		}
	}
	if port == 0 {
		t.Fatalf("COMMAND printed no port:\n%s", out)
	}
	src, err := capture.OpenFiles([]string{file}, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ports := map[int]int{}
	for {
		p, err := src.Next()
		if err != nil {
			break
		}
		// Ethernet (14) + IPv4 (20, no options on lo) + TCP ports.
		if len(p.Data) >= 38 && p.Data[23] == 6 {
			ports[int(p.Data[34])<<8|int(p.Data[35])]++
			ports[int(p.Data[36])<<8|int(p.Data[37])]++
		}
	}
	if ports[port] < 6 {
		t.Errorf("COMMAND's connection to port %d: %d packets in the capture, want ≥ 6 (ports %v)", port, ports[port], ports)
	}
	if ports[hostPort] != 0 {
		t.Errorf("the host's traffic to port %d was captured (%d packets)", hostPort, ports[hostPort])
	}
	if after, _ := os.Readlink("/proc/self/ns/net"); after != before {
		t.Errorf("connlint's network namespace changed: %s → %s", before, after)
	}
}

// --embed-keys: a TLS exchange run under connlint (an OpenSSL-based
// Python server, curl honouring SSLKEYLOGFILE) is decrypted by tshark from
// the .pcapng alone; without --embed-keys it is not. No key is printed.
func TestRunEmbedKeysTLS(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"tshark", "openssl", "curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if b, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
		"-days", "1", "-subj", "/CN=localhost").CombinedOutput(); err != nil {
		t.Skipf("openssl cannot make a certificate: %v\n%s", err, b)
	}
	script := filepath.Join(dir, "tls.sh")
	os.WriteFile(script, []byte(`set -e
python3 -c "
import http.server, ssl, sys
s = http.server.HTTPServer(('127.0.0.1', 8443), http.server.SimpleHTTPRequestHandler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()" `+cert+" "+key+` 2>/dev/null &
for i in $(seq 100); do curl -sk -o /dev/null https://127.0.0.1:8443/ && break; sleep 0.05; done
curl -sk -o /dev/null https://127.0.0.1:8443/
kill $!
`), 0o755)
	httpFrames := func(file string) int {
		b, err := exec.Command("tshark", "-r", file, "-o", "tls.keylog_file:/dev/null", "-Y", "http", "-T", "fields", "-e", "frame.number").Output()
		if err != nil {
			t.Fatalf("tshark -r %s: %v", file, err)
		}
		return len(strings.Fields(string(b)))
	}
	t.Setenv("SSLKEYLOGFILE", "") // run's own private key log
	for _, embed := range []bool{true, false} {
		file := filepath.Join(dir, fmt.Sprintf("embed-%v.pcapng", embed))
		args := []string{"--netns", "-w", file, "--", "sh", script}
		if embed {
			args = append([]string{"--embed-keys"}, args...)
		}
		out, errOut, err := runArgs(t, args...)
		if err != nil {
			t.Fatalf("run %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, out, errOut)
		}
		keys, err := os.ReadFile(file + ".keys")
		if err != nil || !bytes.Contains(keys, []byte("CLIENT")) {
			t.Fatalf("no TLS keys logged (%v): is curl built without SSLKEYLOGFILE support?\n%s", err, errOut)
		}
		for _, l := range strings.Split(string(keys), "\n") {
			if f := strings.Fields(l); len(f) == 3 && strings.Contains(out+errOut, f[2]) {
				t.Errorf("a secret from the key log was printed:\n%s%s", out, errOut)
			}
		}
		n := httpFrames(file)
		fi, _ := os.Stat(file)
		switch {
		case embed && n < 4:
			t.Errorf("tshark decrypts %d HTTP frames with the embedded keys, want ≥ 4 (2 requests, 2 responses)\n%s", n, errOut)
		case embed && fi.Mode().Perm() != 0o600:
			t.Errorf("file with embedded keys has mode %v, want 0600", fi.Mode().Perm())
		case embed && !strings.Contains(errOut, "TLS session keys embedded in "+file):
			t.Errorf("stderr does not say the keys were embedded:\n%s", errOut)
		case !embed && n != 0:
			t.Errorf("tshark decrypts %d HTTP frames without keys: the test proves nothing", n)
		}
	}
}

// --embed-keys wants a pcapng -w file, and --netns an interface that
// exists in the namespace: one-line usage errors, before any capture.
func TestRunFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--embed-keys", "--", "true"}, "--embed-keys needs -w FILE.pcapng"},
		{[]string{"--embed-keys", "-w", "x.pcap", "--", "true"}, "--embed-keys needs -w FILE.pcapng"},
		{[]string{"--netns", "-i", "eth0", "--", "true"}, "--netns: the namespace has only lo; -i eth0"},
	} {
		_, _, err := runArgs(t, tc.args...)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") || exitCode(err) != cli.ExitBadInput {
			t.Errorf("%v: %v (exit %d), want %q", tc.args, err, exitCode(err), tc.want)
		}
	}
}

func exitCode(err error) int {
	var ee *cli.ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return -1
}
