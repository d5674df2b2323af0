// Package timing holds the rules that explain why an exchange was slow:
// delayed-ack-stall and nagle-delayed-ack, which both read StallPass (the
// delayed-ACK stall detector, stall.go, each stall classified once as
// Nagle's or not), handshake-overhead, and slow-start-fresh-connection (a
// per-connection flight counter and a cross-connection aggregate). rtt.go
// holds the path RTT and MSS estimates they share.
package timing
