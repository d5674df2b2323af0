package settings

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/connlint/connlint/internal/ci/suppress"
	"go.yaml.in/yaml/v3"
)

// fileConfig is .connlint.yaml: the same settings as the flags, so a team can
// keep its thresholds in the repository. Flags given on the command line win.
//
//	enable: [nagle-delayed-ack, delayed-ack-stall]
//	disable: [pipelining]
//	severity: {keepalive-misuse: warning}
//	fail-on: warning
//	thresholds: {stall-min: 20ms, no-reuse-min: 5, parallel-max: 6, msl: 30s, ephemeral-ports: 28232, unframed-idle: 1s, handshake-share: 0.5, initial-window: 10}
//	limits: {max-conns: 100000, max-ooo-bytes: 1048576, max-ooo-total: 134217728, idle-timeout: 5m}
//
// Every value keeps the line it came from, so that an error names the file
// and line rather than a flag the user never typed.
type fileConfig struct {
	path     string
	enable   []fileValue // rule IDs
	disable  []fileValue
	severity []fileSeverity
	failOn   *fileValue
	// values are thresholds and limits by flag name: each key under
	// thresholds: and limits: is the flag of the same name.
	values map[string]fileValue
	// suppressions are accepted findings (internal/ci/suppress); lines
	// holds the line of each entry, for error messages.
	suppressions []suppress.Suppression
	lines        []int
}

// fileValue is one scalar of the file and where it is.
type fileValue struct {
	Value string
	Line  int
	Key   string // e.g. thresholds.stall-min
}

type fileSeverity struct {
	ID, Severity fileValue
}

// where names a value's place for an error message: "c.yaml:3: thresholds.stall-min".
func (fc *fileConfig) where(v fileValue) string {
	return fmt.Sprintf("config %s:%d: %s", fc.path, v.Line, v.Key)
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

// suppressionList reads the suppressions: section, a list of mappings
// (rule, server, client, target, reason, until), keeping each entry's line.
func (fc *fileConfig) suppressionList(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("config %s:%d: suppressions: want a list of {rule, server, client, target, reason, until} entries", fc.path, n.Line)
	}
	for _, e := range n.Content {
		if e.Kind != yaml.MappingNode {
			return fmt.Errorf("config %s:%d: suppressions: want an entry like {rule: nagle-delayed-ack, server: 10.0.0.2:80, reason: why}", fc.path, e.Line)
		}
		var s suppress.Suppression
		err := eachPair(fc, e, "suppressions", suppressionKeys, func(key string, k, v *yaml.Node) error {
			val, err := fc.scalar(v, "suppressions."+key, "one value")
			if err != nil {
				return err
			}
			switch key {
			case "rule":
				s.Rule = val.Value
			case "server":
				s.Server = val.Value
			case "client":
				s.Client = val.Value
			case "target":
				s.Target = val.Value
			case "reason":
				s.Reason = val.Value
			case "until":
				s.Until = val.Value
			}
			return nil
		})
		if err != nil {
			return err
		}
		fc.suppressions = append(fc.suppressions, s)
		fc.lines = append(fc.lines, e.Line)
	}
	return nil
}

var suppressionKeys = []string{"rule", "server", "client", "target", "reason", "until"}

// compileSuppressions validates the file's suppressions at time now; each
// problem names the file and line of its entry.
func (fc *fileConfig) compileSuppressions(now time.Time, known func(string) bool) (*suppress.Set, error) {
	set, err := suppress.Compile(fc.suppressions, now, known)
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
			msgs = append(msgs, fmt.Sprintf("config %s:%d: %s", fc.path, fc.lines[se.Index-1], se.Error()))
			continue
		}
		msgs = append(msgs, "config "+fc.path+": "+e.Error())
	}
	return nil, errors.New(strings.Join(msgs, "; "))
}

// fileKeys are the keys of the thresholds: and limits: sections; each is
// also a flag of the same name.
var fileKeys = map[string][]string{
	"thresholds": {"stall-min", "no-reuse-min", "tls-full-handshakes-min", "parallel-max", "msl", "ephemeral-ports", "unframed-idle", "handshake-share", "initial-window"},
	"limits":     {"max-conns", "max-ooo-bytes", "max-ooo-total", "idle-timeout"},
}

var topKeys = []string{"enable", "disable", "severity", "fail-on", "thresholds", "limits", "suppressions"}

// yamlLine finds "line N: what" in a yaml.v3 syntax error.
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

