//go:build cgo && unix

package capture

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// dropPrivileges becomes the user named by LiveOptions.DropUser, as tcpdump
// does after opening its handle: supplementary groups, then group, then user,
// since a process that is no longer root can change none of them. The saved
// file is handed to that user so that they can delete it.
func dropPrivileges(name, ownFile string) error {
	if name == "-" || os.Geteuid() != 0 {
		return nil
	}
	if name == "" {
		name = "nobody"
		if su := os.Getenv("SUDO_USER"); su != "" {
			name = su
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("drop privileges: no user %q", name)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("drop privileges: user %q has a non-numeric id", name)
	}
	groups := []int{gid}
	if ids, err := u.GroupIds(); err == nil {
		groups = groups[:0]
		for _, id := range ids {
			if g, err := strconv.Atoi(id); err == nil {
				groups = append(groups, g)
			}
		}
	}
	if ownFile != "" {
		if err := os.Chown(ownFile, uid, gid); err != nil {
			return fmt.Errorf("drop privileges: chown %s: %w", ownFile, err)
		}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("drop privileges: setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("drop privileges: setgid %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("drop privileges: setuid %d: %w", uid, err)
	}
	return nil
}
