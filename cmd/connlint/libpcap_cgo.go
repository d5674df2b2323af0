//go:build cgo

package main

// haveLibpcap: this binary links libpcap (live capture, BPF filters).
const haveLibpcap = true
