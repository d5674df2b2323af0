// Package run is the `connlint run` command: capture on loopback while a
// command (a test suite, an e2e script) runs, then analyse and gate on
// what it did: "lint the traffic of my tests" in one CI line.
package run

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	analyzecmd "github.com/connlint/connlint/internal/cmd/analyze"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/lint"
	reportcmd "github.com/connlint/connlint/internal/cmd/report"
	"github.com/connlint/connlint/internal/cmd/settings"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/reassembly/tls"
)

// Options are the run command's dependencies and flag values.
type Options struct {
	IO      *iostreams.IOStreams
	Version string
	Flags   settings.Analysis
	Output  settings.Output
	Config  *analyze.Config
	Live    capture.LiveOptions
	FailOn  analyze.Severity
	// Drain is how long capture goes on after the command exited, for the
	// last ACKs and FINs (and a server's delayed close) to be seen.
	Drain time.Duration
	// StartTimeout bounds the wait for the capture to be live.
	StartTimeout time.Duration
	Command      []string
	// Report is where the HTML page of the captured traffic goes ("" none).
	Report string
	// EmbedKeys embeds the TLS key log in the pcapng -w file (a Decryption
	// Secrets Block) after the run.
	EmbedKeys bool
	// Netns runs the command, and captures, in a fresh network namespace
	// with only its own loopback (see netns_linux.go).
	Netns bool
}

// NewCmdRun builds the command; runF, when not nil, replaces the run.
func NewCmdRun(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Version: f.Version}
	opts.Live.Application = strings.TrimSpace("connlint " + f.Version) // pcapng shb_userappl
	var failOn string
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARG...]",
		Short: "Capture while a command (tests, a script) runs, then report and gate on its traffic",
		Long: `run starts capturing (on lo by default), waits until the capture is live,
runs COMMAND with its stdin, stdout and stderr passed through, stops after
COMMAND exits plus --drain, then analyses what was captured and prints the
report (any --format, to stdout or -o FILE).

Exit status: COMMAND's own status when it failed (126/127 when it could not
be started, 128+N when killed by signal N); else 1 when a finding reached
--fail-on; else 0. 2 when the capture could not start, the report could not
be written or the usage is wrong.

Capturing needs root or CAP_NET_RAW and CAP_NET_ADMIN (see docs/ci.md).
Under sudo, COMMAND runs as the invoking user (SUDO_USER), like tcpdump's
-Z; --user names another, "-" keeps root.

-w FILE keeps the capture: pcapng when FILE ends in .pcapng, else classic
pcap.

COMMAND gets SSLKEYLOGFILE pointing to a private key log (unless it is set
already), so TLS clients that honour it record their session keys; with
-w FILE they are kept as FILE.keys. --embed-keys (with -w FILE.pcapng) also
puts them into the capture as a pcapng Decryption Secrets Block, so that
Wireshark decrypts the file alone; the file is then made private (0600).

--netns runs COMMAND in a fresh network namespace whose only interface is
its own loopback (Linux, root), and captures there: the capture holds
COMMAND's traffic and nothing else of the host's, and COMMAND cannot reach
the network or services outside (everything it talks to must be started by
it). The namespace disappears with the last process in it.`,
		Example: `  sudo connlint run --fail-on warning -- go test ./integration/...
  sudo connlint run -w traffic.pcap --format sarif -o connlint.sarif -- ./e2e.sh
  sudo connlint run --netns -w tls.pcapng --embed-keys -- ./tls-e2e.sh
  connlint run -f 'tcp port 8080' -- curl -s http://127.0.0.1:8080/ http://127.0.0.1:8080/a`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := opts.Flags.Config()
			if err != nil {
				return cli.BadInput(err)
			}
			if !cmd.Flags().Changed("fail-on") && opts.Flags.FileFailOn != "" {
				failOn = opts.Flags.FileFailOn
			}
			if opts.FailOn, err = lint.ParseFailOn(failOn); err != nil {
				return cli.BadInput(err)
			}
			if opts.Drain < 0 || opts.StartTimeout <= 0 {
				return cli.BadInput(errors.New("--drain must be ≥ 0 and --start-timeout > 0"))
			}
			if opts.EmbedKeys && !capture.IsPcapngName(opts.Live.WriteFile) {
				return cli.BadInput(errors.New("--embed-keys needs -w FILE.pcapng: the keys go into a pcapng Decryption Secrets Block"))
			}
			if opts.Netns && opts.Live.Interface != "lo" && opts.Live.Interface != "any" {
				return cli.BadInput(fmt.Errorf("--netns: the namespace has only lo; -i %s cannot be captured there", opts.Live.Interface))
			}
			opts.Config, opts.Command = cfg, args
			opts.Live.Filter = opts.Flags.Filter
			opts.Output.Announce(opts.IO.ErrOut, &opts.Flags)
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	// Everything from COMMAND on is COMMAND's: `connlint run go test -v`
	// must not read -v as connlint's.
	cmd.Flags().SetInterspersed(false)
	opts.Flags.Register(cmd.Flags(), "text")
	opts.Output.RegisterOutput(cmd.Flags())
	cmd.Flags().StringVar(&failOn, "fail-on", lint.DefaultFailOn, lint.FailOnHelp)
	cmd.Flags().StringVarP(&opts.Live.Interface, "interface", "i", "lo", "interface to capture on")
	cmd.Flags().IntVarP(&opts.Live.Snaplen, "snaplen", "s", capture.DefaultSnaplen, "bytes captured per packet")
	cmd.Flags().StringVarP(&opts.Live.WriteFile, "write", "w", "", "keep the capture in this file (pcapng when it ends in .pcapng, else classic pcap) and TLS keys in FILE.keys")
	cmd.Flags().StringVarP(&opts.Live.DropUser, "user", "Z", "", `run COMMAND (and capture, once the handle is open) as this user ("-" keeps the current one; default: SUDO_USER under sudo, else the current user)`)
	cmd.Flags().DurationVar(&opts.Drain, "drain", 300*time.Millisecond, "keep capturing this long after COMMAND exits")
	cmd.Flags().DurationVar(&opts.StartTimeout, "start-timeout", 5*time.Second, "give up when the capture is not live after this long")
	cmd.Flags().BoolVar(&opts.EmbedKeys, "embed-keys", false, "with -w FILE.pcapng: embed the TLS key log in the capture (pcapng Decryption Secrets Block), so Wireshark decrypts it without FILE.keys")
	cmd.Flags().BoolVar(&opts.Netns, "netns", false, "run COMMAND in a fresh network namespace with only its own loopback and capture there (Linux, root): nothing else of the host is captured, and COMMAND cannot reach outside")
	cmd.Flags().StringVar(&opts.Report, "report", "", "also write the HTML report (as connlint report) of the captured traffic to this file; made from the -w file, or from a temporary capture removed afterwards")
	return cmd
}

