package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

type rec struct {
	at   time.Duration // after t0
	data []byte
}

// pcapBytes builds a classic little-endian microsecond pcap by hand, so that
// tests control the raw link-type field and the version.
func pcapBytes(linkType uint32, recs ...rec) []byte {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], magicPcapUsec)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], linkType)
	b.Write(hdr)
	for _, r := range recs {
		ts := t0.Add(r.at)
		rh := make([]byte, 16)
		binary.LittleEndian.PutUint32(rh[0:], uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(rh[4:], uint32(ts.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(rh[8:], uint32(len(r.data)))
		binary.LittleEndian.PutUint32(rh[12:], uint32(len(r.data)))
		b.Write(rh)
		b.Write(r.data)
	}
	return b.Bytes()
}

// pcapgoBytes writes a pcap with pcapgo's own writer.
func pcapgoBytes(t testing.TB, recs ...rec) []byte {
	t.Helper()
	var b bytes.Buffer
	w := pcapgo.NewWriterNanos(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(r.at), CaptureLength: len(r.data), Length: len(r.data)}
		if err := w.WritePacket(ci, r.data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

func payload(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 20+i) }

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// readAll drains a source, copying Data since it is only valid until Next.
func readAll(t *testing.T, s Source) []Packet {
	t.Helper()
	var out []Packet
	for {
		p, err := s.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		p.Data = bytes.Clone(p.Data)
		out = append(out, p)
	}
}

func open(t *testing.T, paths []string, opts FileOptions) Source {
	t.Helper()
	s, err := OpenFiles(paths, opts)
	if err != nil {
		t.Fatalf("OpenFiles: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPcapFramesAndData(t *testing.T) {
	recs := []rec{{0, payload(1)}, {time.Millisecond, payload(2)}, {2 * time.Millisecond, payload(3)}}
	for name, data := range map[string][]byte{"hand.pcap": pcapBytes(1, recs...), "pcapgo.pcap": pcapgoBytes(t, recs...)} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, name, data)
			s := open(t, []string{path}, FileOptions{})
			got := readAll(t, s)
			if len(got) != 3 {
				t.Fatalf("got %d packets, want 3", len(got))
			}
			for i, p := range got {
				if p.Frame != int64(i+1) || p.Input != 0 || p.LinkType != 1 {
					t.Errorf("packet %d: frame %d input %d link %d", i, p.Frame, p.Input, p.LinkType)
				}
				if !bytes.Equal(p.Data, payload(i+1)) || p.Length != len(payload(i+1)) {
					t.Errorf("packet %d: wrong data or length %d", i, p.Length)
				}
				if !p.Time.Equal(t0.Add(recs[i].at)) {
					t.Errorf("packet %d: time %v, want %v", i, p.Time, t0.Add(recs[i].at))
				}
			}
			if err := s.Err(); err != nil {
				t.Errorf("Err: %v", err)
			}
			if st := s.Stats(); st.Packets != 3 || st.Live {
				t.Errorf("Stats: %+v", st)
			}
			if got := s.(interface{ BytesRead() int64 }).BytesRead(); got != int64(len(data)) {
				t.Errorf("BytesRead %d, want %d", got, len(data))
			}
			if got := SizeOf([]string{path}); got != int64(len(data)) {
				t.Errorf("SizeOf %d, want %d", got, len(data))
			}
		})
	}
}

func TestMergeByTimestamp(t *testing.T) {
	ms := time.Millisecond
	// a: 0, 2, 4(tie with b), 9 ; b: 1, 4, 5 ; c: empty but valid.
	a := writeFile(t, "a.pcap", pcapBytes(1, rec{0, payload(1)}, rec{2 * ms, payload(2)}, rec{4 * ms, payload(3)}, rec{9 * ms, payload(4)}))
	b := writeFile(t, "b.pcap.gz", gz(t, pcapBytes(1, rec{1 * ms, payload(5)}, rec{4 * ms, payload(6)}, rec{5 * ms, payload(7)})))
	c := writeFile(t, "c.pcap", pcapBytes(1))
	s := open(t, []string{a, b, c}, FileOptions{})
	type key struct {
		input int
		frame int64
	}
	want := []key{{0, 1}, {1, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {0, 4}}
	got := readAll(t, s)
	if len(got) != len(want) {
		t.Fatalf("got %d packets, want %d", len(got), len(want))
	}
	for i, p := range got {
		if (key{p.Input, p.Frame}) != want[i] {
			t.Errorf("packet %d: input %d frame %d, want %v", i, p.Input, p.Frame, want[i])
		}
	}
	// Data of every packet must have survived the other inputs' reads.
	if !bytes.Equal(got[1].Data, payload(5)) || !bytes.Equal(got[6].Data, payload(4)) {
		t.Error("packet data mixed up between inputs")
	}
	if in := s.Inputs(); len(in) != 3 || in[1] != b {
		t.Errorf("Inputs: %v", in)
	}
}

func TestZeroCopyDataValidUntilNext(t *testing.T) {
	// Two inputs interleaved: the packet handed out must not be overwritten
	// by reading ahead in its own input before the caller calls Next again.
	a := writeFile(t, "a.pcap", pcapBytes(1, rec{0, payload(1)}, rec{2 * time.Millisecond, payload(2)}))
	b := writeFile(t, "b.pcap", pcapBytes(1, rec{time.Millisecond, payload(3)}))
	s := open(t, []string{a, b}, FileOptions{})
	p, _ := s.Next()
	if !bytes.Equal(p.Data, payload(1)) {
		t.Fatalf("first packet %x", p.Data)
	}
}

func TestGzip(t *testing.T) {
	plain := pcapBytes(1, rec{0, payload(1)}, rec{time.Second, payload(2)})
	// Detected by magic, whatever the name.
	p := writeFile(t, "noext.cap", gz(t, plain))
	s := open(t, []string{p}, FileOptions{})
	if got := readAll(t, s); len(got) != 2 || !bytes.Equal(got[1].Data, payload(2)) {
		t.Fatalf("gzip: got %d packets", len(got))
	}
	if s.Err() != nil {
		t.Errorf("Err: %v", s.Err())
	}
	if n, size := s.(interface{ BytesRead() int64 }).BytesRead(), SizeOf([]string{p}); n != size {
		t.Errorf("BytesRead %d, SizeOf %d: compressed bytes expected", n, size)
	}
	// A .gz name on a file that is not gzip is an opening error.
	q := writeFile(t, "x.pcap.gz", plain)
	if _, err := OpenFiles([]string{q}, FileOptions{}); err == nil {
		t.Error("plain file named .gz: no error")
	}
}

func TestTruncated(t *testing.T) {
	full := pcapBytes(1, rec{0, payload(1)}, rec{time.Millisecond, payload(2)}, rec{2 * time.Millisecond, payload(3)})
	cut := len(full) - 5 // inside the third record's data
	third := int64(24 + 16 + len(payload(1)) + 16 + len(payload(2)))
	good := writeFile(t, "good.pcap", pcapBytes(1, rec{time.Microsecond, payload(9)}))
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"plain.pcap", full[:cut]},
		{"gz.pcap.gz", gz(t, full[:cut])},
		{"gzcut.pcap.gz", gz(t, full)[:len(gz(t, full))-12]}, // gzip trailer and some data missing
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := writeFile(t, tc.name, tc.data)
			s := open(t, []string{bad, good}, FileOptions{})
			got := readAll(t, s)
			var fromBad int
			for _, p := range got {
				if p.Input == 0 {
					fromBad++
				}
			}
			if tc.name != "gzcut.pcap.gz" && fromBad != 2 {
				t.Errorf("got %d packets from the damaged file, want 2", fromBad)
			}
			if len(got)-fromBad != 1 {
				t.Errorf("the good input lost packets")
			}
			var ie *InputError
			if err := s.Err(); !errors.As(err, &ie) {
				t.Fatalf("Err = %v, want *InputError", err)
			}
			if ie.Path != bad || ie.Frame != int64(fromBad) {
				t.Errorf("InputError %+v", ie)
			}
			if tc.name != "gzcut.pcap.gz" && ie.Offset != third {
				t.Errorf("offset %d, want %d (start of the cut record)", ie.Offset, third)
			}
			if msg := ie.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "after frame") {
				t.Errorf("message %q", msg)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	garbage := writeFile(t, "garbage.pcap", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	for _, tc := range []struct {
		path, want string
	}{
		{filepath.Join(t.TempDir(), "missing.pcap"), "no such file"},
		{garbage, "not a pcap or pcapng file (magic 0x47455420)"},
		{writeFile(t, "empty.pcap", nil), "empty file"},
		{writeFile(t, "short.pcap", pcapBytes(1)[:10]), "truncated"},
		{t.TempDir(), "directory"},
	} {
		_, err := OpenFiles([]string{tc.path}, FileOptions{})
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("%s: err %v, want *InputError", tc.path, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q, want one line with %q", tc.path, msg, tc.want)
		}
	}
}

func TestLinkTypeUpperBits(t *testing.T) {
	// 0x4000_0001: Ethernet with "FCS length present" flags in the upper bits.
	p := writeFile(t, "fcs.pcap", pcapBytes(0x40000001, rec{0, payload(1)}))
	got := readAll(t, open(t, []string{p}, FileOptions{}))
	if len(got) != 1 || got[0].LinkType != 1 {
		t.Fatalf("got %+v, want one packet with link type 1", got)
	}
}

func TestPcapMinorVersion(t *testing.T) {
	// Wireshark reads any 2.x file; pcapgo alone insists on 2.4.
	data := pcapBytes(1, rec{0, payload(1)})
	binary.LittleEndian.PutUint16(data[6:], 2)
	p := writeFile(t, "v22.pcap", data)
	if got := readAll(t, open(t, []string{p}, FileOptions{})); len(got) != 1 {
		t.Fatalf("got %d packets, want 1", len(got))
	}
}

func TestOversizedRecord(t *testing.T) {
	// A 40-byte file claiming a 3 GiB record must fail fast, not allocate.
	data := pcapBytes(1, rec{0, payload(1)})
	data = append(data, make([]byte, 16)...)
	rh := data[len(data)-16:]
	binary.LittleEndian.PutUint32(rh[8:], 3<<30)
	binary.LittleEndian.PutUint32(rh[12:], 3<<30)
	p := writeFile(t, "huge.pcap", data)
	s := open(t, []string{p}, FileOptions{})
	if got := readAll(t, s); len(got) != 1 {
		t.Errorf("got %d packets, want 1", len(got))
	}
	if s.Err() == nil {
		t.Error("no error for the oversized record")
	}
}

// ngBytes writes a pcapng with two interfaces of different link types.
func ngBytes(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&b, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.NgWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := w.AddInterface(pcapgo.NgInterface{Name: "tun0", LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	for i, iface := range []int{0, id, 0, id} {
		d := payload(i + 1)
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(d), Length: len(d), InterfaceIndex: iface}
		if err := w.WritePacket(ci, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestPcapngMixedLinkTypes(t *testing.T) {
	p := writeFile(t, "two.pcapng", ngBytes(t))
	s := open(t, []string{p}, FileOptions{})
	got := readAll(t, s)
	wantLT := []int{1, int(layers.LinkTypeRaw), 1, int(layers.LinkTypeRaw)}
	if len(got) != 4 {
		t.Fatalf("got %d packets, want 4", len(got))
	}
	for i, pk := range got {
		if pk.LinkType != wantLT[i] || pk.Frame != int64(i+1) || !bytes.Equal(pk.Data, payload(i+1)) {
			t.Errorf("packet %d: link %d frame %d", i, pk.LinkType, pk.Frame)
		}
		if !pk.Time.Equal(t0.Add(time.Duration(i) * time.Millisecond)) {
			t.Errorf("packet %d: time %v", i, pk.Time)
		}
	}
	if s.Err() != nil {
		t.Errorf("Err: %v", s.Err())
	}
}

func TestPcapngTruncated(t *testing.T) {
	data := ngBytes(t)
	p := writeFile(t, "cut.pcapng", data[:len(data)-6])
	s := open(t, []string{p}, FileOptions{})
	if got := readAll(t, s); len(got) != 3 {
		t.Errorf("got %d packets, want 3", len(got))
	}
	var ie *InputError
	if !errors.As(s.Err(), &ie) || ie.Frame != 3 || !strings.Contains(ie.Error(), "truncated") {
		t.Fatalf("Err = %v, want truncation after frame 3", s.Err())
	}
	if ie.Offset <= 0 || ie.Offset > int64(len(data)) {
		t.Errorf("offset %d out of range", ie.Offset)
	}
}

func TestPcapngBadBlockLength(t *testing.T) {
	data := ngBytes(t)
	// Find the last enhanced packet block and give it a 2 GiB length.
	last := bytes.LastIndex(data, []byte{6, 0, 0, 0})
	binary.LittleEndian.PutUint32(data[last+4:], 2<<30)
	p := writeFile(t, "bad.pcapng", data)
	s := open(t, []string{p}, FileOptions{})
	if got := readAll(t, s); len(got) != 3 {
		t.Errorf("got %d packets, want 3", len(got))
	}
	var ie *InputError
	if !errors.As(s.Err(), &ie) || ie.Offset != int64(last) || !strings.Contains(ie.Error(), "block length") {
		t.Fatalf("Err = %v, want a block-length error at offset %d", s.Err(), last)
	}
}

func TestStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Skip("no pipe:", err)
	}
	old := os.Stdin
	os.Stdin = r
	t.Cleanup(func() { os.Stdin = old; r.Close() })
	data := gz(t, pcapBytes(1, rec{0, payload(1)}, rec{time.Millisecond, payload(2)}))
	go func() { w.Write(data); w.Close() }()
	s := open(t, []string{"-"}, FileOptions{})
	if got := readAll(t, s); len(got) != 2 {
		t.Errorf("got %d packets from stdin, want 2", len(got))
	}
	if in := s.Inputs(); in[0] != "-" {
		t.Errorf("Inputs %v", in)
	}
	if SizeOf([]string{"-"}) != -1 {
		t.Error("SizeOf(stdin) should be unknown")
	}
}

func TestPcapngDecryptionSecrets(t *testing.T) {
	data := ngBytes(t)
	// Before the first enhanced packet block: a TLS key log without a final
	// newline, a block of another secrets type (WireGuard), and a second key log.
	first := bytes.Index(data, []byte{6, 0, 0, 0})
	var b []byte
	b = append(b, data[:first]...)
	b = append(b, dsb(binary.LittleEndian, 0x544c534b, []byte("CLIENT_RANDOM 01 02"))...)
	b = append(b, dsb(binary.LittleEndian, 0x57474b4c, []byte("WG key, not TLS"))...)
	b = append(b, dsb(binary.LittleEndian, 0x544c534b, []byte("# second\n"))...)
	b = append(b, data[first:]...)
	s := open(t, []string{writeFile(t, "keys.pcapng", b)}, FileOptions{})
	var secrets []string
	n := 0
	for {
		p, err := s.Next()
		if err != nil {
			break
		}
		n++
		if p.Frame != int64(n) {
			t.Errorf("packet %d has frame %d: a secrets block is no frame", n, p.Frame)
		}
		if p.Secrets != nil {
			secrets = append(secrets, string(p.Secrets))
		}
	}
	if n != 4 || s.Err() != nil {
		t.Fatalf("%d packets, err %v", n, s.Err())
	}
	if want := "CLIENT_RANDOM 01 02\n# second\n"; strings.Join(secrets, "") != want {
		t.Errorf("secrets %q, want %q", secrets, want)
	}
}
