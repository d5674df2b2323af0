//go:build cgo

package main

import (
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
	"syscall"
	"testing"
	"time"
)

// TestSniffLive captures on loopback while a real Go client and server
// exchange HTTP, then checks, from connlint's own report, that the
// transactions were seen. It needs root (CI runs as root).
func TestSniffLive(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (CI runs this as root)")
	}
	if testing.Short() {
		t.Skip("short mode")
	}
	bin := filepath.Join(t.TempDir(), "connlint")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "hello %s\n", r.URL.Path)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	pcapOut := filepath.Join(t.TempDir(), "live.pcap")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "sniff", "-i", "lo", "--format", "json", "-Z", "-", "-w", pcapOut, "tcp", "port", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(1500 * time.Millisecond) // let libpcap open the handle

	client := &http.Client{Timeout: 5 * time.Second}
	paths := []string{"/a", "/b", "/c"}
	for _, p := range paths {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, p))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("sniff exited with %v\nstderr: %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sniff did not stop on SIGINT")
	}
	var doc jsonDoc
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("sniff output is not JSON: %v\n%s", err, stdout.String())
	}
	var seen []string
	for _, c := range doc.Connections {
		for _, tx := range c.Transactions {
			if tx.Status == 200 {
				seen = append(seen, tx.Method+" "+tx.Target)
			}
		}
	}
	if strings.Join(seen, ",") != "GET /a,GET /b,GET /c" {
		t.Fatalf("transactions seen live: %v, want GET /a, /b, /c on one keep-alive connection\nstderr: %s", seen, stderr.String())
	}
	if !strings.Contains(stderr.String(), "packets received by filter") {
		t.Errorf("no capture statistics on exit: %q", stderr.String())
	}
	// the -w file holds the same traffic and analyzes to the same transactions
	doc2, code, _ := analyzeJSON(t, pcapOut)
	if code != 0 || doc2.Summary.Transactions != 3 {
		t.Errorf("saved capture: exit %d, %d transactions, want 3", code, doc2.Summary.Transactions)
	}
}
