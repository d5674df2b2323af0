//go:build cgo && !unix

package capture

// dropPrivileges has nothing to do where there is no root to drop.
func dropPrivileges(name, ownFile string) error { return nil }
