//go:build !linux

package run

import "errors"

// netns needs Linux network namespaces.
type netns struct{}

func newNetns() (*netns, error) {
	return nil, errors.New("--netns: network namespaces exist on Linux only")
}

func (ns *netns) do(f func()) { f() }
func (ns *netns) close()      {}
