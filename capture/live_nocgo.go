//go:build !cgo

package capture

// OpenLive needs libpcap; this build has none.
func OpenLive(opts LiveOptions) (Source, error) {
	return nil, ErrNoLibpcap
}
