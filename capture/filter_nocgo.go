//go:build !cgo

package capture

// newMatcher needs libpcap's filter compiler, which a build without cgo lacks.
func newMatcher(expr string, snaplen int) (matcher, error) {
	return nil, ErrNoLibpcap
}
