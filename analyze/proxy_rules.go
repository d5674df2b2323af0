package analyze

// proxyRules: what happens on the two legs of a proxy.
var proxyRules = []*Rule{}
