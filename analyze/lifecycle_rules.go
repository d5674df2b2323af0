package analyze

// lifecycleRules: how connections are opened, reused and closed (per connection and across connections).
var lifecycleRules = []*Rule{
	AbortiveClose,
	KeepAliveRace,
	KeepAliveMisuse,
	UnsafeRetry,
	NoConnectionReuse,
	ParallelConnections,
	PortChurn,
}
