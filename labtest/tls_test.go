package labtest

import (
	"bytes"
	binenc "encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// testdata/tls holds HTTPS recordings of real programs with the key logs
// they wrote (testdata/tls/record.sh): connlint given the key log must find
// the transactions tshark finds with the same keys, at the same frames, and
// the rules must work on the decrypted data (Nagle inside TLS). The bad-input
// tests damage the keys or the capture and check that connlint says so in
// tls.note, keeps quiet about HTTP it could not read, and never prints key
// material.

func tlsDir() string { return filepath.Join(root, "testdata", "tls") }

type tlsReport struct {
	Findings    []finding `json:"findings"`
	Connections []struct {
		ID  int `json:"id"`
		TLS *struct {
			Version   string `json:"version"`
			SNI       string `json:"sni"`
			ALPN      string `json:"alpn"`
			Cipher    string `json:"cipher"`
			Resumed   bool   `json:"resumed"`
			Decrypted bool   `json:"decrypted"`
			Note      string `json:"note"`
		} `json:"tls"`
		Transactions []struct {
			Method        string `json:"method"`
			Status        int    `json:"status"`
			RequestFrame  int    `json:"request_frame"`
			ResponseFrame int    `json:"response_frame"`
			NoResponse    bool   `json:"no_response"`
		} `json:"transactions"`
	} `json:"connections"`
	Summary struct {
		Transactions int `json:"transactions"`
	} `json:"summary"`
}

// runTLS runs connlint analyze with args and returns the report, stdout and stderr.
func runTLS(t *testing.T, args ...string) (tlsReport, string, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"analyze"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var r tlsReport
	if slices.Contains(args, "json") {
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("connlint analyze %v: %v; not JSON: %v\nstderr: %s", args, runErr, err, stderr.String())
		}
	}
	return r, stdout.String(), stderr.String()
}

// secretsOf returns the hex secrets of a key log (third field of each line).
func secretsOf(t *testing.T, keys string) []string {
	t.Helper()
	b, err := os.ReadFile(keys)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			out = append(out, strings.ToLower(f[2]), strings.ToUpper(f[2]))
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no secrets", keys)
	}
	return out
}

func noSecrets(t *testing.T, secrets []string, outs ...string) {
	t.Helper()
	for _, o := range outs {
		for _, s := range secrets {
			// any 16 hex digits of a secret are too many
			for i := 0; i+16 <= len(s); i += 16 {
				if strings.Contains(o, s[i:i+16]) {
					t.Fatalf("output contains key material (%s…)", s[i:i+4])
				}
			}
		}
	}
}

func TestTLS(t *testing.T) {
	truths := loadTruthsIn(t, tlsDir())
	if binary == "" {
		t.Skip(buildErr)
	}
	for _, tr := range truths {
		t.Run(tr.Scenario, func(t *testing.T) {
			keys := filepath.Join(tlsDir(), tr.Facts["keylog"].(string))
			pcap := filepath.Join(tlsDir(), tr.Pcap)
			rep, out, errOut := runTLS(t, "--keylog", keys, "--format", "json", pcap)
			if errOut != "" {
				t.Errorf("stderr: %s", errOut)
			}
			var generic report
			if err := json.Unmarshal([]byte(out), &generic); err != nil {
				t.Fatal(err)
			}
			for i, e := range tr.Expect {
				t.Run(fmt.Sprintf("%d-%s", i, e.Rule), func(t *testing.T) { check(t, tr, e, generic.Findings) })
			}
			checkQuiet(t, tr, generic)
			checkTransactions(t, tr, generic)

			// Frames: tshark's (http.desegment_body off: a message at its header block's frame).
			ts := tr.Facts["tshark"].(map[string]any)
			var wantReq, wantResp, gotReq, gotResp [][2]any
			for _, r := range ts["requests"].([]any) {
				x := r.([]any)
				wantReq = append(wantReq, [2]any{int(x[0].(float64)), x[1].(string)})
			}
			for _, r := range ts["responses"].([]any) {
				x := r.([]any)
				wantResp = append(wantResp, [2]any{int(x[0].(float64)), int(x[1].(float64))})
			}
			for _, c := range rep.Connections {
				if c.TLS == nil || !c.TLS.Decrypted || c.TLS.Note != "" {
					t.Errorf("conn %d: tls %+v, want decrypted without a note", c.ID, c.TLS)
				}
				for _, x := range c.Transactions {
					gotReq = append(gotReq, [2]any{x.RequestFrame, x.Method})
					gotResp = append(gotResp, [2]any{x.ResponseFrame, x.Status})
				}
			}
			if !slices.Equal(gotReq, wantReq) || !slices.Equal(gotResp, wantResp) {
				t.Errorf("requests %v responses %v; tshark: %v %v", gotReq, gotResp, wantReq, wantResp)
			}
			_, text, textErr := runTLS(t, "--keylog", keys, "--all", "--verbose", pcap)
			if !strings.Contains(text, "  tls TLS 1.") {
				t.Errorf("text output has no tls line:\n%s", text)
			}
			noSecrets(t, secretsOf(t, keys), out, errOut, text, textErr)
		})
	}
}

