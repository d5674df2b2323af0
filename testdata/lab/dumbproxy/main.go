// Command dumbproxy is an HTTP/1.0-era proxy, wrong on purpose.
//
// For each client connection it reads ONE request head, forwards it and its body to the
// origin verbatim — Connection, Keep-Alive, Proxy-Connection, TE, Upgrade and any header
// named in Connection included — then copies the origin's bytes back to the client until
// the ORIGIN closes, and only then closes the client connection. It never reads a second
// request from the client. With a Keep-Alive client and a Keep-Alive origin this is the
// RFC 2068 §19.7.1 hang: the origin keeps its connection open, so the proxy never finishes,
// and the client's next request on the connection is never answered.
//
// -verbatim forwards the request line as received (absolute-form kept) and adds nothing (no
// Via), so the upstream request is byte-identical to the client's; -source binds the upstream
// connection to a local address (a proxy with two interfaces).
//
//	dumbproxy -listen :8080 -origin 198.18.2.2:80 [-via] [-verbatim] [-source 198.18.2.1]
package main

import (
	"bytes"
	"flag"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"time"
)

var (
	listen = flag.String("listen", ":8080", "address")
	origin = flag.String("origin", "", "origin host:port")
	via    = flag.Bool("via", true, "add a Via header (the only change it makes)")
	life   = flag.Duration("life", 120*time.Second, "exit after this long")
	// verbatim and source make the proxy that issue 12 item 8 describes: byte-for-byte
	// forwarding from a second address.
	verbatim = flag.Bool("verbatim", false, "forward the request line and headers unchanged (absolute-form kept, no Via)")
	source   = flag.String("source", "", "local IP the upstream connection is made from")
)

func handle(c *net.TCPConn) {
	defer c.Close()
	var head []byte
	b := make([]byte, 1)
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := c.Read(b); err != nil || len(head) > 64<<10 {
			return
		}
		head = append(head, b[0])
	}
	cl := 0
	for _, l := range strings.Split(string(head), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "content-length") {
			cl, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if *verbatim { // nothing rewritten, nothing added
		forward(c, head, cl)
		return
	}
	// Absolute-form request target → origin-form, as 1.0 proxies did; headers untouched.
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	f := strings.Fields(string(line))
	if len(f) == 3 && strings.HasPrefix(f[1], "http://") {
		p := strings.TrimPrefix(f[1], "http://")
		if i := strings.IndexByte(p, '/'); i >= 0 {
			f[1] = p[i:]
		} else {
			f[1] = "/"
		}
	}
	out := []byte(strings.Join(f, " ") + "\r\n")
	if *via {
		out = append(out, "Via: 1.0 dumbproxy\r\n"...)
	}
	out = append(out, rest...)
	forward(c, out, cl)
}

// forward sends the request head (and a Content-Length body) upstream and copies the
// response back until the origin closes.
func forward(c *net.TCPConn, out []byte, cl int) {
	d := net.Dialer{Timeout: 3 * time.Second}
	if *source != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(*source)}
	}
	o, err := d.Dial("tcp4", *origin)
	if err != nil {
		return
	}
	defer o.Close()
	if _, err := o.Write(out); err != nil {
		return
	}
	if cl > 0 {
		if _, err := io.CopyN(o, c, int64(cl)); err != nil {
			return
		}
	}
	// The response is done when the origin closes. Nothing else is looked at.
	o.SetReadDeadline(time.Now().Add(30 * time.Second))
	io.Copy(c, o)
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
