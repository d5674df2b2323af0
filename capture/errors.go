package capture

import "errors"

// ErrNoLibpcap is returned by OpenLive, and by OpenFiles with a filter, in a
// build without cgo: both need libpcap.
var ErrNoLibpcap = errors.New("this connlint was built without libpcap (CGO_ENABLED=0): live capture and BPF filters are unavailable")
