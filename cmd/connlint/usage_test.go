package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Issue 18, the command line a tcpdump/tshark/golangci-lint user expects.

const labPipelining = "../../testdata/lab/pipelining.pcap"

// oneLine fails unless stderr is exactly one line containing every want.
func oneLine(t *testing.T, args []string, code int, stderr string, want ...string) {
	t.Helper()
	if code != exitBadInput {
		t.Errorf("%v: exit %d, want 2", args, code)
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("%v: stderr is not one line: %q", args, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("%v: stderr %q lacks %q", args, stderr, w)
		}
	}
}

// item 1: --version prints what `version` prints.
func TestVersionFlag(t *testing.T) {
	code, flag, _ := runCLI("--version")
	_, cmd, _ := runCLI("version")
	if code != 0 || flag != cmd || !strings.HasPrefix(flag, "connlint dev (") {
		t.Fatalf("--version: exit %d %q; version prints %q", code, flag, cmd)
	}
}

// item 2: trailing arguments after -- are the BPF filter, as the help says.
func TestTrailingBPF(t *testing.T) {
	needFile(t, labPipelining)
	all, code, _ := analyzeJSON(t, labPipelining)
	if code != 0 || all.Summary.Packets == 0 {
		t.Fatalf("exit %d", code)
	}
	none, code, stderr := analyzeJSON(t, labPipelining, "--", "tcp", "port", "1")
	if code != 0 || stderr != "" {
		t.Fatalf("-- tcp port 1: exit %d, %q", code, stderr)
	}
	if none.Summary.Filtered != all.Summary.Packets || len(none.Connections) != 0 {
		t.Errorf("-- tcp port 1: %d of %d packets filtered, %d connections", none.Summary.Filtered, all.Summary.Packets, len(none.Connections))
	}
	port := strings.Split(all.Connections[0].Server, ":")[1]
	same, code, _ := analyzeJSON(t, labPipelining, "--", "tcp", "port", port)
	if code != 0 || len(same.Connections) != len(all.Connections) || same.Summary.Filtered != 0 {
		t.Errorf("-- tcp port %s: exit %d, %d connections (want %d)", port, code, len(same.Connections), len(all.Connections))
	}
	// and for lint, combined with -f
	code, _, stderr = runCLI("lint", "-f", "tcp", labPipelining, "--", "port", "1")
	if code != 0 || stderr != "" {
		t.Errorf("lint -f tcp FILE -- port 1: exit %d %q", code, stderr)
	}
	args := []string{"analyze", "--", "tcp"}
	code, _, stderr = runCLI(args...)
	oneLine(t, args, code, stderr, "no capture file")
}

// item 3: typos get suggestions, on the one line that is printed.
func TestSuggestions(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"analzye", "x"}, []string{`unknown command "analzye"`, "did you mean analyze?"}},
		{[]string{"explain", "nagle"}, []string{`unknown rule "nagle"`, "did you mean nagle-delayed-ack?"}},
		{[]string{"explain", "delayed-ack-stal"}, []string{"did you mean delayed-ack-stall?"}},
		{[]string{"analyze", "--enable", "nagle", "x.pcap"}, []string{"--enable:", "did you mean nagle-delayed-ack?"}},
		{[]string{"analyze", "--disable", "pipelinig", "x.pcap"}, []string{"--disable:", "did you mean pipelining"}},
		{[]string{"analyze", "--set", "keepalive-rac=error", "x.pcap"}, []string{"--set:", "did you mean keepalive-race?"}},
	} {
		code, _, stderr := runCLI(c.args...)
		oneLine(t, c.args, code, stderr, c.want...)
	}
	// a rule ID in another case is the rule
	code, out, _ := runCLI("explain", "NAGLE-DELAYED-ACK")
	if code != 0 || !strings.HasPrefix(out, "# nagle-delayed-ack") {
		t.Errorf("explain NAGLE-DELAYED-ACK: exit %d %.40q", code, out)
	}
	needFile(t, labNagle)
	if code, _, stderr := runCLI("lint", "--fail-on", "warning", "--disable", "Nagle-Delayed-ACK", labNagle); code != exitOK {
		t.Errorf("--disable Nagle-Delayed-ACK: exit %d %q", code, stderr)
	}
}

