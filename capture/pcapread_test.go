package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gopacket/gopacket/pcapgo"
)

// The classic pcap records used to be read by pcapgo's Reader, given the
// header openPcap adjusts (version 2.4, the capped snap length); the
// pcapReader that replaced it (issue 15) must hand out the same packets
// and end with the same error at the same frame and offset for any bytes,
// however the stream below delivers them. These tests read every input
// both ways and compare.

// drainOne reads one input through a fileSource and writes down every
// packet and the error it ended with, as text.
func drainOne(t testing.TB, in *input) string {
	t.Helper()
	var b strings.Builder
	s := &fileSource{inputs: []*input{in}, pending: -1}
	s.start()
	for {
		p, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		// %#v of the Time shows its location too; empty and nil Data
		// print alike (pcapgo's first zero-length records were nil, ours
		// never are: nothing tells the two apart).
		fmt.Fprintf(&b, "%d %d %#v %s %d %d %x\n", p.Input, p.Frame, p.Time, p.Time, p.LinkType, p.Length, p.Data)
	}
	fmt.Fprintf(&b, "err: %v\n", s.Err())
	return b.String()
}

// openBoth opens the same bytes twice, once read by pcapReader and once by
// pcapgo as before; wrap makes each copy's stream (a fresh reader each
// time). It returns "" twice for what is not a classic pcap, and the
// opening error's text when opening fails.
func openBoth(t testing.TB, data []byte, wrap func(io.Reader) io.Reader) (ours, ref string) {
	t.Helper()
	in, err := newInput(0, "x", wrap(bytes.NewReader(data)), nopCloser{})
	if err != nil {
		return err.Error(), err.Error()
	}
	if in.pcap == nil {
		return "", ""
	}
	ours = drainOne(t, in)

	in, err = newInput(0, "x", wrap(bytes.NewReader(data)), nopCloser{})
	if err != nil {
		t.Fatalf("second open failed: %v", err)
	}
	p := in.pcap
	hdr := make([]byte, pcapHeaderLen)
	var bo binary.ByteOrder = binary.LittleEndian
	magic := uint32(magicPcapUsec)
	if p.factor == 1 {
		magic = magicPcapNsec
	}
	if p.big {
		bo = binary.BigEndian
	}
	bo.PutUint32(hdr, magic)
	bo.PutUint16(hdr[4:], 2)
	bo.PutUint16(hdr[6:], 4)
	bo.PutUint32(hdr[16:], uint32(p.snaplen))
	r, err := pcapgo.NewReader(io.MultiReader(bytes.NewReader(hdr), in.buf))
	if err != nil {
		t.Fatalf("pcapgo.NewReader: %v", err)
	}
	in.pcap, in.reader = nil, r
	return ours, drainOne(t, in)
}

// streams are the ways the bytes below the reader may arrive.
var streams = map[string]func(io.Reader) io.Reader{
	"whole":   func(r io.Reader) io.Reader { return r },
	"onebyte": iotest.OneByteReader,
	"half":    iotest.HalfReader,
	"dataerr": iotest.DataErrReader,
	"gzip":    gzipped,
	"gzipbad": gzipBadChecksum,
	"failing": func(r io.Reader) io.Reader { return &failAfter{r: r, n: 700} },
}

// gzipped compresses the stream (newInput sees the gzip magic).
func gzipped(r io.Reader) io.Reader {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.Copy(w, r)
	w.Close()
	return &b
}

// gzipBadChecksum is gzipped with a damaged CRC: the error comes with the
// last bytes.
func gzipBadChecksum(r io.Reader) io.Reader {
	b := gzipped(r).(*bytes.Buffer).Bytes()
	b[len(b)-8] ^= 0xff
	return bytes.NewReader(b)
}

// failAfter delivers n bytes and then an error that is not io.EOF.
type failAfter struct {
	r io.Reader
	n int
}

