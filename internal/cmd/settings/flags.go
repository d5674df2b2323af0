// Package settings holds what the analysing commands (analyze, lint, sniff)
// share: the analysis flags, the .connlint.yaml file they may come from, and
// turning both into an analyze.Config and reassembly limits. Flags given on
// the command line win over the file; defaults come from the packages'
// Default* values.
package settings

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/internal/ci/suppress"
	"github.com/connlint/connlint/internal/render"
	"github.com/connlint/connlint/reassembly"
)

// Analysis are the flags every command that analyzes shares.
type Analysis struct {
	Format   string
	Color    string
	Filter   string
	enable   []string
	disable  []string
	maxConns int
	maxOOO   int
	oooTotal int
	idle     time.Duration
	stallMin time.Duration
	noReuse  int
	parallel int
	msl      time.Duration
	ports    int
	sets     []string

	unframedIdle time.Duration
	hsShare      float64
	iwSegs       int
	configPath   string
	fs           *pflag.FlagSet
	// ConfigFile is the settings file read, "" when none (after Config).
	ConfigFile string
	// Suppress holds the file's suppressions, validated (after Config);
	// nil when there are none.
	Suppress *suppress.Set
	// FileFailOn is the config file's fail-on (lint uses it when --fail-on
	// is not given).
	FileFailOn string
}

// Register adds the flags to fs, --format defaulting to defaultFormat.
func (f *Analysis) Register(fs *pflag.FlagSet, defaultFormat string) {
	def := analyze.DefaultConfig()
	f.fs = fs
	fs.StringVar(&f.configPath, "config", "", `settings file (YAML: enable, disable, severity, fail-on, thresholds, limits, suppressions); flags win (default: the first .connlint.yaml in the working directory or a parent; "" for none)`)
	fs.Float64Var(&f.hsShare, "handshake-share", def.HandshakeShare, "handshake-overhead: share of SYN → end of response the handshake must reach (0–1)")
	fs.IntVar(&f.iwSegs, "initial-window", def.InitialWindowSegs, "slow-start-fresh-connection: initial congestion window in segments")
	fs.DurationVar(&f.unframedIdle, "unframed-idle", def.UnframedIdle, "unframed-persistent-response: how long a silent, still-open server counts as not closing")
	fs.StringVar(&f.Format, "format", defaultFormat, render.FlagHelp())
	fs.StringSliceVar(&f.enable, "enable", nil, "run only these rules (comma-separated IDs)")
	fs.StringSliceVar(&f.disable, "disable", nil, "do not run these rules (comma-separated IDs)")
	fs.StringVar(&f.Color, "color", "auto", "colour: auto, always or never (NO_COLOR is honoured)")
	fs.StringVarP(&f.Filter, "filter", "f", "", "BPF filter expression (needs libpcap; trailing arguments after -- work too)")
	fs.IntVar(&f.maxConns, "max-conns", reassembly.DefaultMaxConns, "connections tracked at once; beyond it the least recently active is evicted")
	fs.IntVar(&f.maxOOO, "max-ooo-bytes", reassembly.DefaultMaxOutOfOrderBytes, "out-of-order bytes buffered per direction before a gap is declared")
	fs.IntVar(&f.oooTotal, "max-ooo-total", reassembly.DefaultMaxOutOfOrderTotal, "out-of-order bytes buffered over all connections before holes are given up")
	fs.DurationVar(&f.idle, "idle-timeout", reassembly.DefaultIdleTimeout, "evict connections idle this long (capture time)")
	fs.DurationVar(&f.stallMin, "stall-min", def.StallMin, "delayed-ack-stall: minimum ACK delay beyond the path RTT")
	fs.IntVar(&f.noReuse, "no-reuse-min", def.NoReuseMin, "no-connection-reuse: sequential one-request connections that fire the rule")
	fs.IntVar(&f.parallel, "parallel-max", def.ParallelMax, "parallel-connections: concurrent connections allowed per client/server")
	fs.DurationVar(&f.msl, "msl", def.MSL, "port-churn: maximum segment lifetime (TIME_WAIT lasts 2×MSL)")
	fs.IntVar(&f.ports, "ephemeral-ports", def.EphemeralPorts, "port-churn: size of the client's ephemeral port range")
	fs.StringArrayVar(&f.sets, "set", nil, "set a rule severity: RULE=info|warning|error (repeatable)")
}

