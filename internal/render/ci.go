package render

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/ci"
	"github.com/connlint/connlint/internal/ci/github"
	"github.com/connlint/connlint/internal/ci/gitlab"
	"github.com/connlint/connlint/internal/ci/junit"
	"github.com/connlint/connlint/internal/ci/sarif"
)

// The CI formats (internal/ci/*) each write one document from a ci.Input,
// so their renderers collect the findings and write at Finish (one
// analysis) or Close (a lint run: every file in one document).

// ToolInfoURI is the project page the CI formats name as the tool's home.
const ToolInfoURI = "https://github.com/connlint/connlint"

// StepSummaryEnv names the file GitHub Actions shows as the job summary;
// the github format appends its Markdown table there when it is set.
const StepSummaryEnv = "GITHUB_STEP_SUMMARY"

// ciWriter is one CI format's writer.
type ciWriter func(w io.Writer, in *ci.Input) error

func ciFormat(write ciWriter) (func(io.Writer, Options) Renderer, func(io.Writer, Options) Batch) {
	return func(w io.Writer, o Options) Renderer {
			return &ciRenderer{w: NewWriter(w), o: o, write: write}
		}, func(w io.Writer, o Options) Batch {
			return &ciBatch{w: NewWriter(w), o: o, write: write}
		}
}

var (
	newSARIF, newSARIFBatch   = ciFormat(sarif.Write)
	newJUnit, newJUnitBatch   = ciFormat(junit.Write)
	newGitHub, newGitHubBatch = ciFormat(writeGitHub)
	newGitLab, newGitLabBatch = ciFormat(gitlab.Write)
)

// writeGitHub prints the workflow commands and, inside a GitHub Actions
// job, appends the Markdown summary to the job summary file. A summary
// that cannot be written is an error like any output that is lost.
func writeGitHub(w io.Writer, in *ci.Input) error {
	if err := github.Write(w, in); err != nil {
		return err
	}
	path := os.Getenv(StepSummaryEnv)
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %w", StepSummaryEnv, err)
	}
	err = github.WriteSummary(f, in)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", StepSummaryEnv, path, err)
	}
	return nil
}

// RuleMetas describes the rules cfg enables (all rules when cfg is nil),
// with their effective severity, in catalogue order.
func RuleMetas(cfg *analyze.Config) []ci.RuleMeta {
	var out []ci.RuleMeta
	for _, r := range suite.Rules {
		sev := r.Severity
		if cfg != nil {
			if !cfg.On(r.ID) {
				continue
			}
			sev = cfg.SeverityOf(r)
		}
		out = append(out, ci.NewRuleMeta(r.ID, sev, r.Title))
	}
	return out
}

// newInput is the part of a ci.Input that comes from the options.
func newInput(o Options) *ci.Input {
	in := &ci.Input{
		Tool:   ci.Tool{Name: "connlint", Version: o.Version, InfoURI: ToolInfoURI},
		Rules:  RuleMetas(o.Config),
		FailOn: o.FailOn,
	}
	if in.Tool.Version == "" {
		in.Tool.Version = "dev"
	}
	return in
}

// inputErrors splits a read error into one entry per damaged input.
func inputErrors(err error, inputs []string) []ci.InputError {
	if err == nil {
		return nil
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var out []ci.InputError
	for _, e := range errs {
		var ie *capture.InputError
		switch {
		case errors.As(e, &ie):
			out = append(out, ci.InputError{File: ie.Path, Message: ie.Error()})
		case len(inputs) == 1:
			out = append(out, ci.InputError{File: inputs[0], Message: e.Error()})
		default:
			out = append(out, ci.InputError{Message: e.Error()})
		}
	}
	return out
}

// ciRenderer renders one analysis (analyze, run) in a CI format.
type ciRenderer struct {
	w        *Writer
	o        Options
	write    ciWriter
	findings []*analyze.Finding
}

func (r *ciRenderer) Finding(f *analyze.Finding)     { r.findings = append(r.findings, f) }
func (r *ciRenderer) Connection(*analyze.ConnReport) {}

func (r *ciRenderer) Finish(res *Result) error {
	in := newInput(r.o)
	in.Inputs = r.o.Inputs
	if len(in.Inputs) == 0 {
		in.Inputs = res.Inputs
	}
	in.Findings = r.findings
	in.Errors = inputErrors(res.ReadErr, in.Inputs)
	if err := r.write(r.w, in); err != nil && r.w.Err() == nil {
		return err
	}
	return r.w.Err()
}

// ciBatch renders a lint run as one document: every file is an input of
// one ci.Input, so a SARIF log has one run and a JUnit report one suite
// per file.
type ciBatch struct {
	w     *Writer
	o     Options
	write ciWriter
	in    *ci.Input
}

func (b *ciBatch) input() *ci.Input {
	if b.in == nil {
		b.in = newInput(b.o)
	}
	return b.in
}

func (b *ciBatch) File(path string, _ []string) Renderer {
	in := b.input()
	in.Inputs = append(in.Inputs, path)
	return &ciBatchFile{b: b, index: len(in.Inputs) - 1, path: path}
}

// Unreadable records an input that could not be opened at all.
func (b *ciBatch) Unreadable(path string, err error) {
	in := b.input()
	in.Inputs = append(in.Inputs, path)
	in.Errors = append(in.Errors, ci.InputError{File: path, Message: err.Error()})
}

func (b *ciBatch) Close() error {
	if err := b.write(b.w, b.input()); err != nil && b.w.Err() == nil {
		return err
	}
	return b.w.Err()
}

// ciBatchFile is one file of a lint run. Its findings' frames name input 0
// (each file is analysed alone); they are renumbered to the file's place
// in the run's inputs.
type ciBatchFile struct {
	b     *ciBatch
	index int
	path  string
}

func (f *ciBatchFile) Finding(x *analyze.Finding) {
	c := *x
	c.Frames = make([]analyze.Frame, len(x.Frames))
	for i, fr := range x.Frames {
		fr.Input = f.index
		c.Frames[i] = fr
	}
	in := f.b.in
	in.Findings = append(in.Findings, &c)
	if len(c.Frames) == 0 {
		if in.Origin == nil {
			in.Origin = map[*analyze.Finding]int{}
		}
		in.Origin[&c] = f.index
	}
}

func (f *ciBatchFile) Connection(*analyze.ConnReport) {}

func (f *ciBatchFile) Finish(res *Result) error {
	for _, e := range inputErrors(res.ReadErr, []string{f.path}) {
		if e.File == "" {
			e.File = f.path
		}
		f.b.in.Errors = append(f.b.in.Errors, e)
	}
	return f.b.w.Err()
}
