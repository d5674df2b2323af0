//go:build !cgo

package capture

// OpenLive needs libpcap; this build has none.
func OpenLive(opts LiveOptions) (LiveSource, error) {
	return nil, ErrNoLibpcap
}
