package tls

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// secret is key material. Its Format method prints "[redacted]" for every
// verb, so a secret can never reach a log, an error or a report by accident,
// whichever way the struct holding it is printed.
type secret []byte

func (secret) Format(f fmt.State, verb rune) { io.WriteString(f, "[redacted]") }

// Secrets are the key log entries of one TLS session (one client random).
// They are opaque: nothing prints them (String, GoString and Format say
// which kinds are present, never their bytes).
type Secrets struct {
	master      secret // TLS 1.2 CLIENT_RANDOM master secret (48 bytes)
	clientHS    secret // TLS 1.3 CLIENT_HANDSHAKE_TRAFFIC_SECRET
	serverHS    secret // TLS 1.3 SERVER_HANDSHAKE_TRAFFIC_SECRET
	clientAP    secret // TLS 1.3 CLIENT_TRAFFIC_SECRET_0
	serverAP    secret // TLS 1.3 SERVER_TRAFFIC_SECRET_0
	clientEarly secret // TLS 1.3 CLIENT_EARLY_TRAFFIC_SECRET (kept, not used yet)
}

// HasTLS12 reports whether the TLS 1.2 master secret is present.
func (s Secrets) HasTLS12() bool { return s.master != nil }

// HasTLS13 reports whether all four TLS 1.3 traffic secrets are present.
func (s Secrets) HasTLS13() bool {
	return s.clientHS != nil && s.serverHS != nil && s.clientAP != nil && s.serverAP != nil
}

func (s Secrets) String() string {
	var kinds []string
	if s.HasTLS12() {
		kinds = append(kinds, "tls1.2 master")
	}
	if s.clientHS != nil || s.serverHS != nil {
		kinds = append(kinds, "tls1.3 handshake")
	}
	if s.clientAP != nil || s.serverAP != nil {
		kinds = append(kinds, "tls1.3 traffic")
	}
	if len(kinds) == 0 {
		kinds = append(kinds, "none")
	}
	return "tls.Secrets{" + strings.Join(kinds, ", ") + ": redacted}"
}

// GoString keeps %#v from printing the fields.
func (s Secrets) GoString() string { return s.String() }

// Format keeps every verb (%x included) from printing the fields.
func (s Secrets) Format(f fmt.State, verb rune) { io.WriteString(f, s.String()) }

// KeySource finds the secrets of a session by its ClientHello random.
// *KeyLog implements it; a pcapng Decryption Secrets Block is a key log too
// (read it into a KeyLog with Read).
type KeySource interface {
	Lookup(clientRandom [32]byte) (Secrets, bool)
}

// KeyLog holds NSS key log entries (the SSLKEYLOGFILE format) by client random.
//
// It also remembers, for TLS 1.2, the master secret of every session a Conn
// decrypted, by session ID and by session ticket: some clients (Go's
// crypto/tls) log nothing for a resumed session, whose master secret is the
// one of the session it resumes. At most maxRememberedSessions are kept,
// oldest dropped first. A resumed connection is decrypted this way only if
// the connection it resumes was fed (to a Conn using the same KeyLog) first.
//
// Lookup and the session memory are safe for concurrent use; Read is not
// safe concurrently with anything else.
type KeyLog struct {
	m map[[32]byte]*Secrets

	mu       sync.Mutex
	sessions map[string]secret
	order    []string // insertion order, for eviction

	// follow is a key log file still being written (see Follow); followOff
	// is how much of it was read, up to the last complete line.
	follow    string
	followOff int64
}

// maxRememberedSessions bounds the TLS 1.2 session memory: 4096 entries of
// 48 bytes plus the ID or ticket (tickets are typically ~200 bytes) is about
// a megabyte at most.
const maxRememberedSessions = 4096

// rememberSession keeps a TLS 1.2 master secret under a session ID or ticket.
func (k *KeyLog) rememberSession(key string, master secret) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sessions == nil {
		k.sessions = make(map[string]secret)
	}
	if _, ok := k.sessions[key]; !ok {
		if len(k.order) >= maxRememberedSessions {
			delete(k.sessions, k.order[0])
			k.order = k.order[1:]
		}
		k.order = append(k.order, key)
	}
	k.sessions[key] = master
}

