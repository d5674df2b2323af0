package ci

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"

	"github.com/connlint/connlint/analyze"
)

// Key is what identifies a finding across re-recordings of the same
// traffic: the rule, the client's address without its port (ephemeral
// ports change every run), the server's ip:port, and the request's method
// and target when the finding is about one request. Frame numbers, times,
// durations and connection IDs are never part of it: they change with
// every capture.
type Key struct {
	Rule   string `json:"rule"`
	Client string `json:"client,omitempty"`
	Server string `json:"server,omitempty"`
	Method string `json:"method,omitempty"`
	Target string `json:"target,omitempty"`
}

// KeyOf builds a finding's key. A cross-connection finding (zero Conn)
// takes its client and server from its first related connection.
func KeyOf(f *analyze.Finding) Key {
	k := Key{Rule: f.Rule}
	if c, ok := Pair(f); ok {
		if c.Client.IsValid() {
			k.Client = c.Client.Addr().Unmap().String()
		}
		if c.Server.IsValid() {
			k.Server = addrPort(c.Server)
		}
	}
	k.Method, k.Target = Request(f)
	return k
}

// String is the key as one line, fields separated by spaces (none of them
// contains one: targets are request-line tokens).
func (k Key) String() string {
	return k.Rule + " " + k.Client + " " + k.Server + " " + k.Method + " " + k.Target
}

// describePrefix matches the start analyze gives messages about one
// request ("POST /ok?size=32: ..." or "GET /a (transaction 2) ..."; see
// analyze's describe): an upper-case method, a space, the target, then a
// colon, space or end. Responses ("response 200") and cross-connection
// messages start in lower case and do not match.
var describePrefix = regexp.MustCompile(`^([A-Z][A-Z_-]*) (\S+?):?(?: |$)`)

// Request returns the method and target a finding is about: the "method"
// and "target" Attrs when the rule set them (unsafe-retry does), else the
// request named at the start of the message, else "", "".
func Request(f *analyze.Finding) (method, target string) {
	m, _ := f.Attrs["method"].(string)
	t, _ := f.Attrs["target"].(string)
	if m != "" || t != "" {
		return m, t
	}
	if s := describePrefix.FindStringSubmatch(f.Message); s != nil {
		return s[1], s[2]
	}
	return "", ""
}

// Fingerprints returns, for each finding in the order given, a stable
// fingerprint: a SHA-256 of its key and its occurrence number among the
// findings with the same key. Systems that collapse equal fingerprints
// (GitLab shows only the first of a kind) thus see each occurrence, and the
// n-th occurrence keeps its fingerprint across re-recordings as long as the
// order (time order, see Sorted) is the same.
func Fingerprints(fs []*analyze.Finding) []string {
	seen := map[Key]int{}
	out := make([]string, len(fs))
	for i, f := range fs {
		k := KeyOf(f)
		n := seen[k]
		seen[k] = n + 1
		sum := sha256.Sum256([]byte(k.String() + " #" + strconv.Itoa(n)))
		out[i] = hex.EncodeToString(sum[:])
	}
	return out
}