// item 4: every bad value is refused, naming the flag or the file:line, and
// saying what is allowed.
func TestValueValidation(t *testing.T) {
	for _, c := range []struct {
		flag, value, want string
	}{
		{"--unframed-idle", "0s", "--unframed-idle must be a positive duration"},
		{"--unframed-idle", "-1s", "--unframed-idle must be a positive duration"},
		{"--stall-min", "-5ms", "--stall-min must be a positive duration"},
		{"--msl", "0", "--msl must be a positive duration, like 30s"},
		{"--initial-window", "0", "--initial-window must be at least 1"},
		{"--handshake-share", "0", "--handshake-share must be a share above 0 and at most 1"},
		{"--handshake-share", "1.5", "--handshake-share must be"},
		{"--max-conns", "0", "--max-conns must be at least 1"},
		{"--no-reuse-min", "1", "--no-reuse-min must be at least 2"},
		{"--parallel-max", "0", "--parallel-max must be at least 1"},
		{"--ephemeral-ports", "70000", "--ephemeral-ports must be between 1 and 65535"},
		{"--idle-timeout", "0s", "--idle-timeout must be a positive duration"},
		{"--max-ooo-bytes", "-1", "--max-ooo-bytes must be 0 or more"},
		{"--max-ooo-total", "-1", "--max-ooo-total must be 0 or more"},
	} {
		args := []string{"analyze", "--config", "", c.flag, c.value, "x.pcap"}
		code, _, stderr := runCLI(args...)
		oneLine(t, args, code, stderr, c.want)
	}
	dir := t.TempDir()
	for _, c := range []struct {
		yaml string
		want []string
	}{
		{"fail-on: warning\nseverity:\n  pipelining: bad\n", []string{"c.yaml:3: severity of pipelining", `unknown severity "bad" (want info, warning or error)`}},
		{"thresholds:\n  stall-min: 20\n", []string{"c.yaml:2: thresholds.stall-min", "no unit", "20ms"}},
		{"thresholds:\n  stall-min: -5ms\n", []string{"c.yaml:2: thresholds.stall-min must be a positive duration"}},
		{"\nlimits:\n  max-conns: lots\n", []string{"c.yaml:3: limits.max-conns", `"lots" is not a whole number`}},
		{"thresholds:\n  handshake-share: [1]\n", []string{"c.yaml:2: thresholds.handshake-share", "not a list or a map"}},
		{"thresholds: {stal-min: 5ms}\n", []string{"c.yaml:1:", `unknown key "stal-min" in thresholds`, "stall-min"}},
		{"enable: [nagle]\n", []string{"c.yaml:1: enable", "did you mean nagle-delayed-ack?"}},
		{"enable: pipelining\n", []string{"c.yaml:1: enable: want a list of rule IDs"}},
		{"fail-on: worse\n", []string{"c.yaml:1: fail-on", `unknown severity "worse"`}},
		{"limits:\n  max-conns: 1\nfoo: : :\n", []string{"c.yaml:3: not valid YAML"}},
	} {
		cfg := filepath.Join(dir, "c.yaml")
		os.WriteFile(cfg, []byte(c.yaml), 0o644)
		args := []string{"lint", "--config", cfg, "x.pcap"}
		code, _, stderr := runCLI(args...)
		oneLine(t, append(args, c.yaml), code, stderr, c.want...)
		for _, bad := range []string{"--set", "time.Duration", "!!"} {
			if strings.Contains(stderr, bad) {
				t.Errorf("%q: stderr %q blames %q", c.yaml, stderr, bad)
			}
		}
	}
	// a correct capture with the default unframed-idle stays quiet (0s was
	// accepted and made a false finding)
	needFile(t, labPipelining)
	if code, out, _ := runCLI("lint", "--fail-on", "warning", labPipelining); code != exitOK {
		t.Errorf("pipelining.pcap with defaults: exit %d\n%s", code, out)
	}
}

// item 14: the same file twice is refused rather than merged with itself.
func TestSameFileTwice(t *testing.T) {
	needFile(t, labPipelining)
	link := filepath.Join(t.TempDir(), "other-name.pcap")
	if err := os.Symlink(mustAbs(t, labPipelining), link); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"analyze", labPipelining, labPipelining},
		{"analyze", labPipelining, link},
		{"lint", labPipelining, labPipelining},
		{"analyze", "-", "-"},
	} {
		code, out, stderr := runCLI(args...)
		oneLine(t, args, code, stderr, "once")
		if out != "" {
			t.Errorf("%v: printed a report: %.200s", args, out)
		}
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// item 13: completion knows rule IDs, formats, interfaces; an unknown shell
// is an error.
func TestCompletion(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "explain", ""}, []string{"nagle-delayed-ack\t", "port-churn\t"}},
		{[]string{"__complete", "analyze", "--enable", "pipelining,"}, []string{"pipelining,keepalive-race\t"}},
		{[]string{"__complete", "lint", "--disable", ""}, []string{"abortive-close\t"}},
		{[]string{"__complete", "analyze", "--set", "pipe"}, []string{"pipelining=\n"}},
		{[]string{"__complete", "analyze", "--set", "pipelining="}, []string{"pipelining=warning\n"}},
		{[]string{"__complete", "analyze", "--format", ""}, []string{"text\t", "json\t", "ndjson\t"}},
		{[]string{"__complete", "sniff", "-i", ""}, []string{"any\n", "lo\n"}},
	} {
		code, out, _ := runCLI(c.args...)
		for _, w := range c.want {
			if code != 0 || !strings.Contains(out, w) {
				t.Errorf("%v: exit %d, output lacks %q:\n%.300s", c.args, code, w, out)
			}
		}
	}
	args := []string{"completion", "tcsh"}
	code, out, stderr := runCLI(args...)
	oneLine(t, args, code, stderr, `unknown shell "tcsh"`, "bash")
	if out != "" {
		t.Errorf("completion tcsh printed %q", out)
	}
	if code, out, _ := runCLI("completion", "bash"); code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d", code)
	}
}

// item 14: the README names every flag of every command (long form), so
// what the binary accepts is documented.
func TestReadmeListsEveryFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"analyze", "lint", "sniff", "rules"} {
		_, help, _ := runCLI(cmd, "--help")
		for _, m := range flagName.FindAllStringSubmatch(help, -1) {
			if m[1] == "help" {
				continue
			}
			if !strings.Contains(string(readme), "`--"+m[1]) {
				t.Errorf("README does not mention %s --%s", cmd, m[1])
			}
		}
	}
	if !strings.Contains(string(readme), "--version") {
		t.Error("README does not mention --version")
	}
}

var flagName = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z-]+)`)