func (k *KeyLog) sessionMaster(key string) (secret, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m, ok := k.sessions[key]
	return m, ok
}

// sessionMemory is implemented by *KeyLog (see rememberSession).
type sessionMemory interface {
	rememberSession(key string, master secret)
	sessionMaster(key string) (secret, bool)
}

// NewKeyLog returns an empty key log.
func NewKeyLog() *KeyLog { return &KeyLog{m: make(map[[32]byte]*Secrets)} }

// ErrKeyLogLine is what every *KeyLogLineError matches with errors.Is.
var ErrKeyLogLine = errors.New("malformed key log line")

// KeyLogLineError names one unusable line of a key log. It never quotes the
// line: a malformed line may still hold key material.
type KeyLogLineError struct {
	File   string
	Line   int
	Reason string
}

func (e *KeyLogLineError) Error() string {
	return fmt.Sprintf("%s:%d: %v: %s", e.File, e.Line, ErrKeyLogLine, e.Reason)
}

// Is makes errors.Is(err, ErrKeyLogLine) true.
func (e *KeyLogLineError) Is(target error) bool { return target == ErrKeyLogLine }

// maxKeyLogLine bounds one line: the longest valid line is a label (at most
// 31 letters), 64 hex digits of client random and 96 of secret, plus spaces.
// Anything much longer is garbage and is skipped without being buffered.
const maxKeyLogLine = 512

// ReadKeyLogFile reads an NSS key log file. Like Read, it returns the key log
// with every usable line even when err reports bad lines.
func ReadKeyLogFile(path string) (*KeyLog, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	k := NewKeyLog()
	return k, k.Read(f, path)
}

// Read adds the entries of an NSS key log to k. name is used in errors
// (a file name, or "capture.pcapng: decryption secrets block 2"). Lines it
// cannot use are skipped and reported, one *KeyLogLineError each, joined
// with errors.Join; every other line is still used. A read error is
// returned too, after the lines read before it were added.
//
// Labels used: CLIENT_RANDOM (TLS 1.2), CLIENT_HANDSHAKE_TRAFFIC_SECRET,
// SERVER_HANDSHAKE_TRAFFIC_SECRET, CLIENT_TRAFFIC_SECRET_0,
// SERVER_TRAFFIC_SECRET_0 (TLS 1.3). Kept but unused:
// CLIENT_EARLY_TRAFFIC_SECRET. Ignored without complaint: EXPORTER_SECRET,
// EARLY_EXPORTER_SECRET, RSA, ECH_SECRET, ECH_CONFIG, comments and blank lines.
func (k *KeyLog) Read(r io.Reader, name string) error {
	br := bufio.NewReaderSize(r, maxKeyLogLine)
	var errs []error
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if errors.Is(err, errLineTooLong) {
			errs = append(errs, &KeyLogLineError{name, lineNo, "line too long"})
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			break
		}
		if reason := k.addLine(line); reason != "" {
			errs = append(errs, &KeyLogLineError{name, lineNo, reason})
		}
	}
	return errors.Join(errs...)
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its end of line. A line longer
// than the reader's buffer is consumed and reported as errLineTooLong.
func readLine(br *bufio.Reader) (string, error) {
	line, isPrefix, err := br.ReadLine()
	if err != nil {
		return "", err
	}
	if !isPrefix {
		return string(line), nil
	}
	for isPrefix && err == nil {
		_, isPrefix, err = br.ReadLine()
	}
	if err != nil && err != io.EOF {
		return "", err
	}
	return "", errLineTooLong
}

