package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/render"
)

// sharedDir finds ../shared next to the module root (the project layout);
// tests that need it skip when it is absent (a clone elsewhere).
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	for _, cand := range []string{filepath.Join("..", "..", "..", "shared", sub), filepath.Join("/work/shared", sub)} {
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			// a symlinked folder would stop filepath.WalkDir at its root
			if real, err := filepath.EvalSymlinks(cand); err == nil {
				return real
			}
			return cand
		}
	}
	t.Skipf("shared/%s not found next to the repository; skipping", sub)
	return ""
}

// corpusFiles lists every capture under shared/corpus.
func corpusFiles(t testing.TB) (string, []string) {
	dir := sharedDir(t, "corpus")
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			files = append(files, p)
		}
		return nil
	})
	return dir, files
}

// jsonDoc is the part of the JSON document the tests read.
// The JSON schema types, as the renderer defines them.
type (
	jsonConn    = render.JSONConn
	jsonFinding = render.JSONFinding
	jsonSummary = render.JSONSummary
)

// Exit codes as the tests name them.
const (
	exitOK       = cli.ExitOK
	exitFindings = cli.ExitFindings
	exitBadInput = cli.ExitBadInput
)

type jsonDoc struct {
	Version     int           `json:"version"`
	Inputs      []string      `json:"inputs"`
	Connections []jsonConn    `json:"connections"`
	Findings    []jsonFinding `json:"findings"`
	Summary     jsonSummary   `json:"summary"`
}

func analyzeJSON(t *testing.T, args ...string) (jsonDoc, int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"analyze", "--format", "json"}, args...), nil, &out, &errb)
	var doc jsonDoc
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatalf("%v: output is not valid JSON: %v\n%s", args, err, out.String())
	}
	return doc, code, errb.String()
}

// TestCorpusParses: every third-party capture is analyzed with exit status
// 0, valid JSON of schema version 1, and the packet count the manifest lists.
func TestCorpusParses(t *testing.T) {
	_, files := corpusFiles(t)
	if len(files) < 62 {
		t.Fatalf("found %d corpus captures, MANIFEST.md lists 62", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
			doc, code, stderr := analyzeJSON(t, f)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			if doc.Version != 1 || len(doc.Inputs) != 1 || doc.Summary.Packets == 0 {
				t.Fatalf("bad document: version %d inputs %v packets %d", doc.Version, doc.Inputs, doc.Summary.Packets)
			}
			for _, fd := range doc.Findings {
				if len(fd.Frames) == 0 || fd.Message == "" || fd.Hint == "" {
					t.Errorf("finding without evidence: %+v", fd)
				}
				for _, fr := range fd.Frames {
					if fr < 1 || fr > doc.Summary.Packets {
						t.Errorf("%s cites frame %d of %d", fd.Rule, fr, doc.Summary.Packets)
					}
				}
			}
		})
	}
}
