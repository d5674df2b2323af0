//go:build cgo

package capture

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLiveErrors(t *testing.T) {
	_, err := OpenLive(LiveOptions{Interface: "connlint-nonexistent0", DropUser: "-"})
	if err == nil {
		t.Fatal("no error for a missing interface")
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "capture on connlint-nonexistent0: ") {
		t.Errorf("error %q", msg)
	}
	// As root the interface is missing; otherwise permission may come first.
	if os.Geteuid() == 0 && !strings.Contains(msg, "no such interface") {
		t.Errorf("error %q, want no such interface", msg)
	}
	if os.Geteuid() != 0 {
		if _, err := OpenLive(LiveOptions{Interface: "lo"}); err == nil || !strings.Contains(err.Error(), "need root or CAP_NET_RAW") {
			t.Logf("non-root open of lo: %v (CAP_NET_RAW may be granted)", err)
		}
	}
}

func TestLiveLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root (run the tests with sudo to include it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	out := filepath.Join(t.TempDir(), "live.pcap")
	src, err := OpenLive(LiveOptions{Interface: "lo", Filter: fmt.Sprintf("tcp port %d", port), Immediate: true, WriteFile: out, DropUser: "-"})
	if err != nil {
		t.Skipf("cannot capture on lo: %v", err)
	}
	defer src.Close()

	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	c.Close()

	// Interrupt after a while so that a missing packet fails instead of hanging.
	go func() { time.Sleep(3 * time.Second); src.(interface{ Interrupt() }).Interrupt() }()
	var n int64
	for n < 6 { // SYN, SYN-ACK, ACK, data, FIN..., at least 6 on any kernel
		p, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if p.Frame != n || p.Input != 0 || p.LinkType == 0 && len(p.Data) < 4 {
			t.Errorf("packet %d: frame %d input %d", n, p.Frame, p.Input)
		}
	}
	if n < 6 {
		t.Fatalf("saw %d packets on lo, want at least 6", n)
	}
	st := src.Stats()
	if !st.Live || st.Packets != n {
		t.Errorf("Stats %+v", st)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	saved := readAll(t, open(t, []string{out}, FileOptions{}))
	if int64(len(saved)) != n {
		t.Errorf("write file holds %d packets, want %d", len(saved), n)
	}
}
