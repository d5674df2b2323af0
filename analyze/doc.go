// Package analyze runs connlint's rules over reassembled connections. The
// Engine is a reassembly.Handler: it hands each connection's events
// (segments, gaps, HTTP/1 messages and transactions, the end) to the
// per-connection checkers of the rules it was given (suite.Rules), and one
// compact ConnSummary per finished connection to their cross-connection
// aggregates. Shared analyses are Passes that report nothing: a rule lists
// the passes it needs in Requires and reads their results with
// Ctx.ResultOf or Reporter.ResultOf, so no rule names another. Findings go
// to a Sink as soon as they are final; Close returns the run's Summary.
package analyze
