// Package flow holds the few types that locate stream bytes in a capture and
// that every stage after TCP reassembly shares: the direction of a byte
// stream (Dir), the position of a byte in the capture and in its stream (Pos),
// and how a direction ended (CloseKind).
//
// It sits below package reassembly, which produces these values, and below
// the stream consumers (package http1 today; TLS and HTTP/2 later), which
// receive them, so that a consumer does not import reassembly and
// reassembly does not import any consumer. It imports the standard library
// only and has no behaviour beyond String methods.
package flow

import "time"

// Dir is the direction of a byte stream within a TCP connection. It indexes
// per-direction arrays: [2]T{ClientToServer: …, ServerToClient: …}.
type Dir uint8

const (
	ClientToServer Dir = 0 // requests
	ServerToClient Dir = 1 // responses
)

func (d Dir) String() string {
	if d == ClientToServer {
		return "client→server"
	}
	return "server→client"
}

// Pos locates a byte of a stream in the capture: the packet that carried (or
// delivered) it, and its offset in its direction's stream.
type Pos struct {
	Time   time.Time
	Input  int    // index of the capture input (file) the packet came from
	Frame  int64  // 1-based frame number within that input (Wireshark's)
	Ord    int64  // global packet ordinal in capture order (across merged inputs)
	Offset uint64 // byte offset within this direction's stream (0 = first byte after SYN)
}

// CloseKind says how a direction of a connection ended.
type CloseKind uint8

const (
	CloseFIN        CloseKind = iota // the sender's FIN, after every byte before it
	CloseRST                         // a RST from either side
	CloseCaptureEnd                  // the capture ended or the connection was evicted
)

func (k CloseKind) String() string {
	return [...]string{"fin", "rst", "capture-end"}[k]
}
