// Command relay is the lab's link-delay emulator for kernels without sch_netem.
//
// It runs in a "middle" network namespace that owns two interfaces (one veth
// towards each host), opens an AF_PACKET raw socket on each, and forwards every
// Ethernet frame received on one interface out of the other after a fixed delay.
// Frames are forwarded in arrival order per direction (a constant delay never
// reorders). Nothing is parsed or changed: the hosts see a plain wire that is
// DELAY long each way.
//
//	relay -a m1a -b m1b -delay 10ms
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type frame struct {
	due  time.Time
	data []byte
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func open(name string) (int, error) {
	ifi, err := ifIndex(name)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi}); err != nil {
		return -1, fmt.Errorf("bind %s: %w", name, err)
	}
	// Our own transmissions must not come back to us.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 16<<20)
	// Promiscuous membership so frames for the hosts' MACs are delivered to us.
	mreq := unix.PacketMreq{Ifindex: int32(ifi), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return -1, fmt.Errorf("promisc %s: %w", name, err)
	}
	return fd, nil
}

func ifIndex(name string) (int, error) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/ifindex")
	if err != nil {
		return 0, err
	}
	var i int
	_, err = fmt.Sscanf(string(b), "%d", &i)
	return i, err
}

// pump forwards frames from in to out, each one delay after it was received.
// One goroutine per direction, locked to its own OS thread, non-blocking socket and
// ppoll with a nanosecond timeout: the Go scheduler never sits between a frame and
// its due time. The queue is FIFO, so a constant delay keeps the order.
func pump(in, out int, delay time.Duration, name string) {
	runtime.LockOSThread()
	if err := unix.SetNonblock(in, true); err != nil {
		log.Fatalf("%s: nonblock: %v", name, err)
	}
	var q []frame
	buf := make([]byte, 65536)
	fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}}
	for {
		var ts *unix.Timespec
		if len(q) > 0 {
			d := time.Until(q[0].due)
			if d < 0 {
				d = 0
			}
			t := unix.NsecToTimespec(d.Nanoseconds())
			ts = &t
		}
		fds[0].Revents = 0
		if _, err := unix.Ppoll(fds, ts, nil); err != nil && err != unix.EINTR {
			log.Fatalf("%s: ppoll: %v", name, err)
		}
		for i := 0; i < 4096; i++ { // drain what is readable now
			n, from, err := unix.Recvfrom(in, buf, 0)
			if err != nil {
				if err == unix.EAGAIN || err == unix.EINTR {
					break
				}
				log.Fatalf("%s: recv: %v", name, err)
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			d := make([]byte, n)
			copy(d, buf[:n])
			q = append(q, frame{due: time.Now().Add(delay), data: d})
		}
		now := time.Now()
		sent := 0
		for sent < len(q) && !q[sent].due.After(now) {
			for tries := 0; tries < 1000; tries++ {
				_, err := unix.Write(out, q[sent].data)
				if err == nil {
					break
				}
				if err == unix.ENOBUFS || err == unix.EAGAIN || err == unix.EINTR {
					time.Sleep(20 * time.Microsecond)
					continue
				}
				log.Printf("%s: write: %v", name, err)
				break
			}
			sent++
		}
		if sent > 0 {
			q = append(q[:0], q[sent:]...)
		}
	}
}

func main() {
	a := flag.String("a", "", "first interface")
	b := flag.String("b", "", "second interface")
	delay := flag.Duration("delay", 10*time.Millisecond, "one-way delay added to every frame")
	flag.Parse()
	if *a == "" || *b == "" {
		log.Fatal("usage: relay -a IF -b IF [-delay 10ms]")
	}
	fa, err := open(*a)
	if err != nil {
		log.Fatal(err)
	}
	fb, err := open(*b)
	if err != nil {
		log.Fatal(err)
	}
	go pump(fa, fb, *delay, *a+"->"+*b)
	go pump(fb, fa, *delay, *b+"->"+*a)
	fmt.Fprintf(os.Stderr, "relay %s<->%s delay %v ready\n", *a, *b, *delay)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
