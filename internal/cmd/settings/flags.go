// Package settings holds what the analysing commands (analyze, lint, sniff)
// share: the analysis flags, the .connlint.yaml file they may come from, and
// turning both into an analyze.Config and reassembly limits. Flags given on
// the command line win over the file; defaults come from the packages'
// Default* values.
package settings

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
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
	tlsFull  int
	parallel int
	msl      time.Duration
	ports    int
	sets     []string

	unframedIdle time.Duration
	hsShare      float64
	iwSegs       int
	configPath   string
	keylog       string
	fs           *pflag.FlagSet
	// Workers is how many goroutines reassemble and analyse a file's
	// flows (--workers); the output is the same for any number.
	Workers int
	// memLimit is the Go heap's soft limit in MiB (--memory-limit).
	memLimit int
	// ConfigFile is the settings file read, "" when none (after Config).
	ConfigFile string
	// Suppress holds the file's suppressions, validated (after Config);
	// nil when there are none.
	Suppress *suppress.Set
	// FileFailOn is the config file's fail-on (lint uses it when --fail-on
	// is not given); FileFailOnWhere names its file and line.
	FileFailOn      string
	FileFailOnWhere string

	// from the config file: rule lists and severities with their lines, and
	// the origin (file:line) of each flag value the file set
	enableFrom, disableFrom []fileValue
	fileSev                 []fileSeverity
	src                     map[string]string
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
	fs.IntVar(&f.Workers, "workers", runtime.NumCPU(), "reading a file: goroutines that reassemble and analyse its flows, split by flow (the output is the same for any number; a live capture uses one)")
	fs.IntVar(&f.memLimit, "memory-limit", DefaultMemoryLimitMiB, "soft limit of the heap in MiB: the collector works harder near it, so peak memory stays flat (0: none; GOMEMLIMIT, when set, wins)")
	fs.IntVar(&f.maxOOO, "max-ooo-bytes", reassembly.DefaultMaxOutOfOrderBytes, "out-of-order bytes buffered per direction before a gap is declared")
	fs.IntVar(&f.oooTotal, "max-ooo-total", reassembly.DefaultMaxOutOfOrderTotal, "out-of-order bytes buffered over all connections before holes are given up")
	fs.DurationVar(&f.idle, "idle-timeout", reassembly.DefaultIdleTimeout, "evict connections idle this long (capture time)")
	fs.DurationVar(&f.stallMin, "stall-min", def.StallMin, "delayed-ack-stall: minimum ACK delay beyond the path RTT")
	fs.IntVar(&f.noReuse, "no-reuse-min", def.NoReuseMin, "no-connection-reuse: sequential one-request connections that fire the rule")
	fs.IntVar(&f.tlsFull, "tls-full-handshakes-min", def.TLSFullHandshakeMin, "tls-full-handshake-repeated: full TLS handshakes to one server after it offered resumption that fire the rule")
	fs.IntVar(&f.parallel, "parallel-max", def.ParallelMax, "parallel-connections: concurrent connections allowed per client/server")
	fs.DurationVar(&f.msl, "msl", def.MSL, "port-churn: maximum segment lifetime (TIME_WAIT lasts 2×MSL)")
	fs.IntVar(&f.ports, "ephemeral-ports", def.EphemeralPorts, "port-churn: size of the client's ephemeral port range")
	fs.StringArrayVar(&f.sets, "set", nil, "set a rule severity: RULE=info|warning|error (repeatable)")
	fs.StringVar(&f.keylog, "keylog", "", "TLS key log (NSS format, what SSLKEYLOGFILE writes): decrypt HTTPS and run every HTTP rule on it (keys in pcapng Decryption Secrets Blocks are used without it)")
}