// TestTLSWithoutKeys analyses each recording without its key log: the
// rules that need only TCP timing and message boundaries judge the TLS
// records (expect_without_keys), their findings say so, and no finding
// claims HTTP content (no transaction is made up).
func TestTLSWithoutKeys(t *testing.T) {
	truths := loadTruthsIn(t, tlsDir())
	if binary == "" {
		t.Skip(buildErr)
	}
	recordRules := []string{"nagle-delayed-ack", "delayed-ack-stall", "handshake-overhead", "no-connection-reuse",
		"parallel-connections", "abortive-close"}
	for _, tr := range truths {
		t.Run(tr.Scenario, func(t *testing.T) {
			pcap := filepath.Join(tlsDir(), tr.Pcap)
			rep, out, errOut := runTLS(t, "--format", "json", pcap)
			if errOut != "" {
				t.Errorf("stderr: %s", errOut)
			}
			if len(tr.ExpectWithoutKeys) == 0 {
				t.Fatalf("%s: truth has no expect_without_keys", tr.Scenario)
			}
			var generic report
			if err := json.Unmarshal([]byte(out), &generic); err != nil {
				t.Fatal(err)
			}
			for i, e := range tr.ExpectWithoutKeys {
				t.Run(fmt.Sprintf("%d-%s", i, e.Rule), func(t *testing.T) { check(t, tr, e, generic.Findings) })
			}
			if rep.Summary.Transactions != 0 {
				t.Errorf("%d transactions without keys", rep.Summary.Transactions)
			}
			for _, c := range rep.Connections {
				if c.TLS == nil || c.TLS.Decrypted || c.TLS.Note != "no key for this session" {
					t.Errorf("conn %d: tls %+v", c.ID, c.TLS)
				}
			}
			for _, f := range generic.Findings {
				if f.Severity == "error" {
					t.Errorf("error finding on ordinary HTTPS: %s", describe(f))
				}
				if slices.Contains(recordRules, f.Rule) &&
					(f.Details["judged_from"] != "tls-records" || !strings.Contains(f.Message, "judged from TLS records")) {
					t.Errorf("%s judged without keys does not say it was judged from TLS records: %s", f.Rule, describe(f))
				}
			}
		})
	}
}

// badInputBase is the recording the bad-input tests damage.
const badInputBase = "python-tls-nagle"

