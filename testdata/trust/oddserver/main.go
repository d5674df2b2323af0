// Command oddserver is an HTTP/1.1 origin for the trust recordings (issue 12 item 4): a
// keep-alive server that adds bytes after a Content-Length body, chosen by path:
//
//	/crlf     Content-Length: 7, the body, then a stray "\r\n" (tolerated by RFC 9112 §2.2)
//	/garbage  Content-Length: 7, the body, then 8 bytes that are not HTTP ("GARBAGE\n")
//	/slowfirst  Content-Length: 6, "hello\n"; the first request for it waits 300 ms, later ones
//	          are answered at once (two clients of the same URL, the first answered last)
//	anything  Content-Length: 6, "hello\n"
//
// Each response (with its extra bytes) goes out in ONE write, TCP_NODELAY on, so the extra
// bytes share the body's segment as they do from the servers that send them.
//
//	oddserver -listen 127.0.0.1:8093 [-life 60s]
package main

import (
	"bufio"
	"flag"
	"log"
	"net"
	"net/textproto"
	"strings"
	"sync/atomic"
	"time"
)

// slowTaken: the first /slowfirst request waits (an atomic, not sync.Once: Once would make the
// second request wait for the first).
var slowTaken atomic.Bool

var (
	listen = flag.String("listen", "127.0.0.1:8093", "address")
	life   = flag.Duration("life", 60*time.Second, "exit after this long")
)

func handle(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	tp := textproto.NewReader(bufio.NewReader(c))
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		if line == "" { // a client's own stray CRLF between requests
			continue
		}
		if _, err := tp.ReadMIMEHeader(); err != nil {
			return
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			return
		}
		var resp string
		switch f[1] {
		case "/crlf":
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Type: text/plain\r\n\r\nhello!\n" + "\r\n"
		case "/slowfirst":
			if slowTaken.CompareAndSwap(false, true) {
				time.Sleep(300 * time.Millisecond)
			}
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\nhello\n"
		case "/garbage":
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Type: text/plain\r\n\r\nhello!\n" + "GARBAGE\n"
		default:
			resp = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\nhello\n"
		}
		if _, err := c.Write([]byte(resp)); err != nil {
			return
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
		go handle(c)
	}
}
