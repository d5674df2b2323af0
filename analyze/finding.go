package analyze

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Severity orders findings: error = wrong or losing data; warning = costs
// latency or resources; info = worth knowing.
type Severity uint8

const (
	Info Severity = iota + 1
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return "none"
}

// ParseSeverity reads "info", "warning" or "error".
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(s) {
	case "info":
		return Info, nil
	case "warning", "warn":
		return Warning, nil
	case "error":
		return Error, nil
	}
	return 0, fmt.Errorf("unknown severity %q (want info, warning or error)", s)
}

// MarshalText makes severities print as words in JSON.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Frame names one packet of the evidence: its input and its 1-based frame
// number there (Wireshark's).
type Frame struct {
	Input int
	Frame int64
}

// ConnRef identifies the connection a finding is about.
type ConnRef struct {
	ID     uint64
	Client netip.AddrPort
	Server netip.AddrPort
}

// Finding is one diagnosed problem with the evidence to check it.
type Finding struct {
	Rule        string
	Severity    Severity
	Conn        ConnRef // zero ID for findings about several connections
	Transaction int     // 1-based transaction index on the connection; 0 = not about one transaction
	Time        time.Time
	Frames      []Frame
	Duration    time.Duration // the measured duration the finding is about (stall, hang, ...); 0 = none
	Message     string
	Hint        string
	// Related lists other connections involved (cross-connection rules).
	Related []ConnRef
	// Attrs holds rule-specific measured facts for machine consumers (JSON "details").
	Attrs map[string]any
	// Across is set on findings of cross-connection rules: they are reported
	// once the connections are over, so they are not in any ConnReport.
	Across bool
}

// SortFindings orders findings by time, then connection, transaction and
// rule, so output does not depend on the order rules ran in (every format
// uses this order).
func SortFindings(fs []*Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if !a.Time.Equal(b.Time) {
			return a.Time.Before(b.Time)
		}
		if a.Conn.ID != b.Conn.ID {
			return a.Conn.ID < b.Conn.ID
		}
		if a.Transaction != b.Transaction {
			return a.Transaction < b.Transaction
		}
		return a.Rule < b.Rule
	})
}