func loadConfigFile(path string, explicit bool) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if !explicit && os.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		// yaml.v3 says "yaml: line 3: mapping values are not allowed in
		// this context"; say it as file:line like every other error here
		msg := strings.Join(strings.Fields(err.Error()), " ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			if m[1] != "" {
				return nil, fmt.Errorf("config %s:%s: not valid YAML: %s", path, m[1], m[2])
			}
			msg = m[2]
		}
		return nil, fmt.Errorf("config %s: not valid YAML: %s", path, msg)
	}
	fc := &fileConfig{path: path, values: map[string]fileValue{}}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return fc, nil // an empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s:%d: want settings as key: value lines (%s)", path, root.Line, strings.Join(topKeys, ", "))
	}
	err = eachPair(fc, root, "", topKeys, func(key string, k, v *yaml.Node) error {
		switch key {
		case "enable", "disable":
			ids, err := fc.list(v, key)
			if key == "enable" {
				fc.enable = ids
			} else {
				fc.disable = ids
			}
			return err
		case "severity":
			return eachPair(fc, v, key, nil, func(id string, k, sv *yaml.Node) error {
				s, err := fc.scalar(sv, key+"."+id, "a severity: info, warning or error")
				fc.severity = append(fc.severity, fileSeverity{ID: fileValue{id, k.Line, key}, Severity: s})
				return err
			})
		case "fail-on":
			s, err := fc.scalar(v, key, "a severity: info, warning or error")
			fc.failOn = &s
			return err
		case "suppressions":
			return fc.suppressionList(v)
		default: // thresholds, limits
			return eachPair(fc, v, key, fileKeys[key], func(name string, k, sv *yaml.Node) error {
				s, err := fc.scalar(sv, key+"."+name, "one value")
				fc.values[name] = s
				return err
			})
		}
	})
	if err != nil {
		return nil, err
	}
	return fc, nil
}

// eachPair walks a mapping node; with known set, any other key is an error
// (a misspelt key must not silently fall back to a default).
func eachPair(fc *fileConfig, m *yaml.Node, section string, known []string, f func(key string, k, v *yaml.Node) error) error {
	name := section
	if name == "" {
		name = "the top level"
	}
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s:%d: %s: want key: value pairs, like %s", fc.path, m.Line, section, example(section))
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if known != nil && !slices.Contains(known, k.Value) {
			return fmt.Errorf("config %s:%d: unknown key %q in %s (want %s)", fc.path, k.Line, k.Value, name, orList(known))
		}
		if err := f(k.Value, k, v); err != nil {
			return err
		}
	}
	return nil
}

func example(section string) string {
	switch section {
	case "severity":
		return "{keepalive-misuse: warning}"
	case "thresholds":
		return "{stall-min: 20ms}"
	case "limits":
		return "{max-conns: 100000}"
	}
	return "fail-on: warning"
}

// scalar reads one plain value.
func (fc *fileConfig) scalar(n *yaml.Node, key, want string) (fileValue, error) {
	if n.Kind != yaml.ScalarNode {
		return fileValue{}, fmt.Errorf("config %s:%d: %s: want %s, not a list or a map", fc.path, n.Line, key, want)
	}
	return fileValue{Value: n.Value, Line: n.Line, Key: key}, nil
}

// list reads a list of rule IDs ([a, b] or one "- a" per line).
func (fc *fileConfig) list(n *yaml.Node, key string) ([]fileValue, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("config %s:%d: %s: want a list of rule IDs, like [pipelining, port-churn]", fc.path, n.Line, key)
	}
	var out []fileValue
	for _, e := range n.Content {
		v, err := fc.scalar(e, key, "a rule ID")
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// apply copies file settings into the flags that were not set on the
// command line, parsing each value as its flag would; src records where
// each value came from, for later errors.
func (fc *fileConfig) apply(f *Analysis) error {
	fs := f.fs
	set := func(name string) bool { return fs != nil && fs.Changed(name) }
	if !set("enable") && len(fc.enable) > 0 {
		f.enableFrom = fc.enable
	}
	if !set("disable") && len(fc.disable) > 0 {
		f.disableFrom = fc.disable
	}
	f.fileSev = fc.severity
	f.FileFailOn = ""
	if fc.failOn != nil {
		f.FileFailOn = fc.failOn.Value
		f.FileFailOnWhere = fc.where(*fc.failOn)
	}
	names := make([]string, 0, len(fc.values))
	for name := range fc.values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v := fc.values[name]
		if set(name) || fs == nil {
			continue
		}
		fl := fs.Lookup(name)
		if err := fl.Value.Set(v.Value); err != nil {
			return fmt.Errorf("%s: %s", fc.where(v), typeWant(fl.Value.Type(), v.Value))
		}
		f.src[name] = fc.where(v)
	}
	return nil
}

// typeWant says in plain words why value is not of the flag's type.
func typeWant(typ, value string) string {
	switch typ {
	case "duration":
		if _, err := strconv.ParseFloat(value, 64); err == nil {
			return fmt.Sprintf("%q has no unit; write a duration like %sms or %ss", value, value, value)
		}
		return fmt.Sprintf("%q is not a duration; write one like 20ms, 1.5s or 5m", value)
	case "int":
		return fmt.Sprintf("%q is not a whole number", value)
	case "float64":
		return fmt.Sprintf("%q is not a number", value)
	}
	return fmt.Sprintf("%q is not a valid %s", value, typ)
}