// addLine stores one line; it returns why the line is unusable, or "".
func (k *KeyLog) addLine(line string) string {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return ""
	}
	f := strings.Fields(line)
	label := f[0]
	switch label {
	case "EXPORTER_SECRET", "EARLY_EXPORTER_SECRET", "RSA", "ECH_SECRET", "ECH_CONFIG":
		return ""
	case "CLIENT_RANDOM", "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
		"CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0", "CLIENT_EARLY_TRAFFIC_SECRET":
	default:
		return "unknown label"
	}
	if len(f) != 3 {
		return fmt.Sprintf("%s: want 3 fields, have %d", label, len(f))
	}
	var cr [32]byte
	if len(f[1]) != 64 {
		return fmt.Sprintf("%s: client random is %d hex digits, want 64", label, len(f[1]))
	}
	if _, err := hex.Decode(cr[:], []byte(f[1])); err != nil {
		return label + ": client random is not hex"
	}
	sec, err := hex.DecodeString(f[2])
	if err != nil {
		return label + ": secret is not hex"
	}
	// TLS 1.2 master secrets are 48 bytes; TLS 1.3 secrets are as long as
	// the suite's hash: 32 (SHA-256) or 48 (SHA-384).
	if label == "CLIENT_RANDOM" && len(sec) != 48 {
		return fmt.Sprintf("%s: secret is %d bytes, want 48", label, len(sec))
	}
	if label != "CLIENT_RANDOM" && len(sec) != 32 && len(sec) != 48 {
		return fmt.Sprintf("%s: secret is %d bytes, want 32 or 48", label, len(sec))
	}
	s := k.m[cr]
	if s == nil {
		s = new(Secrets)
		k.m[cr] = s
	}
	switch label {
	case "CLIENT_RANDOM":
		s.master = sec
	case "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
		s.clientHS = sec
	case "SERVER_HANDSHAKE_TRAFFIC_SECRET":
		s.serverHS = sec
	case "CLIENT_TRAFFIC_SECRET_0":
		s.clientAP = sec
	case "SERVER_TRAFFIC_SECRET_0":
		s.serverAP = sec
	case "CLIENT_EARLY_TRAFFIC_SECRET":
		s.clientEarly = sec
	}
	return ""
}

// String says how many sessions the key log holds, never their secrets.
func (k *KeyLog) String() string { return fmt.Sprintf("tls.KeyLog{%d sessions: redacted}", k.Len()) }

// Format keeps every verb from printing the entries.
func (k *KeyLog) Format(f fmt.State, verb rune) { io.WriteString(f, k.String()) }

// Len is the number of sessions (client randoms) in the key log.
func (k *KeyLog) Len() int { return len(k.m) }

// Follow makes k read the lines appended to the key log file path whenever
// Lookup misses a session or finds it without its TLS 1.3 traffic secrets:
// for a key log written while the capture is analysed (connlint run gives
// the program it runs an SSLKEYLOGFILE). Lines that cannot be used are
// skipped silently there; a line not yet ended is left for the next read.
// Lookup is then serialised with the file reads.
func (k *KeyLog) Follow(path string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.follow, k.followOff = path, 0
}

// refill reads what was appended to the followed file. Called with k.mu held.
func (k *KeyLog) refill() {
	f, err := os.Open(k.follow)
	if err != nil {
		return
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, k.followOff, 1<<40))
	if err != nil {
		return
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	if end == 0 {
		return
	}
	k.followOff += int64(end)
	br := bufio.NewReaderSize(bytes.NewReader(b[:end]), maxKeyLogLine)
	for {
		line, err := readLine(br)
		if err == io.EOF {
			return
		}
		if err == nil {
			k.addLine(line)
		}
	}
}

// Lookup implements KeySource.
func (k *KeyLog) Lookup(clientRandom [32]byte) (Secrets, bool) {
	k.mu.Lock()
	following := k.follow != ""
	if following {
		defer k.mu.Unlock()
		if s, ok := k.m[clientRandom]; !ok || s.master == nil && (s.clientAP == nil || s.serverAP == nil) {
			k.refill()
		}
	} else {
		k.mu.Unlock()
	}
	s, ok := k.m[clientRandom]
	if !ok {
		return Secrets{}, false
	}
	return *s, true
}
