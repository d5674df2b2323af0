//go:build cgo

package capture

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A live capture with a .pcapng -w name writes pcapng (libpcap's packets
// carry lo's ifindex, which must not leak into the EPB's interface number)
// holding every captured packet, as OpenFiles and tshark count them.
func TestLivePcapng(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture needs root")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	out := filepath.Join(t.TempDir(), "live.pcapng")
	src, err := OpenLive(LiveOptions{Interface: "lo", Filter: fmt.Sprintf("tcp port %d", ln.Addr().(*net.TCPAddr).Port),
		Immediate: true, WriteFile: out, DropUser: "-", Count: 6, Duration: 15 * time.Second, Application: "connlint test"})
	if err != nil {
		t.Skipf("cannot capture on lo: %v", err)
	}
	defer src.Close()
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		c.Close()
	}
	for {
		if _, err := src.Next(); err != nil {
			break
		}
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if err := src.Err(); err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, open(t, []string{out}, FileOptions{}))); n != 6 {
		t.Errorf("%s holds %d packets, want 6 (-c 6)", out, n)
	}
	tsharkCount(t, out, 6)
}
