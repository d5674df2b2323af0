package analyze

// timingRules: why an exchange was slow (delayed ACK, Nagle, handshake, slow start).
var timingRules = []*Rule{
	DelayedAckStall,
	NagleDelayedAck,
	HandshakeOverhead,
	SlowStartFreshConnection,
}