// Run captures around opts.Command and reports.
func Run(opts *Options) error {
	live := opts.Live
	live.Immediate = true // packets as they come: the drain is short
	if live.DropUser == "" {
		live.DropUser = "-"
		if su := os.Getenv("SUDO_USER"); su != "" && os.Geteuid() == 0 {
			live.DropUser = su
		}
	}
	wasRoot := os.Geteuid() == 0
	// ns runs what must happen inside the --netns namespace: opening
	// sockets and the capture, starting the command.
	ns := &netns{}
	if opts.Netns {
		var err error
		if ns, err = newNetns(); err != nil {
			return &cli.ExitError{Code: cli.ExitBadInput, Err: err}
		}
		defer ns.close()
	}
	var (
		probe *probe
		err   error
	)
	ns.do(func() { probe, err = newProbe(live.Interface) })
	if err != nil {
		return &cli.ExitError{Code: cli.ExitBadInput, Err: err}
	}
	defer probe.close()
	live.Filter = probe.filter(live.Filter)
	if opts.Report != "" && live.WriteFile == "" {
		// The page's diagrams need a second read of the packets: keep them
		// in a temporary file for that, in the temp dir itself, so that it
		// stays readable (and removable) once root is dropped.
		tmp, err := os.CreateTemp("", "connlint-run-*.pcap")
		if err != nil {
			return &cli.ExitError{Code: cli.ExitBadInput, Err: fmt.Errorf("--report: %w", err)}
		}
		tmp.Close()
		live.WriteFile = tmp.Name()
		defer os.Remove(tmp.Name())
	}
	var src capture.LiveSource
	ns.do(func() { src, err = capture.OpenLive(live) })
	if err != nil {
		if advice := privilegeAdvice(live.Interface); advice != "" {
			fmt.Fprint(opts.IO.ErrOut, advice)
		}
		return &cli.ExitError{Code: cli.ExitBadInput, Err: err}
	}
	ps := probe.wrap(src, opts.Live.WriteFile)

	// The command's key log is followed while the analysis runs: the keys
	// of a session are read when its first encrypted record is, so HTTPS
	// the command makes is decrypted with no extra step (plus --keylog).
	keys, err := newKeyLog(opts.Live.WriteFile)
	if err != nil {
		src.Close()
		return &cli.ExitError{Code: cli.ExitBadInput, Err: err}
	}
	defer keys.cleanup()
	kl, err := opts.Flags.KeyLog(opts.IO.ErrOut)
	if err != nil {
		src.Close()
		return cli.BadInput(err)
	}
	if kl == nil {
		kl = tls.NewKeyLog()
	}
	kl.Follow(keys.path)

	// The report is written once the command has exited: text and JSON
	// would otherwise interleave with the command's own output.
	hold := &holdWriter{w: opts.IO.Out}
	aopts := &analyzecmd.Options{
		IO:      iostreams.New(opts.IO.In, hold, opts.IO.ErrOut),
		Version: opts.Version, Flags: opts.Flags, Output: opts.Output, Config: opts.Config,
		Keys: kl,
	}
	type outcome struct {
		rep *analyzecmd.Reported
		err error
	}
	done, ended := make(chan outcome, 1), make(chan struct{})
	go func() {
		rep, err := analyzecmd.Report(aopts, ps, ps.Inputs(), opts.FailOn, nil)
		done <- outcome{rep, err}
		close(ended)
	}()

	stop := func() {
		if in, ok := src.(interface{ Interrupt() }); ok {
			in.Interrupt()
		}
	}
	waitStart := time.Now()
	if err := probe.wait(opts.StartTimeout, ended); err != nil {
		stop()
		o := <-done
		src.Close()
		hold.release()
		if o.err != nil { // the report could not even start (-o, --baseline)
			return o.err
		}
		return &cli.ExitError{Code: cli.ExitBadInput, Err: err}
	}
	where := live.Interface
	if opts.Netns {
		where += " in a new network namespace"
	}
	fmt.Fprintf(opts.IO.ErrOut, "connlint: capturing on %s (live after %s); running %s\n",
		where, time.Since(waitStart).Round(time.Millisecond), strings.Join(opts.Command, " "))

	status, cmdErr := runCommand(opts, keys.env(wasRoot && os.Geteuid() != 0), ns.do)

	time.Sleep(opts.Drain)
	stop()
	o := <-done
	cerr := src.Close()
	hold.release()
	keys.keep(opts.IO.ErrOut)
	if opts.Live.WriteFile != "" && cerr == nil {
		fmt.Fprintf(opts.IO.ErrOut, "connlint: capture saved to %s\n", opts.Live.WriteFile)
	}
	var eerr error
	if opts.EmbedKeys && cerr == nil {
		eerr = keys.embed(opts.Live.WriteFile, opts.IO.ErrOut)
	}
	var rerr error
	if opts.Report != "" && cerr == nil && o.err == nil {
		rerr = writeReport(opts, live.WriteFile)
	}

	switch {
	case cmdErr != nil:
		return &cli.ExitError{Code: status, Err: cmdErr}
	case status != 0:
		return &cli.ExitError{Code: status}
	case o.err != nil:
		return o.err
	case rerr != nil:
		return rerr
	case eerr != nil:
		return cli.BadInput(eerr)
	case o.rep.ReadErr != nil:
		return cli.BadInput(o.rep.ReadErr)
	case cerr != nil:
		return cli.BadInput(fmt.Errorf("-w %s: %w", opts.Live.WriteFile, cerr))
	case o.rep.Gate.Failing(opts.FailOn) > 0:
		return &cli.ExitError{Code: cli.ExitFindings}
	}
	return nil
}

