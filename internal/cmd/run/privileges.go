package run

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Linux capability bits (linux/capability.h).
const (
	capNetAdmin = 12
	capNetRaw   = 13
)

// effectiveCaps reads the process's effective capability set; ok is false
// where /proc/self/status has none (not Linux).
func effectiveCaps() (caps uint64, ok bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, found := strings.CutPrefix(sc.Text(), "CapEff:"); found {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return caps, err == nil
		}
	}
	return 0, false
}

// privilegeAdvice says exactly what is missing for a live capture and how
// to get it in CI, or "" when the process has what capture needs (the
// failure then had another cause, which the error itself names).
func privilegeAdvice(iface string) string {
	caps, ok := effectiveCaps()
	if !ok {
		return ""
	}
	return adviceFor(iface, caps, os.Geteuid())
}

// adviceFor is privilegeAdvice for a given capability set and user.
func adviceFor(iface string, caps uint64, uid int) string {
	var missing []string
	if caps&(1<<capNetRaw) == 0 {
		missing = append(missing, "CAP_NET_RAW")
	}
	if caps&(1<<capNetAdmin) == 0 {
		missing = append(missing, "CAP_NET_ADMIN")
	}
	if len(missing) == 0 {
		return ""
	}
	who := fmt.Sprintf("uid %d", uid)
	return fmt.Sprintf(`connlint: capturing on %s needs root, or CAP_NET_RAW and CAP_NET_ADMIN; this process (%s) lacks %s.
  GitHub Actions: runners have passwordless sudo:
      sudo -E env "PATH=$PATH" connlint run ... -- CMD
  GitLab CI: the docker executor runs jobs as root (in a container it may need
      cap_add NET_RAW/NET_ADMIN); on a shell runner use sudo as above.
  Or give the binary the capabilities once, and run it without sudo:
      sudo setcap cap_net_raw,cap_net_admin+eip "$(command -v connlint)"
`, iface, who, strings.Join(missing, " and "))
}
