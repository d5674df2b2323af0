package run

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/iostreams"
)

func parse(t *testing.T, args ...string) (*Options, error) {
	t.Helper()
	ios, _, _, _ := iostreams.Test()
	var got *Options
	cmd := NewCmdRun(&cli.Factory{IO: ios}, func(o *Options) error { got = o; return nil })
	cmd.SetArgs(append([]string{"--config", ""}, args...))
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	err := cmd.Execute()
	return got, err
}

// Flags stop at the command: its own flags are its own, with or without --.
func TestCommandKeepsItsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-i", "lo", "--", "go", "test", "-v", "./..."},
		{"-i", "lo", "go", "test", "-v", "./..."},
	} {
		o, err := parse(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if want := []string{"go", "test", "-v", "./..."}; !reflect.DeepEqual(o.Command, want) {
			t.Errorf("%v: command %q, want %q", args, o.Command, want)
		}
	}
}

func TestDefaults(t *testing.T) {
	o, err := parse(t, "--", "true")
	if err != nil {
		t.Fatal(err)
	}
	if o.Live.Interface != "lo" || o.FailOn != analyze.Error || o.Drain != 300*time.Millisecond || o.Flags.Format != "text" {
		t.Errorf("defaults: iface %q fail-on %v drain %v format %q", o.Live.Interface, o.FailOn, o.Drain, o.Flags.Format)
	}
	if o, err = parse(t, "--fail-on", "none", "-f", "tcp port 9", "--", "true"); err != nil || o.FailOn != 0 || o.Live.Filter != "tcp port 9" {
		t.Errorf("--fail-on none -f: %v %+v", err, o)
	}
	if _, err := parse(t); err == nil {
		t.Error("run without a command must be an error")
	}
	if _, err := parse(t, "--fail-on", "bogus", "--", "true"); err == nil {
		t.Error("--fail-on bogus must be an error")
	}
}

// The probe widens a user filter so that its datagrams pass, and leaves
// no filter alone (everything passes already).
func TestProbeFilter(t *testing.T) {
	p, err := newProbe("lo")
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if !p.loopback {
		t.Skip("no loopback interface named lo here")
	}
	if got := p.filter(""); got != "" {
		t.Errorf("no filter became %q", got)
	}
	got := p.filter("tcp port 80")
	if !strings.HasPrefix(got, "(tcp port 80) or (udp and dst host 127.0.0.1 and dst port ") {
		t.Errorf("filter %q", got)
	}
}

// The report waits until release, then everything goes through in order.
func TestHoldWriter(t *testing.T) {
	var b bytes.Buffer
	h := &holdWriter{w: &b}
	h.Write([]byte("a"))
	if b.Len() != 0 {
		t.Fatal("written before release")
	}
	h.release()
	h.Write([]byte("b"))
	if b.String() != "ab" {
		t.Errorf("got %q", b.String())
	}
}

// Without capture privileges the advice names what is missing and how to
// get it on GitHub Actions, GitLab and with setcap; with both capabilities
// there is none (the error had another cause).
func TestPrivilegeAdvice(t *testing.T) {
	const both = 1<<capNetRaw | 1<<capNetAdmin
	if s := adviceFor("lo", both, 0); s != "" {
		t.Errorf("advice with both capabilities: %q", s)
	}
	s := adviceFor("lo", 1<<capNetAdmin, 1000)
	for _, want := range []string{"capturing on lo needs root, or CAP_NET_RAW and CAP_NET_ADMIN; this process (uid 1000) lacks CAP_NET_RAW.", "GitHub Actions", "sudo -E", "GitLab", "setcap cap_net_raw,cap_net_admin+eip"} {
		if !strings.Contains(s, want) {
			t.Errorf("advice lacks %q:\n%s", want, s)
		}
	}
	if s := adviceFor("lo", 0, 1000); !strings.Contains(s, "lacks CAP_NET_RAW and CAP_NET_ADMIN") {
		t.Errorf("advice without either:\n%s", s)
	}
}
