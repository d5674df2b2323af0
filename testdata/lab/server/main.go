// Command server is the lab's HTTP/1.x origin that misbehaves on purpose.
//
// It reads request heads one byte at a time (so requests it has not got to yet stay
// unread in the kernel, as pipelined requests do), reads a Content-Length body, and
// answers according to the request path:
//
//	/ok?size=N&delay=MS   200 with an N-byte body (default 16) after MS ms, keep-alive
//	/lie/short            Content-Length 10, 30 body bytes sent (overrun), connection kept open
//	/lie/long-fin         Content-Length 100, 40 bytes sent, then close (FIN)
//	/lie/long-rst         Content-Length 100000, 5000 bytes sent, then abort (RST)
//	/lie/long-hang        Content-Length 100000, 5000 bytes sent, then nothing (capture ends)
//	/frame/cl-te          Content-Length and Transfer-Encoding: chunked together
//	/frame/two-cl         two different Content-Length headers
//	/frame/bad-cl         Content-Length: 12abc
//	/unframed/keep        no Content-Length, not chunked, Connection: keep-alive, socket stays open
//	/unframed/close       no Content-Length, not chunked, then close (legitimate close-delimited)
//	/bodiless             HEAD: Content-Length 20 and 20 body bytes anyway
//	/204                  204 No Content with 20 body bytes
//	/304                  304 Not Modified with 20 body bytes
//	/close-then-linger    200 with Connection: close, keeps reading; closes after the next request
//	/abort?size=N         reads this one request only, sends a Connection: close response of N
//	                      bytes and close()s with the pipelined requests unread: the kernel resets
//	/die                  reads the request and closes without a response (first time per path+body
//	                      only; a repeated request on a new connection gets 200)
//
// -nodelay=false keeps Nagle on for the server's sockets.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	listen  = flag.String("listen", ":80", "address")
	nodelay = flag.Bool("nodelay", true, "TCP_NODELAY on accepted sockets")
	life    = flag.Duration("life", 120*time.Second, "exit after this long")

	dieMu   sync.Mutex
	dieSeen = map[string]bool{}
)

type request struct {
	method, target, proto string
	headers               []string
	body                  []byte
}

// readHead reads byte by byte up to the blank line: nothing beyond this request is consumed.
func readRequest(c net.Conn) (*request, error) {
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := c.Read(b); err != nil {
			return nil, err
		}
		head = append(head, b[0])
		if len(head) > 64<<10 {
			return nil, fmt.Errorf("head too long")
		}
	}
	lines := strings.Split(strings.TrimSuffix(string(head), "\r\n\r\n"), "\r\n")
	f := strings.Fields(lines[0])
	if len(f) != 3 {
		return nil, fmt.Errorf("bad request line %q", lines[0])
	}
	r := &request{method: f[0], target: f[1], proto: f[2], headers: lines[1:]}
	for _, h := range r.headers {
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(strings.TrimSpace(k), "content-length") {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			r.body = make([]byte, n)
			if _, err := io.ReadFull(c, r.body); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func pad(n int) string { return strings.Repeat("z", n) }

func handle(c *net.TCPConn) {
	defer c.Close()
	c.SetNoDelay(*nodelay)
	c.SetDeadline(time.Now().Add(20 * time.Second))
	for {
		r, err := readRequest(c)
		if err != nil {
			return
		}
		u, _ := url.Parse(r.target)
		q := u.Query()
		w := func(s string) { c.Write([]byte(s)) }
		switch u.Path {
		case "/lie/short":
			w("HTTP/1.1 200 OK\r\nContent-Length: 10\r\nContent-Type: text/plain\r\n\r\n" + pad(30))
		case "/lie/long-fin":
			w("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: text/plain\r\n\r\n" + pad(40))
			return
		case "/lie/long-rst":
			w("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: text/plain\r\n\r\n" + pad(5000))
			time.Sleep(300 * time.Millisecond)
			c.SetLinger(0)
			return
		case "/lie/long-hang":
			w("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nContent-Type: text/plain\r\n\r\n" + pad(5000))
			time.Sleep(30 * time.Second)
			return
		case "/frame/cl-te":
			w("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
		case "/frame/two-cl":
			w("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nhello\r\n")
		case "/frame/bad-cl":
			w("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\nhello world!")
		case "/unframed/keep":
			w("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive\r\n\r\n" + pad(200))
		case "/unframed/close":
			w("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n" + pad(200))
			return
		case "/bodiless":
			w("HTTP/1.1 200 OK\r\nContent-Length: 20\r\nContent-Type: text/plain\r\n\r\n" + pad(20))
		case "/204":
			w("HTTP/1.1 204 No Content\r\n\r\n" + pad(20))
		case "/304":
			w("HTTP/1.1 304 Not Modified\r\nETag: \"lab\"\r\n\r\n" + pad(20))
		case "/close-then-linger":
			w("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nclosed")
			if _, err := readRequest(c); err == nil { // the client ignored the close: read its request, no answer
				time.Sleep(50 * time.Millisecond)
			}
			return
		case "/abort":
			n, _ := strconv.Atoi(q.Get("size"))
			w(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", n, pad(n)))
			return // close() with unread pipelined requests → RST, unsent data discarded
		case "/die":
			key := r.method + " " + r.target + " " + string(r.body)
			dieMu.Lock()
			first := !dieSeen[key]
			dieSeen[key] = true
			dieMu.Unlock()
			if first {
				time.Sleep(100 * time.Millisecond)
				c.SetLinger(0)
				return
			}
			w("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
		default: // /ok and anything else
			n := 16
			if s := q.Get("size"); s != "" {
				n, _ = strconv.Atoi(s)
			}
			if d, _ := strconv.Atoi(q.Get("delay")); d > 0 {
				time.Sleep(time.Duration(d) * time.Millisecond)
			}
			if r.method == "HEAD" {
				w(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", n))
			} else {
				w(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s", n, pad(n)))
			}
		}
	}
}

func main() {
	flag.Parse()
	ln, err := net.Listen("tcp4", *listen)
	if err != nil {
		log.Fatal(err)
	}
	go func() { time.Sleep(*life); log.Fatal("lifetime over") }()
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go handle(c.(*net.TCPConn))
	}
}
