package capture

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
)

// writeNg writes n packets of growing size (odd lengths, so that EPB
// padding is exercised) to a .pcapng -w file and returns the writer.
func writeNg(t *testing.T, path string, rot Rotation, n int) (*fileWriter, [][]byte) {
	t.Helper()
	t0 := time.Unix(1_700_000_000, 123_456_789)
	w, err := newFileWriter(path, rot, 65535, 1, t0, fileMeta{application: "connlint v9.9.9-test", iface: "lo", filter: "tcp port 80"})
	if err != nil {
		t.Fatal(err)
	}
	var sent [][]byte
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, 61+i)
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(data), Length: len(data) + 7, InterfaceIndex: 1} // lo's ifindex, as libpcap gives it
		w.WritePacket(ci, data)
		sent = append(sent, data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w, sent
}

// ngBlocks lists a little-endian pcapng file's block types, checking that
// every block's trailing length equals its leading one.
func ngBlocks(t *testing.T, b []byte) (types []uint32, bodies [][]byte) {
	t.Helper()
	for off := 0; off < len(b); {
		if off+12 > len(b) {
			t.Fatalf("trailing %d bytes at %d", len(b)-off, off)
		}
		typ, n := binary.LittleEndian.Uint32(b[off:]), int(binary.LittleEndian.Uint32(b[off+4:]))
		if n%4 != 0 || off+n > len(b) || int(binary.LittleEndian.Uint32(b[off+n-4:])) != n {
			t.Fatalf("block %#x at %d: bad length %d", typ, off, n)
		}
		types, bodies = append(types, typ), append(bodies, b[off+8:off+n-4])
		off += n
	}
	return types, bodies
}

// A .pcapng -w file is pcapng: header blocks naming connlint, the
// interface, its filter, link type and snaplen; one EPB per packet; and
// it reads back, through OpenFiles and tshark, with every packet intact.
func TestPcapngWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.pcapng")
	w, sent := writeNg(t, path, Rotation{}, 5)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != w.size() {
		t.Errorf("size accounting %d, file %d", w.size(), fi.Size())
	}
	types, bodies := ngBlocks(t, b)
	want := []uint32{ngBlockSHB, ngBlockIDB, 6, 6, 6, 6, 6}
	if !slices.Equal(types, want) {
		t.Fatalf("blocks %x, want %x", types, want)
	}
	for _, s := range []string{"connlint v9.9.9-test", "tcp port 80", "lo"} {
		if !bytes.Contains(bytes.Join(bodies[:2], nil), []byte(s)) {
			t.Errorf("header blocks lack %q", s)
		}
	}
	if lt, snap := binary.LittleEndian.Uint16(bodies[1][0:]), binary.LittleEndian.Uint32(bodies[1][4:]); lt != 1 || snap != 65535 {
		t.Errorf("IDB link type %d snaplen %d", lt, snap)
	}
	got := readAll(t, open(t, []string{path}, FileOptions{}))
	if len(got) != len(sent) {
		t.Fatalf("read %d packets, wrote %d", len(got), len(sent))
	}
	for i, p := range got {
		if !bytes.Equal(p.Data, sent[i]) || p.Length != len(sent[i])+7 || p.Time.Nanosecond() != 123_456_789+i*1_000_000 {
			t.Errorf("packet %d: len %d/%d time %v", i, len(p.Data), p.Length, p.Time)
		}
	}
	tsharkCount(t, path, len(sent))
}

// Rotated pcapng files keep the extension last, and each is a complete
// pcapng file.
func TestPcapngRotationNames(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		rot  Rotation
		want string
	}{
		{Rotation{FileSize: 300}, "r.pcapng,r1.pcapng,r2.pcapng"},
		{Rotation{FileSize: 300, MaxFiles: 10}, "r00.pcapng,r01.pcapng,r02.pcapng"},
	} {
		sub := t.TempDir()
		w, _ := writeNg(t, filepath.Join(sub, "r.pcapng"), tc.rot, 6)
		var names []string
		total := 0
		for _, f := range w.Files() {
			names = append(names, filepath.Base(f))
			total += len(readAll(t, open(t, []string{f}, FileOptions{})))
		}
		if strings.Join(names, ",") != tc.want || total != 6 {
			t.Errorf("%+v: files %q holding %d packets, want %s holding 6", tc.rot, names, total, tc.want)
		}
	}
	// A .pcap name is still named as tcpdump does.
	w, err := newFileWriter(filepath.Join(dir, "t.pcap"), Rotation{FileSize: 1}, 100, 1, time.Now(), fileMeta{})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 10)
	for range 2 {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: 10, Length: 10}, data)
	}
	w.Close()
	if got := filepath.Base(w.Files()[1]); got != "t.pcap1" {
		t.Errorf("second .pcap file %q, want t.pcap1", got)
	}
}

// EmbedKeyLog puts a TLSK Decryption Secrets Block between the header
// blocks and the first packet, padded, and the file stays readable with
// every packet; the result is private.
func TestEmbedKeyLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.pcapng")
	_, sent := writeNg(t, path, Rotation{}, 3)
	keys := []byte("CLIENT_RANDOM 00112233 4455\n") // 28 bytes
	for _, k := range [][]byte{keys, append(keys, 'x')} {
		p := path + strconv.Itoa(len(k))
		orig, _ := os.ReadFile(path)
		os.WriteFile(p, orig, 0o644)
		if err := EmbedKeyLog(p, k); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		types, bodies := ngBlocks(t, b)
		if want := []uint32{ngBlockSHB, ngBlockIDB, ngBlockDSB, 6, 6, 6}; !slices.Equal(types, want) {
			t.Fatalf("blocks %x, want %x", types, want)
		}
		d := bodies[2]
		if binary.LittleEndian.Uint32(d[0:]) != 0x544c534b || int(binary.LittleEndian.Uint32(d[4:])) != len(k) ||
			!bytes.Equal(d[8:8+len(k)], k) || len(d)-8 != (len(k)+3)&^3 {
			t.Errorf("DSB body %q", d)
		}
		if len(b) != len(orig)+20+(len(k)+3)&^3 {
			t.Errorf("file grew by %d", len(b)-len(orig))
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
		if got := readAll(t, open(t, []string{p}, FileOptions{})); len(got) != len(sent) {
			t.Errorf("read %d packets after embedding, want %d", len(got), len(sent))
		}
		tsharkCount(t, p, len(sent))
	}
	// Not pcapng, or nothing to embed: an error, the file untouched.
	pc := filepath.Join(t.TempDir(), "c.pcap")
	os.WriteFile(pc, pcapBytes(1), 0o644)
	if err := EmbedKeyLog(pc, keys); err == nil || !strings.Contains(err.Error(), "not a pcapng file") {
		t.Errorf("classic pcap: %v", err)
	}
	if err := EmbedKeyLog(path, nil); err == nil {
		t.Error("no keys: no error")
	}
}

// tsharkCount checks, when tshark is installed, that it reads the file
// without complaint and counts want frames.
func tsharkCount(t *testing.T, path string, want int) {
	t.Helper()
	ts, err := exec.LookPath("tshark")
	if err != nil {
		return
	}
	out, err := exec.Command(ts, "-r", path, "-T", "fields", "-e", "frame.number").CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r %s: %v\n%s", path, err, out)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if _, err := strconv.Atoi(strings.TrimSpace(l)); err == nil {
			n++
		}
	}
	if n != want {
		t.Errorf("tshark counts %d frames in %s, want %d:\n%s", n, path, want, out)
	}
}