// writeReport writes the --report page from the capture file. The file
// holds what the live filter let through (and the probe's UDP datagrams,
// which the analysis skips), so it is read without a filter; its frame
// numbers are the file's, as in the -w file.
func writeReport(opts *Options, file string) error {
	flags := opts.Flags
	flags.Filter = ""
	var names []string
	if opts.Live.WriteFile == "" {
		names = []string{fmt.Sprintf("capture on %s during %s (not kept: -w FILE keeps it)", opts.Live.Interface, strings.Join(opts.Command, " "))}
	}
	return reportcmd.Run(&reportcmd.Options{IO: opts.IO, Version: opts.Version, Flags: flags, Config: opts.Config,
		Paths: []string{file}, File: opts.Report, Names: names})
}

// runCommand runs the command with the streams passed through and returns
// its exit status; the command is started inside do (the --netns
// namespace's thread, or here). While it runs, SIGINT is left to it (a terminal sends
// it to the whole process group) and SIGTERM is passed on, so that the
// report is still written when a CI system cancels the job gently.
func runCommand(opts *Options, env []string, do func(func())) (int, error) {
	c := exec.Command(opts.Command[0], opts.Command[1:]...)
	c.Stdin, c.Stdout, c.Stderr = opts.IO.In, opts.IO.Out, opts.IO.ErrOut
	c.Env = env
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	var err error
	do(func() { err = c.Start() })
	if err != nil {
		code := 126 // found but not runnable, as shells say
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = 127
		}
		return code, fmt.Errorf("run %s: %w", opts.Command[0], err)
	}
	exited := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sig:
				if s == syscall.SIGTERM {
					c.Process.Signal(s)
				}
			case <-exited:
				return
			}
		}
	}()
	err = c.Wait()
	close(exited)
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 1, fmt.Errorf("run %s: %w", opts.Command[0], err)
}