func TestTLSBadInput(t *testing.T) {
	if binary == "" {
		t.Skip(buildErr)
	}
	pcap := filepath.Join(tlsDir(), badInputBase+".pcap")
	keys := filepath.Join(tlsDir(), badInputBase+".keys")
	if _, err := os.Stat(pcap); err != nil {
		t.Skipf("recording absent: %v", err)
	}
	secrets := secretsOf(t, keys)
	tmp := t.TempDir()
	httpRules := []string{"content-length-mismatch", "unsolicited-response", "conflicting-framing", "body-on-bodiless-response", "unframed-persistent-response", "request-after-close", "nagle-delayed-ack"}
	noHTTPFindings := func(t *testing.T, rep tlsReport) {
		t.Helper()
		for _, f := range rep.Findings {
			// a stall judged from the TLS records and TCP is not read from
			// the undecrypted bytes, and says so
			if f.Details["judged_from"] == "tls-records" && strings.Contains(f.Message, "judged from TLS records") {
				continue
			}
			if slices.Contains(httpRules, f.Rule) {
				t.Errorf("finding from bytes that were not decrypted: %s %v %s", f.Rule, f.Frames, f.Message)
			}
		}
	}
	oneConn := func(t *testing.T, rep tlsReport) {
		t.Helper()
		if len(rep.Connections) != 1 || rep.Connections[0].TLS == nil {
			t.Fatalf("want one TLS connection, got %+v", rep.Connections)
		}
	}

	t.Run("missing-key", func(t *testing.T) {
		rep, out, errOut := runTLS(t, "--format", "json", pcap)
		oneConn(t, rep)
		if c := rep.Connections[0].TLS; c.Decrypted || c.Note != "no key for this session" || c.Version != "TLS 1.3" || c.SNI != "connlint.test" {
			t.Errorf("tls %+v", c)
		}
		if rep.Summary.Transactions != 0 {
			t.Errorf("%d transactions without keys", rep.Summary.Transactions)
		}
		noHTTPFindings(t, rep)
		noSecrets(t, secrets, out, errOut)
	})

	t.Run("wrong-key", func(t *testing.T) {
		b, _ := os.ReadFile(keys)
		var wrong []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(l)
			s := []byte(f[2]) // the same secret with its first hex digit changed
			if s[0] == '0' {
				s[0] = '1'
			} else {
				s[0] = '0'
			}
			wrong = append(wrong, f[0]+" "+f[1]+" "+string(s))
		}
		wk := filepath.Join(tmp, "wrong.keys")
		os.WriteFile(wk, []byte(strings.Join(wrong, "\n")+"\n"), 0o600)
		rep, out, errOut := runTLS(t, "--keylog", wk, "--format", "json", pcap)
		oneConn(t, rep)
		c := rep.Connections[0].TLS
		if c.Decrypted || !strings.Contains(c.Note, "decryption failed (wrong key or corrupt record)") ||
			!strings.Contains(c.Note, "client_to_server") || !strings.Contains(c.Note, "server_to_client") {
			t.Errorf("tls %+v", c)
		}
		if rep.Summary.Transactions != 0 {
			t.Errorf("%d transactions from a wrong key", rep.Summary.Transactions)
		}
		noHTTPFindings(t, rep)
		noSecrets(t, secrets, out, errOut)
		noSecrets(t, secretsOf(t, wk), out, errOut)
	})

	t.Run("corrupt-record", func(t *testing.T) {
		// Flip a byte in the last response's header record (its AEAD tag):
		// the server's direction stops decrypting there; what came before
		// is still analysed, nothing after it is judged.
		tr := loadTLSTruth(t, badInputBase)
		resp := tr.Facts["tshark"].(map[string]any)["responses"].([]any)
		frame := int(resp[len(resp)-1].([]any)[0].(float64))
		bad := filepath.Join(tmp, "corrupt.pcap")
		os.WriteFile(bad, flipInFrame(t, pcap, frame), 0o600)
		rep, out, errOut := runTLS(t, "--keylog", keys, "--format", "json", bad)
		oneConn(t, rep)
		c := rep.Connections[0].TLS
		if !c.Decrypted || !strings.Contains(c.Note, "server_to_client: decryption failed (wrong key or corrupt record), decryption stopped at stream offset") ||
			strings.Contains(c.Note, "client_to_server") {
			t.Errorf("tls %+v", c)
		}
		txs := rep.Connections[0].Transactions
		if len(txs) != len(resp) || txs[len(txs)-1].Status != 0 || txs[len(txs)-2].Status != 200 {
			t.Errorf("transactions %+v: want the last one without its response, the others whole", txs)
		}
		for _, f := range rep.Findings {
			if f.Rule != "nagle-delayed-ack" && slices.Contains(httpRules, f.Rule) {
				t.Errorf("finding from the corrupt record: %s %s", f.Rule, f.Message)
			}
		}
		noSecrets(t, secrets, out, errOut)
	})

	t.Run("malformed-keylog-lines", func(t *testing.T) {
		b, _ := os.ReadFile(keys)
		mk := filepath.Join(tmp, "malformed.keys")
		bad := "CLIENT_RANDOM zz 00\n" + string(b) + "SERVER_TRAFFIC_SECRET_0 " + strings.Repeat("ab", 32) + " 0123456789abcdef0123\nnot a key log line\n"
		os.WriteFile(mk, []byte(bad), 0o600)
		rep, out, errOut := runTLS(t, "--keylog", mk, "--format", "json", pcap)
		n := strings.Count(string(b), "\n")
		for _, line := range []int{1, n + 2, n + 3} {
			want := mk + ":" + strconv.Itoa(line) + ":"
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr does not name %s:\n%s", want, errOut)
			}
		}
		if strings.Count(errOut, "\n") != 3 {
			t.Errorf("want one warning line per bad line:\n%s", errOut)
		}
		oneConn(t, rep)
		if c := rep.Connections[0].TLS; !c.Decrypted || c.Note != "" || rep.Summary.Transactions != 4 {
			t.Errorf("the good lines were not used: tls %+v, %d transactions", c, rep.Summary.Transactions)
		}
		noSecrets(t, secrets, out, errOut)
		if strings.Contains(errOut, "0123456789abcdef0123") {
			t.Errorf("a malformed line's content was printed: %s", errOut)
		}
	})

	t.Run("unreadable-keylog", func(t *testing.T) {
		cmd := exec.Command(binary, "analyze", "--keylog", filepath.Join(tmp, "absent.keys"), pcap)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "--keylog") {
			t.Errorf("want an error naming --keylog, got %v: %s", err, out)
		}
	})
}

