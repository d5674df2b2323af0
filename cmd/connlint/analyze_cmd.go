package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/capture"
)

// renderer is an analyze.Sink that also prints the end of the report.
type renderer interface {
	analyze.Sink
	finish(res *result)
}

func newRenderer(format string, w io.Writer, inputs []string, colorOn, all bool) renderer {
	switch format {
	case "json":
		return newJSONRenderer(w, inputs)
	case "ndjson":
		return &ndjsonRenderer{enc: newLineEncoder(w), inputs: inputs}
	}
	return &textRenderer{w: w, p: newPalette(colorOn), inputs: inputs, all: all}
}

// colorEnabled decides colour the way users expect: never when NO_COLOR is
// set or stdout is not a terminal, unless --color=always.
func colorEnabled(mode string, w io.Writer) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	if _, ok := os.LookupEnv("NO_COLOR"); ok {
		return false
	}
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

func newAnalyzeCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var fl analysisFlags
	var all, noProgress bool
	cmd := &cobra.Command{
		Use:   "analyze [flags] FILE...",
		Short: "Analyze pcap/pcapng files (several are merged in time order; - is stdin; .gz is read transparently)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := fl.config()
			if err != nil {
				return &exitError{code: exitBadInput, err: err}
			}
			res, err := analyzeFiles(args, &fl, cfg, stdin, stdout, stderr, all, !noProgress)
			if err != nil {
				return err
			}
			if res.readErr != nil {
				return &exitError{code: exitBadInput, err: res.readErr}
			}
			return nil
		},
	}
	fl.register(cmd.Flags(), "text")
	cmd.Flags().BoolVar(&all, "all", false, "text: show every TCP connection, not only HTTP ones and those with findings")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar on stderr")
	return cmd
}

// analyzeFiles runs one analysis over the given inputs (merged in time order)
// and renders it to stdout.
func analyzeFiles(paths []string, fl *analysisFlags, cfg *analyze.Config, stdin io.Reader, stdout, stderr io.Writer, all, progress bool) (*result, error) {
	src, err := capture.OpenFiles(paths, capture.FileOptions{Filter: fl.filter, Stdin: stdin})
	if err != nil {
		return nil, &exitError{code: exitBadInput, err: err}
	}
	defer src.Close()
	r := newRenderer(fl.format, stdout, src.Inputs(), colorEnabled(fl.color, stdout), all)
	eng := analyze.NewEngine(cfg, suite.Rules, r)
	var tick func()
	if bar := progressFor(paths, src, stderr, progress); bar != nil {
		tick = bar.tick
		defer bar.done()
	}
	res := pipeline(src, eng, fl.assemblerOptions(), tick)
	r.finish(res)
	return res, nil
}

type progress struct {
	bar *progressbar.ProgressBar
	src interface{ BytesRead() int64 }
}

func (p *progress) tick() { _ = p.bar.Set64(p.src.BytesRead()) }
func (p *progress) done() { _ = p.bar.Finish(); _ = p.bar.Clear() }

// progressFor shows a bar on stderr for inputs over 32 MB when stderr is a terminal.
func progressFor(paths []string, src capture.Source, stderr io.Writer, want bool) *progress {
	br, ok := src.(interface{ BytesRead() int64 })
	if !want || !ok || !isTerminal(stderr) {
		return nil
	}
	size := capture.SizeOf(paths)
	if size < 32<<20 {
		return nil
	}
	bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(stderr), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("reading"), progressbar.OptionThrottle(200e6), progressbar.OptionClearOnFinish())
	return &progress{bar: bar, src: br}
}

func newLintCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var fl analysisFlags
	var failOn string
	cmd := &cobra.Command{
		Use:   "lint [flags] FILE...",
		Short: "Check captures for a CI gate: exit 1 if any finding is at or above --fail-on, 2 on bad input",
		Long: `lint analyzes each file on its own and prints one line per finding
(file#frame severity rule: message). Exit status: 0 no finding at or above
--fail-on, 1 at least one, 2 an input could not be read or the usage is wrong.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := fl.config()
			if err != nil {
				return &exitError{code: exitBadInput, err: err}
			}
			if !cmd.Flags().Changed("fail-on") && fl.fileFailOn != "" {
				failOn = fl.fileFailOn
			}
			threshold, err := analyze.ParseSeverity(failOn)
			if err != nil {
				return &exitError{code: exitBadInput, err: fmt.Errorf("--fail-on: %v", err)}
			}
			return lintFiles(args, &fl, cfg, threshold, stdin, stdout, stderr)
		},
	}
	fl.register(cmd.Flags(), "text")
	cmd.Flags().StringVar(&failOn, "fail-on", "error", "lowest severity that fails the run: info, warning or error")
	return cmd
}

func lintFiles(paths []string, fl *analysisFlags, cfg *analyze.Config, threshold analyze.Severity, stdin io.Reader, stdout, stderr io.Writer) error {
	failed, bad := 0, 0
	// --format json: one document per file, wrapped as {"version":1,"files":[...]}
	var docs [][]byte
	for _, path := range paths {
		src, err := capture.OpenFiles([]string{path}, capture.FileOptions{Filter: fl.filter, Stdin: stdin})
		if err != nil {
			bad++
			fmt.Fprintln(stderr, "connlint:", oneLine(err.Error()))
			continue
		}
		var r renderer
		var doc bytes.Buffer
		switch fl.format {
		case "text":
			r = &lintRenderer{w: stdout, p: newPalette(colorEnabled(fl.color, stdout)), path: path}
		case "json":
			r = newJSONRenderer(&doc, src.Inputs())
		default:
			r = &ndjsonRenderer{enc: newLineEncoder(stdout), inputs: src.Inputs(), alwaysInput: true}
		}
		counter := &severityCounter{next: r, threshold: threshold}
		eng := analyze.NewEngine(cfg, suite.Rules, counter)
		res := pipeline(src, eng, fl.assemblerOptions(), nil)
		src.Close()
		r.finish(res)
		if doc.Len() > 0 {
			docs = append(docs, bytes.TrimSpace(doc.Bytes()))
		}
		failed += counter.n
		if res.readErr != nil {
			bad++
			fmt.Fprintln(stderr, "connlint:", oneLine(res.readErr.Error()))
		}
	}
	if fl.format == "json" {
		fmt.Fprintf(stdout, "{\"version\":1,\"files\":[%s]}\n", bytes.Join(docs, []byte(",")))
	}
	switch {
	case bad > 0:
		return &exitError{code: exitBadInput, err: fmt.Errorf("%d of %d inputs could not be read completely", bad, len(paths))}
	case failed > 0:
		return &exitError{code: exitFindings}
	}
	return nil
}

// severityCounter passes everything on and counts findings at or above threshold.
type severityCounter struct {
	next      analyze.Sink
	threshold analyze.Severity
	n         int
}

func (s *severityCounter) Finding(f *analyze.Finding) {
	if f.Severity >= s.threshold {
		s.n++
	}
	s.next.Finding(f)
}
func (s *severityCounter) Connection(c *analyze.ConnReport) { s.next.Connection(c) }

// lintRenderer prints golangci-lint style lines: file#frame severity rule: message.
type lintRenderer struct {
	w        io.Writer
	p        palette
	path     string
	findings []*analyze.Finding
}

func (l *lintRenderer) Finding(f *analyze.Finding)     { l.findings = append(l.findings, f) }
func (l *lintRenderer) Connection(*analyze.ConnReport) {}
func (l *lintRenderer) finish(*result) {
	sortFindings(l.findings)
	for _, f := range l.findings {
		loc := l.path
		if len(f.Frames) > 0 {
			loc = fmt.Sprintf("%s#%d", l.path, f.Frames[0].Frame)
		}
		where := ""
		if f.Conn.ID != 0 {
			where = fmt.Sprintf(" (conn %d %s → %s", f.Conn.ID, f.Conn.Client, f.Conn.Server)
			if f.Transaction > 0 {
				where += fmt.Sprintf(", tx %d", f.Transaction)
			}
			where += ")"
		}
		fmt.Fprintf(l.w, "%s: %s %s: %s%s\n", loc, l.p.sev(f.Severity), l.p.bold(f.Rule), f.Message, l.p.dim(where))
	}
}
