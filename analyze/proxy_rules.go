package analyze

// proxyRules: what happens on the two legs of a proxy (proxy_legs.go pairs
// them).
var proxyRules = []*Rule{
	HopByHopForwarded,
	DumbProxyKeepAlive,
}
