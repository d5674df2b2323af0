package settings

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/connlint/connlint/internal/ci/suppress"
)

// fileConfig is .connlint.yaml: the same settings as the flags, so a team can
// keep its thresholds in the repository. Flags given on the command line win.
//
//	enable: [nagle-delayed-ack, delayed-ack-stall]
//	disable: [pipelining]
//	severity: {keepalive-misuse: warning}
//	fail-on: warning
//	thresholds: {stall-min: 20ms, no-reuse-min: 5, parallel-max: 6, msl: 30s, ephemeral-ports: 28232, unframed-idle: 1s}
//	limits: {max-conns: 100000, max-ooo-bytes: 1048576, max-ooo-total: 134217728, idle-timeout: 5m}
//	suppressions:
//	  - {rule: nagle-delayed-ack, server: 10.0.0.2:80, target: /upload/*, reason: "vendor SDK, OPS-12", until: 2026-06-30}
type fileConfig struct {
	Enable     []string          `yaml:"enable"`
	Disable    []string          `yaml:"disable"`
	Severity   map[string]string `yaml:"severity"`
	FailOn     string            `yaml:"fail-on"`
	Thresholds struct {
		StallMin       *time.Duration `yaml:"stall-min"`
		NoReuseMin     *int           `yaml:"no-reuse-min"`
		ParallelMax    *int           `yaml:"parallel-max"`
		MSL            *time.Duration `yaml:"msl"`
		EphemeralPorts *int           `yaml:"ephemeral-ports"`
		UnframedIdle   *time.Duration `yaml:"unframed-idle"`
		HandshakeShare *float64       `yaml:"handshake-share"`
		InitialWindow  *int           `yaml:"initial-window"`
	} `yaml:"thresholds"`
	Limits struct {
		MaxConns    *int           `yaml:"max-conns"`
		MaxOOOBytes *int           `yaml:"max-ooo-bytes"`
		MaxOOOTotal *int           `yaml:"max-ooo-total"`
		IdleTimeout *time.Duration `yaml:"idle-timeout"`
	} `yaml:"limits"`
	// Suppressions are accepted findings (internal/ci/suppress); lines
	// holds the line of each entry, for error messages.
	Suppressions []suppress.Suppression `yaml:"suppressions"`
	lines        []int
}

// defaultConfigFile is looked for in the working directory and then in
// each parent up to the filesystem root, the first found being used (as
// golangci-lint finds .golangci.yml): a test run from a package directory
// still gets the repository's settings. --config names another file,
// --config "" none.
const defaultConfigFile = ".connlint.yaml"

// FindConfig returns the first .connlint.yaml in dir or one of its
// parents, "" when there is none.
func FindConfig(dir string) string {
	for {
		p := filepath.Join(dir, defaultConfigFile)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

var inType = regexp.MustCompile(` in type (struct \{[^}]*\}|[\w.]+)`)

func loadConfigFile(path string, explicit bool) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if !explicit && os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)                                              // a misspelt key is an error, not a silent default
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		// yaml lists problems on several lines; errors here are one line
		msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", ";")), " ")
		msg = inType.ReplaceAllString(msg, "") // the Go type of the section helps nobody
		return nil, fmt.Errorf("config %s: %s", path, msg)
	}
	fc.lines = suppressionLines(b)
	return &fc, nil
}

// suppressionLines finds the line of each entry of the suppressions list
// (the decoder drops positions; a second pass over the node tree keeps
// them).
func suppressionLines(b []byte) []int {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "suppressions" {
			var lines []int
			for _, e := range m.Content[i+1].Content {
				lines = append(lines, e.Line)
			}
			return lines
		}
	}
	return nil
}

// compileSuppressions validates the file's suppressions at time now; each
// problem names the file and line of its entry.
func (fc *fileConfig) compileSuppressions(path string, now time.Time, known func(string) bool) (*suppress.Set, error) {
	set, err := suppress.Compile(fc.Suppressions, now, known)
	if err == nil {
		return set, nil
	}
	var msgs []string
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var se *suppress.Error
		if errors.As(e, &se) && se.Index-1 < len(fc.lines) {
			msgs = append(msgs, fmt.Sprintf("%s:%d: %s", path, fc.lines[se.Index-1], se.Error()))
			continue
		}
		msgs = append(msgs, path+": "+e.Error())
	}
	return nil, errors.New(strings.Join(msgs, "; "))
}

// apply copies file settings into the flag values that were not set on the
// command line.
func (fc *fileConfig) apply(f *Analysis, fs *pflag.FlagSet) {
	set := func(name string) bool { return fs.Changed(name) }
	if !set("enable") && len(fc.Enable) > 0 {
		f.enable = fc.Enable
	}
	if !set("disable") && len(fc.Disable) > 0 {
		f.disable = fc.Disable
	}
	for id, sev := range fc.Severity {
		f.sets = append([]string{id + "=" + sev}, f.sets...) // command-line --set comes later and wins
	}
	t := fc.Thresholds
	if t.StallMin != nil && !set("stall-min") {
		f.stallMin = *t.StallMin
	}
	if t.NoReuseMin != nil && !set("no-reuse-min") {
		f.noReuse = *t.NoReuseMin
	}
	if t.ParallelMax != nil && !set("parallel-max") {
		f.parallel = *t.ParallelMax
	}
	if t.MSL != nil && !set("msl") {
		f.msl = *t.MSL
	}
	if t.EphemeralPorts != nil && !set("ephemeral-ports") {
		f.ports = *t.EphemeralPorts
	}
	if t.UnframedIdle != nil && !set("unframed-idle") {
		f.unframedIdle = *t.UnframedIdle
	}
	if t.HandshakeShare != nil && !set("handshake-share") {
		f.hsShare = *t.HandshakeShare
	}
	if t.InitialWindow != nil && !set("initial-window") {
		f.iwSegs = *t.InitialWindow
	}
	l := fc.Limits
	if l.MaxConns != nil && !set("max-conns") {
		f.maxConns = *l.MaxConns
	}
	if l.MaxOOOBytes != nil && !set("max-ooo-bytes") {
		f.maxOOO = *l.MaxOOOBytes
	}
	if l.MaxOOOTotal != nil && !set("max-ooo-total") {
		f.oooTotal = *l.MaxOOOTotal
	}
	if l.IdleTimeout != nil && !set("idle-timeout") {
		f.idle = *l.IdleTimeout
	}
}
