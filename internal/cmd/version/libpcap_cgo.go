//go:build cgo

package version

// haveLibpcap: this binary links libpcap (live capture, BPF filters).
const haveLibpcap = true