// Config reads the config file (unless --config ""), checks every value and
// returns the analysis configuration.
func (f *Analysis) Config() (*analyze.Config, error) {
	path, explicit := f.configPath, f.fs != nil && f.fs.Changed("config")
	if !explicit {
		if wd, err := os.Getwd(); err == nil {
			path = FindConfig(wd)
		}
	}
	if path != "" {
		fc, err := loadConfigFile(path, explicit)
		if err != nil {
			return nil, err
		}
		if fc != nil {
			f.ConfigFile = path
			fc.apply(f, f.fs)
			f.FileFailOn = fc.FailOn
			if len(fc.Suppressions) > 0 {
				known := func(id string) bool { return suite.CheckRuleIDs([]string{id}) == nil }
				if f.Suppress, err = fc.compileSuppressions(path, time.Now(), known); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := render.Check(f.Format); err != nil {
		return nil, err
	}
	switch f.Color {
	case "auto", "always", "never":
	default:
		return nil, fmt.Errorf("unknown --color %q (want auto, always or never)", f.Color)
	}
	if err := suite.CheckRuleIDs(append(append([]string(nil), f.enable...), f.disable...)); err != nil {
		return nil, err
	}
	c := analyze.DefaultConfig()
	for _, id := range f.enable {
		c.Enabled[id] = true
	}
	for _, id := range f.disable {
		c.Disabled[id] = true
	}
	for _, s := range f.sets {
		id, sev, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: want RULE=SEVERITY", s)
		}
		if err := suite.CheckRuleIDs([]string{id}); err != nil {
			return nil, err
		}
		v, err := analyze.ParseSeverity(sev)
		if err != nil {
			return nil, fmt.Errorf("--set %s: %w", id, err)
		}
		c.Severity[id] = v
	}
	if f.maxConns < 1 || f.maxOOO < 0 || f.oooTotal < 0 || f.idle <= 0 || f.noReuse < 2 || f.parallel < 1 || f.ports < 1 || f.msl <= 0 {
		return nil, fmt.Errorf("limits and thresholds must be positive (--max-conns, --idle-timeout, --no-reuse-min ≥ 2, ...)")
	}
	c.StallMin, c.NoReuseMin, c.ParallelMax, c.MSL, c.EphemeralPorts = f.stallMin, f.noReuse, f.parallel, f.msl, f.ports
	c.UnframedIdle = f.unframedIdle
	if f.hsShare <= 0 || f.hsShare > 1 || f.iwSegs < 1 {
		return nil, fmt.Errorf("--handshake-share must be in (0, 1] and --initial-window ≥ 1")
	}
	c.HandshakeShare, c.InitialWindowSegs = f.hsShare, f.iwSegs
	return c, nil
}

// AssemblerOptions are the reassembly limits.
func (f *Analysis) AssemblerOptions() reassembly.Options {
	return reassembly.Options{MaxConns: f.maxConns, MaxOutOfOrderBytes: f.maxOOO, MaxOutOfOrderTotal: f.oooTotal, IdleTimeout: f.idle}
}

// BPFFromArgs joins trailing arguments into a filter the way tcpdump does,
// combining with -f when both are given.
func BPFFromArgs(flag string, args []string) string {
	expr := strings.Join(args, " ")
	switch {
	case flag == "":
		return expr
	case expr == "":
		return flag
	}
	return "(" + flag + ") and (" + expr + ")"
}
