//go:build !cgo

package version

// haveLibpcap: this binary was built with CGO_ENABLED=0, without libpcap.
const haveLibpcap = false
