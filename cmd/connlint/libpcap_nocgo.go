//go:build !cgo

package main

// haveLibpcap: this binary was built with CGO_ENABLED=0, without libpcap.
const haveLibpcap = false
