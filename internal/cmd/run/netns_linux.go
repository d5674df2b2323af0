package run

import (
	"fmt"
	"runtime"
	"syscall"
	"unsafe"
)

/*
--netns: the command runs in a fresh network namespace whose only
interface is its own loopback, and the capture is opened there, so the
capture holds the command's traffic and nothing else of the host's.

The namespace is anonymous: one OS thread of connlint leaves the host's
namespace with unshare(CLONE_NEWNET) and, held by a goroutine locked to it,
does everything that must happen inside: bring lo up, open the probe's
sockets and the libpcap handle (a socket belongs to the namespace of the
thread that created it, wherever it is read later), and fork the command
(a child starts in its parent thread's namespace). The thread is never
unlocked, so Go ends it with its goroutine instead of reusing it. The
kernel frees the namespace when its last user is gone — the thread, the
capture socket and the command with its children — so nothing is left
behind after a crash, a Ctrl-C or a kill -9, and no name (ip netns) needs
removing as root after root has been dropped.
*/

// netns is an OS thread in a fresh network namespace, running what do is
// given. The zero netns is the host's: do runs f in place.
type netns struct{ work chan func() }

// newNetns creates the namespace and brings its loopback up. It needs
// root (CAP_SYS_ADMIN, and CAP_NET_ADMIN for lo), so it comes before the
// capture drops root.
func newNetns() (*netns, error) {
	ns := &netns{work: make(chan func())}
	errc := make(chan error)
	go ns.thread(errc)
	if err := <-errc; err != nil {
		return nil, err
	}
	return ns, nil
}

// thread enters the namespace and runs the work until close.
func (ns *netns) thread(errc chan<- error) {
	runtime.LockOSThread() // for good: see above
	if syscall.Gettid() == syscall.Getpid() {
		// The main thread: Go cannot end it, it would be parked for good
		// in the namespace, where /proc/self/ns/net (the main thread's)
		// would show it. Hand over to a goroutine that, with this one
		// still holding the main thread, gets another.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			ns.thread(errc)
		}()
		<-locked
		runtime.UnlockOSThread()
		return
	}
	if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
		errc <- fmt.Errorf("--netns: new network namespace: %w (needs root or CAP_SYS_ADMIN)", err)
		return
	}
	if err := loopbackUp(); err != nil {
		errc <- fmt.Errorf("--netns: bring up lo: %w", err)
		return
	}
	errc <- nil
	for f := range ns.work {
		f()
	}
}

// do runs f inside the namespace and waits for it.
func (ns *netns) do(f func()) {
	if ns.work == nil {
		f()
		return
	}
	done := make(chan struct{})
	ns.work <- func() { f(); close(done) }
	<-done
}

// close ends the thread; the namespace lives on while the capture or the
// command's processes still use it.
func (ns *netns) close() {
	if ns.work != nil {
		close(ns.work)
	}
}

// loopbackUp sets IFF_UP on lo in the calling thread's namespace (the
// kernel then gives it 127.0.0.1/8 and ::1), as `ip link set lo up`.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var ifr struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte // rest of struct ifreq's union
	}
	copy(ifr.name[:], "lo")
	ioctl := func(req uintptr) error {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(unsafe.Pointer(&ifr))); e != 0 {
			return e
		}
		return nil
	}
	if err := ioctl(syscall.SIOCGIFFLAGS); err != nil {
		return err
	}
	ifr.flags |= syscall.IFF_UP
	return ioctl(syscall.SIOCSIFFLAGS)
}
