// Command client is the lab's HTTP/1.x client with knobs no shipped client has.
//
// It runs a plan: a ';'-separated list of steps on one "current" connection.
//
//	conn [LPORT]                 open a new connection (from local port LPORT if given)
//	send METHOD PATH [opts...]   write one request; opts:
//	        body=N               N body bytes with Content-Length
//	        split                headers and body in two write() calls (write-write-read)
//	        v=1.0                HTTP version (default 1.1)
//	        h=Name:Value         extra header ('~' stands for a space)
//	        noclen               no Content-Length even with a body
//	pipe REQ|REQ|...             several requests in ONE write ("METHOD PATH [opts]" each)
//	read [N]                     read N responses (default 1), honouring their framing
//	readretry                    read one response; if the connection dies first, open a new
//	                             connection and send the last request again (unsafe for POST)
//	sleep MS                     idle
//	close | reset                close (FIN) or abort (SO_LINGER 0 → RST)
//
// Knobs: -nodelay (TCP_NODELAY, default false: Nagle on), -quickack0 (set TCP_QUICKACK=0 before
// each read, so this host delays its ACKs even in the kernel's quick-ACK phase), -par/-repeat (run
// the plan REPEAT times over PAR concurrent workers, a new connection each time).
// Every event is logged as one JSON object per line on stdout.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

var (
	addr      = flag.String("addr", "", "server host:port")
	plan      = flag.String("plan", "", "steps")
	nodelay   = flag.Bool("nodelay", false, "TCP_NODELAY")
	quickack0 = flag.Bool("quickack0", false, "TCP_QUICKACK=0 before every read")
	timeout   = flag.Duration("timeout", 3*time.Second, "read timeout per response")
	par       = flag.Int("par", 1, "concurrent workers")
	repeat    = flag.Int("repeat", 1, "plan runs in total")
	maxTime   = flag.Duration("max", 60*time.Second, "overall bound")
	host      = flag.String("host", "lab", "Host header")
)

var outMu sync.Mutex

func emit(kv map[string]any) {
	kv["t"] = float64(time.Now().UnixNano()) / 1e9
	b, _ := json.Marshal(kv)
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

type req struct {
	method, path, ver string
	body              int
	split, noclen     bool
	hdrs              []string
}

func parseReq(f []string) req {
	r := req{method: f[0], path: f[1], ver: "1.1"}
	for _, o := range f[2:] {
		switch {
		case strings.HasPrefix(o, "body="):
			r.body, _ = strconv.Atoi(o[5:])
		case o == "split":
			r.split = true
		case o == "noclen":
			r.noclen = true
		case strings.HasPrefix(o, "v="):
			r.ver = o[2:]
		case strings.HasPrefix(o, "h="):
			r.hdrs = append(r.hdrs, strings.ReplaceAll(o[2:], "~", " "))
		}
	}
	return r
}

func (r req) bytes() (head, body []byte) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/%s\r\nHost: %s\r\nUser-Agent: connlint-lab-client\r\n", r.method, r.path, r.ver, *host)
	for _, h := range r.hdrs {
		b.WriteString(h + "\r\n")
	}
	if r.body > 0 && !r.noclen {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", r.body)
	}
	b.WriteString("\r\n")
	return b.Bytes(), bytes.Repeat([]byte("x"), r.body)
}

type conn struct {
	c     *net.TCPConn
	br    *bufio.Reader
	lport int
	id    int
}

var connSeq struct {
	sync.Mutex
	n int
}

func dial(lport int) (*conn, error) {
	d := net.Dialer{Timeout: 3 * time.Second}
	if lport > 0 {
		d.LocalAddr = &net.TCPAddr{Port: lport}
	}
	var c net.Conn
	var err error
	for i := 0; i < 200; i++ { // EADDRNOTAVAIL when the port range is exhausted: wait, bounded
		c, err = d.Dial("tcp", *addr)
		if err == nil || !errors.Is(err, syscall.EADDRNOTAVAIL) {
			break
		}
		emit(map[string]any{"ev": "dial_eaddrnotavail"})
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	tc.SetNoDelay(*nodelay)
	connSeq.Lock()
	connSeq.n++
	id := connSeq.n
	connSeq.Unlock()
	cn := &conn{c: tc, br: bufio.NewReader(tc), lport: tc.LocalAddr().(*net.TCPAddr).Port, id: id}
	emit(map[string]any{"ev": "connect", "conn": id, "lport": cn.lport})
	return cn, nil
}

func (c *conn) setQuickack0() {
	if !*quickack0 {
		return
	}
	rc, err := c.c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0) })
}

// readResponse reads one response and returns its status and body length.
func (c *conn) readResponse(method string) (int, int, error) {
	c.setQuickack0()
	c.c.SetReadDeadline(time.Now().Add(*timeout))
	line, err := c.br.ReadString('\n')
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	status, _ := strconv.Atoi(f[1])
	cl, chunked, closeConn := -1, false, false
	for {
		c.setQuickack0()
		l, err := c.br.ReadString('\n')
		if err != nil {
			return status, 0, err
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "content-length":
			cl, _ = strconv.Atoi(v)
		case "transfer-encoding":
			chunked = strings.Contains(strings.ToLower(v), "chunked")
		case "connection":
			closeConn = strings.Contains(strings.ToLower(v), "close")
		}
	}
	_ = closeConn
	if method == "HEAD" || status == 204 || status == 304 || status/100 == 1 {
		return status, 0, nil
	}
	n := 0
	switch {
	case chunked:
		for {
			l, err := c.br.ReadString('\n')
			if err != nil {
				return status, n, err
			}
			sz, _ := strconv.ParseInt(strings.TrimSpace(strings.Split(l, ";")[0]), 16, 64)
			if sz == 0 {
				for {
					t, err := c.br.ReadString('\n')
					if err != nil || t == "\r\n" {
						return status, n, err
					}
				}
			}
			m, err := io.CopyN(io.Discard, c.br, sz+2)
			n += int(m)
			if err != nil {
				return status, n, err
			}
		}
	case cl >= 0:
		for n < cl {
			c.setQuickack0()
			m, err := io.CopyN(io.Discard, c.br, int64(min(cl-n, 4096)))
			n += int(m)
			if err != nil {
				return status, n, err
			}
		}
	default: // close-delimited
		for {
			c.setQuickack0()
			m, err := io.CopyN(io.Discard, c.br, 4096)
			n += int(m)
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				return status, n, err
			}
		}
	}
	return status, n, nil
}

