// Package lifecycle holds the rules about how connections are opened,
// reused and closed. Per connection: abortive-close, keepalive-race,
// keepalive-misuse. Across connections: unsafe-retry, no-connection-reuse,
// parallel-connections and port-churn, which share cross.go — a compact
// record per finished connection, a reorder buffer that makes the order
// they see connections deterministic, and a bounded per client/server
// table — so their memory stays flat however long the capture.
package lifecycle