// TestTLSDecryptionSecretsBlock: the keys travel inside the pcapng
// (editcap --inject-secrets tls,KEYS), no --keylog needed.
func TestTLSDecryptionSecretsBlock(t *testing.T) {
	if binary == "" {
		t.Skip(buildErr)
	}
	ng := filepath.Join(tlsDir(), "nginx-tls13-chacha-dsb.pcapng")
	if _, err := os.Stat(ng); err != nil {
		t.Skipf("absent: %v", err)
	}
	rep, out, errOut := runTLS(t, "--format", "json", ng)
	if len(rep.Connections) != 1 || rep.Connections[0].TLS == nil || !rep.Connections[0].TLS.Decrypted || rep.Summary.Transactions != 3 {
		t.Errorf("keys from the Decryption Secrets Block not used: %+v", rep)
	}
	noSecrets(t, secretsOf(t, filepath.Join(tlsDir(), "nginx-tls13-chacha.keys")), out, errOut)
}

func loadTLSTruth(t *testing.T, name string) Truth {
	for _, tr := range loadTruthsIn(t, tlsDir()) {
		if tr.Scenario == name {
			return tr
		}
	}
	t.Fatalf("no truth %s", name)
	return Truth{}
}

// flipInFrame returns a classic little-endian pcap with one byte flipped 3
// bytes before the end of frame (1-based).
func flipInFrame(t *testing.T, path string, frame int) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if binenc.LittleEndian.Uint32(b) != 0xa1b2c3d4 && binenc.LittleEndian.Uint32(b) != 0xa1b23c4d {
		t.Skip("not a little-endian classic pcap")
	}
	off := 24
	for n := 1; off+16 <= len(b); n++ {
		incl := int(binenc.LittleEndian.Uint32(b[off+8:]))
		if n == frame {
			b[off+16+incl-3] ^= 0x5a
			return b
		}
		off += 16 + incl
	}
	t.Fatalf("frame %d not in %s", frame, path)
	return nil
}
