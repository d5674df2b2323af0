package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzReadFile feeds arbitrary bytes to the file reader: it must never
// panic (not even inside pcapgo, which would show as "reader panic"), never
// hand out more packets than the bytes could hold, and report damage as one
// line.
func FuzzReadFile(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/seeds/*.pcap*")
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(pcapBytes(1, rec{0, payload(1)}, rec{time.Millisecond, payload(2)}))
	f.Add(pcapBytes(0x40000001, rec{0, payload(3)}))
	f.Add(ngBytes(f))
	f.Add(pcapgoBytes(f, rec{0, payload(4)}))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := newInput(0, "fuzz", bytes.NewReader(data), nopCloser{})
		if err != nil {
			checkErr(t, err)
			return
		}
		s := &fileSource{inputs: []*input{in}, pending: -1}
		s.start()
		var n int
		for {
			p, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			n++
			if p.Frame != int64(n) {
				t.Fatalf("frame %d, want %d", p.Frame, n)
			}
			// Every record costs at least 16 bytes (pcap header, pcapng SPB).
			if 16*n > len(data) {
				t.Fatalf("%d packets from %d bytes", n, len(data))
			}
		}
		if err := s.Err(); err != nil {
			checkErr(t, err)
		}
	})
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *InputError", err, err)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r") {
		t.Fatalf("multi-line error %q", msg)
	}
	if strings.Contains(msg, "reader panic") {
		t.Fatalf("pcapgo panicked: %s", msg)
	}
}