type worker struct {
	cur      *conn
	lastReq  req
	pending  []string // methods awaiting responses, FIFO
	reqIndex int
}

func (w *worker) send(r req) error {
	if w.cur == nil {
		return errors.New("no connection")
	}
	head, body := r.bytes()
	w.reqIndex++
	ev := map[string]any{"ev": "send", "conn": w.cur.id, "lport": w.cur.lport, "req": w.reqIndex,
		"method": r.method, "path": r.path, "head_bytes": len(head), "body_bytes": len(body), "split": r.split}
	if r.split && len(body) > 0 {
		if _, err := w.cur.c.Write(head); err != nil {
			return err
		}
		if _, err := w.cur.c.Write(body); err != nil {
			return err
		}
	} else if _, err := w.cur.c.Write(append(head, body...)); err != nil {
		return err
	}
	emit(ev)
	w.lastReq = r
	w.pending = append(w.pending, r.method)
	return nil
}

func (w *worker) read() error {
	if w.cur == nil || len(w.pending) == 0 {
		return errors.New("nothing to read")
	}
	m := w.pending[0]
	w.pending = w.pending[1:]
	t0 := time.Now()
	st, n, err := w.cur.readResponse(m)
	ev := map[string]any{"ev": "response", "conn": w.cur.id, "lport": w.cur.lport, "status": st, "body": n,
		"wait_ms": float64(time.Since(t0).Microseconds()) / 1000}
	if err != nil {
		ev["err"] = err.Error()
	}
	emit(ev)
	return err
}

func (w *worker) step(s string) error {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil
	}
	switch f[0] {
	case "conn":
		lp := 0
		if len(f) > 1 {
			lp, _ = strconv.Atoi(f[1])
		}
		c, err := dial(lp)
		if err != nil {
			return err
		}
		w.cur, w.pending = c, nil
	case "send":
		return w.send(parseReq(f[1:]))
	case "pipe":
		var all []byte
		for _, one := range strings.Split(strings.Join(f[1:], " "), "|") {
			r := parseReq(strings.Fields(one))
			h, b := r.bytes()
			all = append(append(all, h...), b...)
			w.reqIndex++
			w.pending = append(w.pending, r.method)
			emit(map[string]any{"ev": "send", "conn": w.cur.id, "lport": w.cur.lport, "req": w.reqIndex,
				"method": r.method, "path": r.path, "pipelined": true})
		}
		_, err := w.cur.c.Write(all)
		return err
	case "read":
		n := 1
		if len(f) > 1 {
			n, _ = strconv.Atoi(f[1])
		}
		for i := 0; i < n; i++ {
			if err := w.read(); err != nil {
				return err
			}
		}
	case "readretry":
		if err := w.read(); err != nil {
			emit(map[string]any{"ev": "retry", "method": w.lastReq.method, "why": err.Error()})
			w.cur.c.Close()
			c, err := dial(0)
			if err != nil {
				return err
			}
			w.cur, w.pending = c, nil
			if err := w.send(w.lastReq); err != nil {
				return err
			}
			return w.read()
		}
	case "sleep":
		ms, _ := strconv.Atoi(f[1])
		time.Sleep(time.Duration(ms) * time.Millisecond)
	case "close":
		if w.cur != nil {
			w.cur.c.Close()
			emit(map[string]any{"ev": "close", "conn": w.cur.id, "lport": w.cur.lport})
		}
	case "reset":
		if w.cur != nil {
			w.cur.c.SetLinger(0)
			w.cur.c.Close()
			emit(map[string]any{"ev": "reset", "conn": w.cur.id, "lport": w.cur.lport})
		}
	default:
		return fmt.Errorf("unknown step %q", f[0])
	}
	return nil
}

func main() {
	flag.Parse()
	if *addr == "" || *plan == "" {
		fmt.Fprintln(os.Stderr, "usage: client -addr HOST:PORT -plan 'conn; send GET /; read; close'")
		os.Exit(2)
	}
	steps := strings.Split(*plan, ";")
	deadline := time.Now().Add(*maxTime)
	jobs := make(chan int)
	var wg sync.WaitGroup
	fails := 0
	var fmu sync.Mutex
	for i := 0; i < *par; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				w := &worker{}
				for _, s := range steps {
					if err := w.step(strings.TrimSpace(s)); err != nil {
						emit(map[string]any{"ev": "error", "step": strings.TrimSpace(s), "err": err.Error()})
						fmu.Lock()
						fails++
						fmu.Unlock()
						break
					}
				}
				if w.cur != nil {
					w.cur.c.Close()
				}
			}
		}()
	}
	for i := 0; i < *repeat && time.Now().Before(deadline); i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	emit(map[string]any{"ev": "done", "errors": fails})
	if fails > 0 {
		fmt.Fprintf(os.Stderr, "client: %d plan run(s) ended in an error (see the JSON log)\n", fails)
		os.Exit(1)
	}
}
