package analyze

import "time"

// Config holds rule selection and every threshold. Zero values are not
// meaningful: start from DefaultConfig.
type Config struct {
	// Disabled rules produce nothing. Enabled, when non-empty, restricts the
	// run to those rules.
	Disabled map[string]bool
	Enabled  map[string]bool
	// Severity overrides a rule's default severity.
	Severity map[string]Severity

	// MaxTransactionsPerConn caps the per-connection transaction table kept
	// for the report (rules still see every transaction).
	MaxTransactionsPerConn int

	// UnframedIdle: a close-delimited response whose server is still silent this
	// long after its last byte (no FIN) counts as "not closed".
	UnframedIdle time.Duration

	// Timing rules.
	StallMin          time.Duration // delayed-ack-stall: ACK delay beyond the path RTT to count (default 20 ms)
	HandshakeShare    float64       // handshake-overhead: handshake ≥ this share of SYN→end of response (default 0.5)
	SmallTransaction  int64         // handshake-overhead: request+response bytes at most this (default 16 KiB)
	InitialWindowSegs int           // slow-start-fresh-connection: initial congestion window in segments (default 10)

	// Cross-connection rules.
	NoReuseMin  int // no-connection-reuse: sequential one-transaction connections (default 5)
	ParallelMax int // parallel-connections: concurrent connections allowed (default 6)
	// tls-full-handshake-repeated: full handshakes to one server (and TLS
	// server name) after it offered resumption (default 3)
	TLSFullHandshakeMin int
	MSL                 time.Duration // port-churn: TIME_WAIT lasts 2×MSL (default MSL 30 s)
	EphemeralPorts      int           // port-churn: size of the client's ephemeral range (default 28 232)
	RetryWindow         time.Duration // unsafe-retry: max time between copies (default 60 s)
	CrossWindow         time.Duration // aggregator state older than this (capture time) is dropped (default 5 min)
	CrossMaxEntries     int           // aggregator: bound on tracked keys per rule (default 100 000)
	// CrossMaxBytes bounds each cross-connection window (every lifecycle
	// rule's per-pair table, the proxy-leg store) in estimated bytes as
	// well (default 8 MiB each): what is dropped for it is counted in
	// Summary.WindowDropped.
	CrossMaxBytes    int
	ProxyLegWindow   time.Duration // proxy leg pairing window (default 30 s)
	KeepAliveSlack   time.Duration // keepalive-misuse: tolerance on announced timeouts (default 1 s)
	DumbProxyMinHang time.Duration // dumb-proxy-keepalive: shortest hang reported (default 1 s)
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() *Config {
	return &Config{
		Disabled:               map[string]bool{},
		Enabled:                map[string]bool{},
		Severity:               map[string]Severity{},
		MaxTransactionsPerConn: 10000,
		UnframedIdle:           time.Second,
		StallMin:               20 * time.Millisecond,
		HandshakeShare:         0.5,
		SmallTransaction:       16 << 10,
		InitialWindowSegs:      10,
		NoReuseMin:             5,
		ParallelMax:            6,
		TLSFullHandshakeMin:    3,
		MSL:                    30 * time.Second,
		EphemeralPorts:         28232,
		RetryWindow:            60 * time.Second,
		CrossWindow:            5 * time.Minute,
		CrossMaxEntries:        100000,
		CrossMaxBytes:          8 << 20,
		ProxyLegWindow:         30 * time.Second,
		KeepAliveSlack:         time.Second,
		DumbProxyMinHang:       time.Second,
	}
}

// On reports whether rule id runs under this configuration.
func (c *Config) On(id string) bool {
	if c.Disabled[id] {
		return false
	}
	return len(c.Enabled) == 0 || c.Enabled[id]
}

// SeverityOf is the effective severity of r.
func (c *Config) SeverityOf(r *Rule) Severity {
	if s, ok := c.Severity[r.ID]; ok {
		return s
	}
	return r.Severity
}