// holdWriter keeps what is written until release, then writes through.
type holdWriter struct {
	mu       sync.Mutex
	w        io.Writer
	buf      []byte
	released bool
}

func (h *holdWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return h.w.Write(p)
	}
	h.buf = append(h.buf, p...)
	return len(p), nil
}

func (h *holdWriter) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.released = true
	if len(h.buf) > 0 {
		h.w.Write(h.buf)
		h.buf = nil
	}
}

// keyLog is the SSLKEYLOGFILE the command gets: a private temporary file
// (0600 in a 0700 directory) unless the user set one.
type keyLog struct {
	dir, path string
	user      bool   // the user's own SSLKEYLOGFILE
	keepAs    string // -w FILE.keys
}

func newKeyLog(writeFile string) (*keyLog, error) {
	k := &keyLog{}
	if writeFile != "" {
		k.keepAs = writeFile + ".keys"
	}
	if p := os.Getenv("SSLKEYLOGFILE"); p != "" {
		k.path, k.user = p, true
		return k, nil
	}
	dir, err := os.MkdirTemp("", "connlint-run-") // 0700
	if err != nil {
		return nil, fmt.Errorf("TLS key log: %w", err)
	}
	k.dir, k.path = dir, filepath.Join(dir, "sslkeylog.txt")
	f, err := os.OpenFile(k.path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("TLS key log: %w", err)
	}
	f.Close()
	return k, nil
}

// env is the command's environment: ours plus SSLKEYLOGFILE, and, when
// root was dropped for the sudo user, that user's HOME, USER and LOGNAME
// (sudo sets root's, and a Go or npm cache under /root is not writable).
func (k *keyLog) env(dropped bool) []string {
	env := os.Environ()
	if !k.user {
		env = append(env, "SSLKEYLOGFILE="+k.path)
	}
	if dropped {
		// not user.Current: it caches the first answer, which may be root's
		if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
			env = append(env, "HOME="+u.HomeDir, "USER="+u.Username, "LOGNAME="+u.Username)
		}
	}
	return env
}

// keep copies the key log beside the -w capture when the command logged
// any keys, and says where they are.
func (k *keyLog) keep(errOut io.Writer) {
	b, err := os.ReadFile(k.path)
	if err != nil || len(b) == 0 {
		return
	}
	if k.keepAs == "" {
		if k.user {
			fmt.Fprintf(errOut, "connlint: TLS session keys logged to %s (SSLKEYLOGFILE)\n", k.path)
		} else {
			fmt.Fprintln(errOut, "connlint: TLS session keys were logged; -w FILE keeps them as FILE.keys")
		}
		return
	}
	if err := os.WriteFile(k.keepAs, b, 0o600); err != nil {
		fmt.Fprintf(errOut, "connlint: keeping TLS keys: %v\n", err)
		return
	}
	os.Chmod(k.keepAs, 0o600) // WriteFile keeps an existing file's mode
	fmt.Fprintf(errOut, "connlint: TLS session keys saved to %s (Wireshark: TLS → (Pre)-Master-Secret log filename)\n", k.keepAs)
}

// embed puts the key log into the pcapng capture (see
// capture.EmbedKeyLog), saying so without printing any key.
func (k *keyLog) embed(file string, errOut io.Writer) error {
	b, err := os.ReadFile(k.path)
	if err != nil {
		return fmt.Errorf("--embed-keys: %w", err)
	}
	if len(b) == 0 {
		fmt.Fprintf(errOut, "connlint: --embed-keys: no TLS session keys were logged; %s holds none\n", file)
		return nil
	}
	if err := capture.EmbedKeyLog(file, b); err != nil {
		return fmt.Errorf("--embed-keys: %w", err)
	}
	fmt.Fprintf(errOut, "connlint: TLS session keys embedded in %s (pcapng Decryption Secrets Block; file mode 0600)\n", file)
	return nil
}

func (k *keyLog) cleanup() {
	if k.dir != "" {
		os.RemoveAll(k.dir)
	}
}
