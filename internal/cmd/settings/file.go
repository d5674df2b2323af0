package settings

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
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
}

// defaultConfigFile is read from the working directory when present (like
// golangci-lint's .golangci.yml); --config names another, --config "" none.
const defaultConfigFile = ".connlint.yaml"

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
	return &fc, nil
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
