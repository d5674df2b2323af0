package run

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/connlint/connlint/capture"
)

// probe tells when a capture is really live: it sends UDP datagrams with a
// random token to a socket of its own on 127.0.0.1 until the capture
// returns one. Only then is the command started, so its first SYN is not
// lost to a capture still starting. The probe datagrams are the first
// packets of a -w file; the analysis ignores them (they are not TCP).
//
// On an interface that is not loopback (nor "any") a datagram to 127.0.0.1
// never shows, so the capture is given a short settle time instead.
type probe struct {
	loopback bool
	recv     *net.UDPConn
	send     *net.UDPConn // opened with recv: in the namespace of --netns
	port     int
	token    []byte
	seen     chan struct{}
	once     sync.Once
}

// settle is the wait on interfaces the probe cannot reach.
const settle = 300 * time.Millisecond

func newProbe(iface string) (*probe, error) {
	p := &probe{seen: make(chan struct{})}
	if iface != "any" {
		if i, err := net.InterfaceByName(iface); err != nil || i.Flags&net.FlagLoopback == 0 {
			return p, nil
		}
	}
	p.loopback = true
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("capture probe: %w", err)
	}
	p.recv, p.port = recv, recv.LocalAddr().(*net.UDPAddr).Port
	if p.send, err = net.DialUDP("udp4", nil, recv.LocalAddr().(*net.UDPAddr)); err != nil {
		recv.Close()
		return nil, fmt.Errorf("capture probe: %w", err)
	}
	tok := make([]byte, 16)
	rand.Read(tok)
	p.token = []byte("connlint-probe-" + hex.EncodeToString(tok))
	return p, nil
}

// filter widens the user's BPF filter so that the probe passes it.
func (p *probe) filter(user string) string {
	if !p.loopback || user == "" {
		return user
	}
	return fmt.Sprintf("(%s) or (udp and dst host 127.0.0.1 and dst port %d)", user, p.port)
}

// errReaderEnded says the analysis stopped reading before the probe was
// seen (it failed to start: its own error says why).
var errReaderEnded = errors.New("the analysis ended before the capture was live")

// wait sends probes until one is captured, or fails after timeout or when
// ended is closed (nothing reads the capture any more).
func (p *probe) wait(timeout time.Duration, ended <-chan struct{}) error {
	if !p.loopback {
		select {
		case <-time.After(settle):
			return nil
		case <-ended:
			return errReaderEnded
		}
	}
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		p.send.Write(p.token)
		select {
		case <-p.seen:
			return nil
		case <-ended:
			return errReaderEnded
		case <-deadline:
			return fmt.Errorf("the capture did not see its probe on 127.0.0.1:%d within %s: is the filter or interface right?", p.port, timeout)
		case <-tick.C:
		}
	}
}

func (p *probe) close() {
	if p.recv != nil {
		p.recv.Close()
		p.send.Close()
	}
}

// wrap returns the source the analysis reads: probes are taken out (and
// signal that the capture is live) and, with -w, the input is named by the
// file, so that frame numbers in the report point into it.
func (p *probe) wrap(src capture.Source, writeFile string) *probeSource {
	return &probeSource{Source: src, p: p, writeFile: writeFile}
}

type probeSource struct {
	capture.Source
	p         *probe
	writeFile string
}

func (s *probeSource) Next() (capture.Packet, error) {
	for {
		pkt, err := s.Source.Next()
		if err != nil || s.p.token == nil || len(pkt.Data) > 200 || !bytes.Contains(pkt.Data, s.p.token) {
			return pkt, err
		}
		s.p.once.Do(func() { close(s.p.seen) })
	}
}

func (s *probeSource) Inputs() []string {
	if s.writeFile != "" {
		return []string{s.writeFile}
	}
	return s.Source.Inputs()
}
