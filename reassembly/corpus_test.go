package reassembly

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// corpusDir holds third-party captures (see its MANIFEST.md); tests using it
// skip when it is absent.
const corpusDir = "../../shared/corpus"

// corpusHandler keeps every connection and event of a capture.
type corpusHandler struct {
	ends   []Conn
	starts int
	incons []Inconsistency
	gaps   []Gap
	msgs   int
}

func (h *corpusHandler) ConnStart(c *Conn)                         { h.starts++ }
func (h *corpusHandler) Segment(c *Conn, s *Segment)               {}
func (h *corpusHandler) Gap(c *Conn, g Gap)                        { h.gaps = append(h.gaps, g) }
func (h *corpusHandler) Inconsistency(c *Conn, x Inconsistency)    { h.incons = append(h.incons, x) }
func (h *corpusHandler) Message(c *Conn, m *http1.Message)         { h.msgs++ }
func (h *corpusHandler) Transaction(c *Conn, t *http1.Transaction) {}
func (h *corpusHandler) ConnEnd(c *Conn)                           { h.ends = append(h.ends, *c) }

// runCapture feeds a pcap or pcapng file through a fresh Assembler.
func runCapture(t *testing.T, path string) (*corpusHandler, Stats) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("corpus not available: %v", err)
	}
	defer f.Close()
	h := &corpusHandler{}
	a := NewAssembler(h, withHTTP(Options{}, h))
	var frame int64
	feed := func(lt int, data []byte, pos flow.Pos) {
		frame++
		pos.Frame, pos.Ord = frame, frame
		a.Packet(lt, data, pos)
	}
	br := bufio.NewReader(f)
	if strings.HasSuffix(path, ".pcapng") {
		r, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		must(t, err)
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			must(t, err)
			lt := int(r.LinkType())
			if intf, err := r.Interface(ci.InterfaceIndex); err == nil {
				lt = int(intf.LinkType)
			}
			feed(lt, data, flow.Pos{Time: ci.Timestamp})
		}
	} else {
		r, err := pcapgo.NewReader(br)
		must(t, err)
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			must(t, err)
			feed(int(r.LinkType()), data, flow.Pos{Time: ci.Timestamp})
		}
	}
	a.Close()
	if h.starts != len(h.ends) {
		t.Errorf("%d connections started, %d ended", h.starts, len(h.ends))
	}
	return h, a.Stats()
}

// TestCorpusParsesEverything: every capture goes through without a panic,
// an undecodable packet or a connection left open.
func TestCorpusParsesEverything(t *testing.T) {
	var files []string
	filepath.WalkDir(corpusDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			files = append(files, p)
		}
		return nil
	})
	if len(files) == 0 {
		t.Skip("corpus not available")
	}
	for _, p := range files {
		t.Run(strings.TrimPrefix(p, corpusDir+"/"), func(t *testing.T) {
			_, st := runCapture(t, p)
			if st.Undecodable != 0 {
				t.Errorf("%d undecodable packets", st.Undecodable)
			}
		})
	}
}

// Expectations from the corpus MANIFEST (checked there with tshark).
func TestCorpusCases(t *testing.T) {
	t.Run("quantum insert: different bytes at the same sequence number", func(t *testing.T) {
		h, _ := runCapture(t, corpusDir+"/zeek/traces/tcp/qi_internet_SYNACK_curl_jsonip.pcap")
		if len(h.incons) != 1 {
			t.Fatalf("inconsistencies %+v", h.incons)
		}
		x := h.incons[0]
		if x.Dir != flow.ServerToClient || x.First.Frame != 5 || x.Second.Frame != 9 {
			t.Errorf("inconsistency %+v", x)
		}
		if len(h.ends) != 1 || h.ends[0].End != EndRST {
			t.Errorf("ends %+v", h.ends)
		}
	})
	t.Run("SYN-ACK before SYN", func(t *testing.T) {
		h, _ := runCapture(t, corpusDir+"/zeek/traces/tcp/handshake-reorder.pcap")
		if len(h.ends) != 1 {
			t.Fatalf("%d connections", len(h.ends))
		}
		c := h.ends[0]
		if c.Client.Port() != 59856 || c.RolesGuessed || c.SYN.Frame != 2 || c.SYNACK.Frame != 1 || c.End != EndFIN {
			t.Errorf("conn %v>%v guessed %v SYN %d SYNACK %d end %v", c.Client, c.Server, c.RolesGuessed, c.SYN.Frame, c.SYNACK.Frame, c.End)
		}
	})
	t.Run("missing SYN, client on port 6669", func(t *testing.T) {
		h, _ := runCapture(t, corpusDir+"/zeek/traces/tcp/http-on-irc-port-missing-syn.pcapng")
		if len(h.ends) != 1 || h.ends[0].Client.Port() != 6669 || h.ends[0].Server.Port() != 80 || !h.ends[0].HTTP {
			t.Errorf("conns %+v", h.ends)
		}
	})
	t.Run("TCP Fast Open", func(t *testing.T) {
		h, _ := runCapture(t, corpusDir+"/zeek/traces/tcp/tcp-fast-open.pcap")
		if len(h.ends) != 2 || h.ends[0].FastOpen || !h.ends[1].FastOpen || h.ends[1].SYN.Frame != 8 || h.msgs != 4 {
			t.Errorf("conns %+v, %d messages", h.ends, h.msgs)
		}
	})
	t.Run("m57: every packet recorded twice", func(t *testing.T) {
		h, st := runCapture(t, corpusDir+"/zeek/traces/http/m57-long-49583-80.pcap")
		if len(h.ends) != 1 || st.Duplicates < 100 || len(h.incons) != 0 || len(h.gaps) != 0 {
			t.Errorf("conns %d, duplicates %d, incons %d, gaps %d", len(h.ends), st.Duplicates, len(h.incons), len(h.gaps))
		}
	})
	t.Run("TCP inside ICMP errors and sFlow is not a connection", func(t *testing.T) {
		h, st := runCapture(t, corpusDir+"/suricata-verify/filestore-5408/input.pcap")
		if st.NonTCP == 0 || len(h.ends) != 7 {
			t.Errorf("non-TCP %d, conns %d", st.NonTCP, len(h.ends))
		}
	})
	t.Run("capture end data missing: trailing gap", func(t *testing.T) {
		h, _ := runCapture(t, corpusDir+"/zeek/traces/tcp/miss_end_data.pcap")
		if len(h.gaps) != 1 || h.gaps[0].Dir != flow.ServerToClient {
			t.Errorf("gaps %+v", h.gaps)
		}
	})
}