var errFail = errors.New("device error")

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errFail
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// edgePcaps are classic pcaps on each path of the record reader.
func edgePcaps(t testing.TB) map[string][]byte {
	t.Helper()
	hdr := func(magic uint32, big bool, snap uint32) []byte {
		var bo binary.ByteOrder = binary.LittleEndian
		if big {
			bo = binary.BigEndian
		}
		h := make([]byte, 24)
		bo.PutUint32(h, magic)
		bo.PutUint16(h[4:], 2)
		bo.PutUint16(h[6:], 4)
		bo.PutUint32(h[16:], snap)
		bo.PutUint32(h[20:], 1)
		return h
	}
	record := func(big bool, sec, frac, caplen, length uint32, data []byte) []byte {
		var bo binary.ByteOrder = binary.LittleEndian
		if big {
			bo = binary.BigEndian
		}
		r := make([]byte, 16)
		bo.PutUint32(r, sec)
		bo.PutUint32(r[4:], frac)
		bo.PutUint32(r[8:], caplen)
		bo.PutUint32(r[12:], length)
		return append(r, data...)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	out := map[string][]byte{}
	for _, big := range []bool{false, true} {
		for _, magic := range []uint32{magicPcapUsec, magicPcapNsec} {
			name := fmt.Sprintf("%x-big%v-", magic, big)
			h := hdr(magic, big, 65535)
			out[name+"plain"] = cat(h,
				record(big, 1700000000, 999999, 3, 60, []byte("abc")),
				record(big, 1700000001, 4294967295, 0, 0, nil), // the fraction wraps in pcapgo's uint32 product
				record(big, 0, 1000000, 5, 5, []byte("hello")), // a fraction past one second
				record(big, 4294967295, 0, 2, 2, []byte("zz")))
			out[name+"caplen>len"] = cat(h, record(big, 1, 1, 2, 2, []byte("ok")), record(big, 2, 2, 4, 3, []byte("bad!")))
			out[name+"caplen>snap"] = cat(h, record(big, 1, 1, 2, 2, []byte("ok")), record(big, 2, 2, 262145, 262145, make([]byte, 262145)))
			out[name+"at-snap"] = cat(h, record(big, 1, 1, 262144, 262144, bytes.Repeat([]byte{7}, 262144)), record(big, 2, 2, 1, 1, []byte{1}))
			big2 := bytes.Repeat([]byte{9}, 3*pcapBufSize+5) // longer than the buffer: it grows
			out[name+"huge-snap"] = cat(hdr(magic, big, 64<<20), record(big, 1, 1, 1, 1, []byte{1}), record(big, 2, 2, uint32(len(big2)), uint32(len(big2)), big2), record(big, 3, 3, 1, 1, []byte{3}))
			out[name+"lying-length"] = cat(hdr(magic, big, 64<<20), record(big, 1, 1, 1, 1, []byte{1}), record(big, 2, 2, 60<<20, 60<<20, []byte("short")))
			out[name+"over-maxRecord"] = cat(hdr(magic, big, 1<<31), record(big, 1, 1, maxRecord+1, maxRecord+1, nil))
			out[name+"header-only-then-end"] = cat(h, record(big, 1, 1, 1, 1, []byte{1}), record(big, 2, 2, 10, 10, nil))
		}
	}
	var many [][]byte
	many = append(many, hdr(magicPcapUsec, false, 1500))
	for i := range 2000 { // several buffer refills, records cut at the buffer's end
		many = append(many, record(false, uint32(i), uint32(i), uint32(i%1600), 1600, bytes.Repeat([]byte{byte(i)}, i%1600)))
	}
	out["many"] = cat(many...)
	v22 := hdr(magicPcapUsec, false, 0)
	binary.LittleEndian.PutUint16(v22[6:], 2)
	out["v2.2-snap0"] = cat(v22, record(false, 1, 1, 3, 3, []byte("abc")))
	return out
}

// compareBoth reads data both ways through the named streams (all if none).
func compareBoth(t *testing.T, name string, data []byte, only ...string) {
	t.Helper()
	for sname, wrap := range streams {
		if len(only) > 0 && !slices.Contains(only, sname) {
			continue
		}
		ours, ref := openBoth(t, data, wrap)
		if ours != ref {
			t.Errorf("%s via %s: pcapReader and pcapgo differ\nours:\n%s\npcapgo:\n%s", name, sname, clip(ours), clip(ref))
		}
	}
}

func clip(s string) string {
	if len(s) > 3000 {
		return s[:1500] + "\n...\n" + s[len(s)-1500:]
	}
	return s
}

func TestPcapReaderMatchesPcapgo(t *testing.T) {
	for name, data := range edgePcaps(t) {
		compareBoth(t, name, data)
		if len(data) < 4096 {
			// Every truncation: each record field, each byte of data.
			for n := range len(data) {
				ours, ref := openBoth(t, data[:n], streams["whole"])
				if ours != ref {
					t.Errorf("%s cut at %d: differ\nours:\n%s\npcapgo:\n%s", name, n, ours, ref)
				}
			}
		}
	}
	// Third-party captures, good and damaged (shared/robust), where present.
	if testing.Short() {
		return
	}
	var files []string
	for _, dir := range []string{filepath.Join("..", "..", "shared", "robust"), "/work/shared/robust"} {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			filepath.WalkDir(real, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng") || strings.HasSuffix(p, ".gz")) {
					files = append(files, p)
				}
				return nil
			})
			break
		}
	}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		compareBoth(t, p, data, "whole", "half", "gzip") // the edge cases go through the rest
	}
	t.Logf("%d third-party captures", len(files))
}

// FuzzPcapReaderMatchesPcapgo: for any bytes, read in one go or in uneven
// pieces, pcapReader and pcapgo agree packet for packet and on the error.
func FuzzPcapReaderMatchesPcapgo(f *testing.F) {
	for _, data := range edgePcaps(f) {
		if len(data) < 64<<10 {
			f.Add(data, uint8(0))
		}
	}
	seeds, _ := filepath.Glob("testdata/seeds/*.pcap")
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data, uint8(1))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, how uint8) {
		wrap := []func(io.Reader) io.Reader{streams["whole"], streams["onebyte"], streams["half"], streams["dataerr"], streams["gzip"], streams["gzipbad"],
			func(r io.Reader) io.Reader { return &failAfter{r: r, n: int(how) * 7} }}[int(how)%7]
		ours, ref := openBoth(t, data, wrap)
		if ours != ref {
			t.Fatalf("differ\nours:\n%s\npcapgo:\n%s", clip(ours), clip(ref))
		}
	})
}