// Config reads the config file (unless --config ""), checks every value and
// returns the analysis configuration. Every error names the flag, or the
// file and line the value came from, and says what is allowed.
func (f *Analysis) Config() (*analyze.Config, error) {
	f.src = map[string]string{}
	f.enableFrom, f.disableFrom, f.fileSev = nil, nil, nil
	f.ConfigFile, f.Suppress = "", nil
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
			if err := fc.apply(f); err != nil {
				return nil, err
			}
			if len(fc.suppressions) > 0 {
				known := func(id string) bool { return suite.CheckRuleIDs([]string{id}) == nil }
				if f.Suppress, err = fc.compileSuppressions(time.Now(), known); err != nil {
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
	c := analyze.DefaultConfig()
	enable, err := f.resolveIDs("--enable", f.enable, f.enableFrom)
	if err != nil {
		return nil, err
	}
	disable, err := f.resolveIDs("--disable", f.disable, f.disableFrom)
	if err != nil {
		return nil, err
	}
	for _, id := range enable {
		c.Enabled[id] = true
	}
	for _, id := range disable {
		c.Disabled[id] = true
	}
	// the file's severities first: a command-line --set for the same rule wins
	for _, fs := range f.fileSev {
		id, err := ResolveRule(fs.ID.Value)
		if err != nil {
			return nil, fmt.Errorf("config %s:%d: severity: %w", f.ConfigFile, fs.ID.Line, err)
		}
		v, err := analyze.ParseSeverity(fs.Severity.Value)
		if err != nil {
			return nil, fmt.Errorf("config %s:%d: severity of %s: %w", f.ConfigFile, fs.Severity.Line, id, err)
		}
		c.Severity[id] = v
	}
	for _, s := range f.sets {
		typed, sev, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: want RULE=SEVERITY, like --set pipelining=warning", s)
		}
		id, err := ResolveRule(typed)
		if err != nil {
			return nil, fmt.Errorf("--set: %w", err)
		}
		v, err := analyze.ParseSeverity(sev)
		if err != nil {
			return nil, fmt.Errorf("--set %s: %w", id, err)
		}
		c.Severity[id] = v
	}
	if f.FileFailOn != "" && f.FileFailOn != "none" {
		if _, err := analyze.ParseSeverity(f.FileFailOn); err != nil {
			return nil, fmt.Errorf("%s: %w (or none)", f.FileFailOnWhere, err)
		}
	}
	if err := f.checkValues(); err != nil {
		return nil, err
	}
	// Every analysing command reads its configuration here first: the
	// memory limit holds for the whole run.
	f.ApplyMemoryLimit()
	c.StallMin, c.NoReuseMin, c.ParallelMax, c.MSL, c.EphemeralPorts = f.stallMin, f.noReuse, f.parallel, f.msl, f.ports
	c.UnframedIdle = f.unframedIdle
	c.TLSFullHandshakeMin = f.tlsFull
	c.HandshakeShare, c.InitialWindowSegs = f.hsShare, f.iwSegs
	return c, nil
}

// checkValues checks each threshold and limit on its own, so the error
// names the one that is wrong and what it may be.
func (f *Analysis) checkValues() error {
	checks := []struct {
		name  string
		ok    bool
		want  string
		value any
	}{
		{"max-conns", f.maxConns >= 1, "at least 1", f.maxConns},
		{"workers", f.Workers >= 1 && f.Workers <= 256, "between 1 and 256", f.Workers},
		{"memory-limit", f.memLimit >= 0, "0 (none) or a size in MiB", f.memLimit},
		{"max-ooo-bytes", f.maxOOO >= 0, "0 or more bytes", f.maxOOO},
		{"max-ooo-total", f.oooTotal >= 0, "0 or more bytes", f.oooTotal},
		{"idle-timeout", f.idle > 0, "a positive duration, like 5m", f.idle},
		{"stall-min", f.stallMin > 0, "a positive duration, like 20ms", f.stallMin},
		{"no-reuse-min", f.noReuse >= 2, "at least 2 connections", f.noReuse},
		{"tls-full-handshakes-min", f.tlsFull >= 1, "at least 1 handshake", f.tlsFull},
		{"parallel-max", f.parallel >= 1, "at least 1 connection", f.parallel},
		{"msl", f.msl > 0, "a positive duration, like 30s", f.msl},
		{"ephemeral-ports", f.ports >= 1 && f.ports <= 65535, "between 1 and 65535", f.ports},
		{"unframed-idle", f.unframedIdle > 0, "a positive duration, like 1s", f.unframedIdle},
		{"handshake-share", f.hsShare > 0 && f.hsShare <= 1, "a share above 0 and at most 1, like 0.5", f.hsShare},
		{"initial-window", f.iwSegs >= 1, "at least 1 segment", f.iwSegs},
	}
	for _, c := range checks {
		if !c.ok {
			return fmt.Errorf("%s must be %s, not %v", f.where(c.name), c.want, c.value)
		}
	}
	return nil
}

// where names the origin of a setting: the flag, or the file and line.
func (f *Analysis) where(name string) string {
	if s, ok := f.src[name]; ok {
		return s
	}
	return "--" + name
}

// resolveIDs resolves rule IDs from the command line, else from the file.
func (f *Analysis) resolveIDs(flag string, typed []string, file []fileValue) ([]string, error) {
	var out []string
	for _, t := range typed {
		id, err := ResolveRule(t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		out = append(out, id)
	}
	for _, v := range file {
		id, err := ResolveRule(v.Value)
		if err != nil {
			return nil, fmt.Errorf("config %s:%d: %s: %w", f.ConfigFile, v.Line, v.Key, err)
		}
		out = append(out, id)
	}
	return out, nil
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

// FilesAndFilter splits a command's arguments at "--": files before it, a
// BPF expression after it (tcpdump's habit: connlint analyze f.pcap -- tcp
// port 8081), joined with -f when both are given.
func FilesAndFilter(cmd interface{ ArgsLenAtDash() int }, args []string, flag string) (files []string, filter string) {
	files = args
	var expr []string
	if n := cmd.ArgsLenAtDash(); n >= 0 {
		files, expr = args[:n], args[n:]
	}
	return files, BPFFromArgs(flag, expr)
}

// CheckDistinctFiles refuses an input given twice (by the same or another
// path, or "-" twice): merging a file with itself doubles every packet into
// retransmissions and duplicate connections, a report about nothing real.
func CheckDistinctFiles(paths []string) error {
	if len(paths) == 0 {
		return fmt.Errorf("no capture file given (want FILE..., - for stdin)")
	}
	type seen struct {
		path string
		fi   os.FileInfo
	}
	var prev []seen
	stdin := false
	for _, p := range paths {
		if p == "-" {
			if stdin {
				return fmt.Errorf("- (stdin) is given twice; it can be read only once")
			}
			stdin = true
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			continue // opening it reports the error, with the path
		}
		for _, s := range prev {
			if os.SameFile(s.fi, fi) {
				if s.path == p {
					return fmt.Errorf("%s is given twice; each input is read once", p)
				}
				return fmt.Errorf("%s and %s are the same file; each input is read once", s.path, p)
			}
		}
		prev = append(prev, seen{p, fi})
	}
	return nil
}

// DefaultMemoryLimitMiB is --memory-limit's default: with it the ~1 GB
// benchmark capture, the same twice as long and a 1 M-SYN flood peak under
// 150 MB of RSS (the binary's own pages are outside the limit), and as the
// limit bounds the heap the collector may let it grow further between
// collections (gcPercentUnderLimit), which makes the default faster than
// no limit at all (issue 15); without it the collector lets the heap grow
// to twice what is live.
const DefaultMemoryLimitMiB = 128

// ApplyMemoryLimit sets the Go runtime's soft memory limit from
// --memory-limit, unless the GOMEMLIMIT environment variable set one. With
// the limit bounding the heap, the collector's growth target (GOGC) is
// raised to gcPercentUnderLimit, unless GOGC is set: a heap well under the
// limit then grows to three times what is live before a collection, not
// twice, so the collector runs less often, and the limit still holds the
// peak (issue 15).
func (f *Analysis) ApplyMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") != "" || f.memLimit <= 0 {
		return
	}
	debug.SetMemoryLimit(int64(f.memLimit) << 20)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercentUnderLimit)
	}
}

// gcPercentUnderLimit is GOGC under --memory-limit. On the benchmark
// capture it cuts the collections from 18 to 12 and about a tenth of the
// run's CPU time; peak RSS is 142 MB at 200 (132-140 at 100), as the limit
// is reached sooner. 400 bought no more time there (10 collections) and
// took --workers 1 to 148 MB: the limit decides.
const gcPercentUnderLimit = 200
