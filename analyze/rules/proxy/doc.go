// Package proxy holds the rules about the two legs of a proxy:
// hop-by-hop-forwarded and dumb-proxy-keepalive. Both read LegsPass
// (legs.go), which reduces each transaction to a compact leg record, pairs
// the client→proxy copy of a transaction with its proxy→origin copy, and
// lists the pairs in the run summary's ProxyChains.
package proxy
