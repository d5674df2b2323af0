// Command gopool is a plain Go net/http server, or a Go net/http client whose Transport pools
// a fixed number of keep-alive connections to it (issue 12 item 6: no proxy anywhere).
//
//	gopool -serve 127.0.0.1:8094 [-life 60s]
//	gopool -url http://127.0.0.1:8094/item -conns 4 -n 10
//
// The client starts -conns workers at once, each doing -n sequential GETs of the same URL
// through one shared Transport (MaxConnsPerHost = MaxIdleConnsPerHost = conns), so exactly
// -conns connections are opened and each carries -n requests. The server answers after
// -delay with a 100-byte body.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"sync"
	"time"
)

var (
	serve = flag.String("serve", "", "listen address (server mode)")
	life  = flag.Duration("life", 60*time.Second, "server lifetime")
	delay = flag.Duration("delay", 20*time.Millisecond, "server think time per request")
	url   = flag.String("url", "", "URL to fetch (client mode)")
	conns = flag.Int("conns", 4, "pooled connections")
	n     = flag.Int("n", 10, "requests per worker")
)

func main() {
	flag.Parse()
	if *serve != "" {
		go func() { time.Sleep(*life); log.Fatal("lifetime over") }()
		body := strings.Repeat("p", 100)
		log.Fatal(http.ListenAndServe(*serve, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(*delay)
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, body)
		})))
	}
	tr := &http.Transport{MaxConnsPerHost: *conns, MaxIdleConnsPerHost: *conns, IdleConnTimeout: 30 * time.Second}
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < *n; i++ {
				resp, err := cl.Get(*url)
				if err != nil {
					log.Print(err)
					return
				}
				io.Copy(io.Discard, resp.Body) // read to the end so the connection goes back to the pool
				resp.Body.Close()
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	tr.CloseIdleConnections()
	fmt.Printf("%d responses\n", ok)
}
