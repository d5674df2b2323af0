package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Issue 16: `connlint report -o FILE` writes the HTML page.

var drawnRE = regexp.MustCompile(`report written to .* \((\d+) finding\(s\), (\d+) drawn\)`)

// reportRun runs `connlint report` and returns its exit code, the page and stderr.
func reportRun(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	var in *bytes.Reader
	if stdin != nil {
		in = bytes.NewReader(stdin)
	} else {
		in = bytes.NewReader(nil)
	}
	code := run(append([]string{"report", "--config", ""}, args...), in, &out, &errb)
	return code, out.String(), errb.String()
}

func figures(page string) int { return strings.Count(page, `<figure class="diagram"`) }

func TestReportCommand(t *testing.T) {
	needFile(t, labNagle)
	needFile(t, labPortChurn)
	dir := t.TempDir()

	t.Run("page", func(t *testing.T) {
		out := filepath.Join(dir, "nagle.html")
		code, stdout, stderr := reportRun(t, nil, "-o", out, labNagle)
		if code != exitOK || stdout != "" {
			t.Fatalf("exit %d, stdout %q, stderr %s", code, stdout, stderr)
		}
		m := drawnRE.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("stderr does not say what was written: %q", stderr)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		page := string(b)
		drawn, _ := strconv.Atoi(m[2])
		if drawn == 0 || figures(page) != drawn {
			t.Errorf("%d diagrams in the page, stderr says %d drawn", figures(page), drawn)
		}
		// Each ladder names its evidence frames; the Nagle lab's first finding
		// is a nagle-delayed-ack with a data_kind ladder.
		if !strings.Contains(page, `data-rule="nagle-delayed-ack"`) || !strings.Contains(page, `data-kind="ladder"`) {
			t.Errorf("no nagle-delayed-ack ladder in the page")
		}
		if strings.Contains(page, "No diagram:") {
			t.Errorf("a drawn finding has no diagram although the file can be read twice")
		}
	})

	t.Run("max-diagrams", func(t *testing.T) {
		out := filepath.Join(dir, "churn.html")
		code, _, stderr := reportRun(t, nil, "--max-diagrams", "1", "-o", out, labPortChurn)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		b, _ := os.ReadFile(out)
		page := string(b)
		m := drawnRE.FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("stderr: %q", stderr)
		}
		if drawn, _ := strconv.Atoi(m[2]); figures(page) != drawn {
			t.Errorf("%d diagrams, %d drawn", figures(page), drawn)
		}
		if !regexp.MustCompile(`and \d+ more handshake-overhead finding\(s\)`).MatchString(page) {
			t.Errorf("the page does not count the findings beyond --max-diagrams 1")
		}
	})

	t.Run("stdout", func(t *testing.T) {
		code, stdout, stderr := reportRun(t, nil, "-o", "-", labNagle)
		if code != exitOK || !strings.HasPrefix(stdout, "<!DOCTYPE html>") || figures(stdout) == 0 {
			t.Fatalf("-o -: exit %d, %d bytes, stderr %s", code, len(stdout), stderr)
		}
	})

	t.Run("stdin", func(t *testing.T) {
		b, err := os.ReadFile(labNagle)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "stdin.html")
		code, _, stderr := reportRun(t, b, "-o", out, "-")
		if code != exitOK {
			t.Fatalf("stdin: exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "cannot be read a second time") {
			t.Errorf("stderr does not say the diagrams are missing: %q", stderr)
		}
		page, _ := os.ReadFile(out)
		if !bytes.Contains(page, []byte("No diagram:")) || !bytes.Contains(page, []byte("standard input cannot be read a second time")) {
			t.Errorf("the stdin page does not say why it has no ladders")
		}
	})

	t.Run("truncated", func(t *testing.T) {
		b, err := os.ReadFile(labNagle)
		if err != nil {
			t.Fatal(err)
		}
		cut := filepath.Join(dir, "cut.pcap")
		if err := os.WriteFile(cut, b[:len(b)*2/3], 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "cut.html")
		code, _, stderr := reportRun(t, nil, "-o", out, cut)
		if code != exitBadInput {
			t.Fatalf("truncated capture: exit %d, want %d: %s", code, exitBadInput, stderr)
		}
		page, err := os.ReadFile(out)
		if err != nil || !bytes.Contains(page, []byte("Reading the inputs stopped early")) || !bytes.HasSuffix(page, []byte("</html>")) {
			t.Errorf("the page up to the damage was not written whole (%v)", err)
		}
	})

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no -o", []string{labNagle}, "-o FILE is required"},
		{"missing file", []string{"-o", filepath.Join(dir, "x.html"), "no-such.pcap"}, "no-such.pcap"},
		{"bad -o", []string{"-o", filepath.Join(dir, "no", "dir", "x.html"), labNagle}, "-o:"},
		{"bad max-diagrams", []string{"--max-diagrams", "0", "-o", filepath.Join(dir, "x.html"), labNagle}, "--max-diagrams"},
		{"no file", []string{"-o", filepath.Join(dir, "x.html")}, "requires at least 1 arg"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := reportRun(t, nil, c.args...)
			if code != exitBadInput || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitBadInput, c.want)
			}
		})
	}
}
