//go:build cgo

package capture

import (
	"fmt"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
)

// bpfMatcher compiles the filter once per link type met, as libpcap
// compiles against a link type.
type bpfMatcher struct {
	expr    string
	snaplen int
	progs   map[int]*pcap.BPF
	bad     map[int]error // link types the expression cannot be compiled for
}

// newMatcher checks the expression against Ethernet so that a typo fails
// OpenFiles at once rather than after the first packet.
func newMatcher(expr string, snaplen int) (matcher, error) {
	m := &bpfMatcher{expr: expr, snaplen: snaplen, progs: map[int]*pcap.BPF{}, bad: map[int]error{}}
	if _, err := m.prog(int(layers.LinkTypeEthernet)); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *bpfMatcher) prog(linkType int) (*pcap.BPF, error) {
	if p, ok := m.progs[linkType]; ok {
		return p, nil
	}
	if err, ok := m.bad[linkType]; ok {
		return nil, err
	}
	p, err := pcap.NewBPF(layers.LinkType(linkType), m.snaplen, m.expr)
	if err != nil {
		err = fmt.Errorf("filter %q on link type %d: %s", m.expr, linkType, strings.Join(strings.Fields(err.Error()), " "))
		m.bad[linkType] = err
		return nil, err
	}
	m.progs[linkType] = p
	return p, nil
}

func (m *bpfMatcher) match(p Packet) (bool, error) {
	prog, err := m.prog(p.LinkType)
	if err != nil {
		return false, err
	}
	ci := gopacket.CaptureInfo{Timestamp: p.Time, CaptureLength: len(p.Data), Length: p.Length}
	return prog.Matches(ci, p.Data), nil
}
