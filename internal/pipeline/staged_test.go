package pipeline

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/render"
	"github.com/connlint/connlint/reassembly"
)

// nopObserver makes Run stay on one goroutine (an observer watches the run
// as it goes), the reference the staged run is compared with.
type nopObserver struct{}

func (nopObserver) Packet(int)                     {}
func (nopObserver) Finding(*analyze.Finding)       {}
func (nopObserver) Connection(*analyze.ConnReport) {}
func (nopObserver) ConnEnd(*reassembly.Conn)       {}
func (nopObserver) Progress(reassembly.Stats, int) {}

// captures lists the repository's captures (lab, proxy, trust, TLS) and the
// shared corpus's (when present); robust adds the shared hostile captures.
func captures(t *testing.T, robust bool) []string {
	var files []string
	for _, g := range []string{"lab/*.pcap", "proxy/*.pcap", "trust/*.pcap*", "tls/*.pcap*"} {
		m, _ := filepath.Glob("../../testdata/" + g)
		files = append(files, m...)
	}
	dirs := []string{"corpus"}
	if robust {
		dirs = append(dirs, "robust")
	}
	for _, sub := range dirs {
		for _, dir := range []string{"../../../shared/" + sub, "/work/shared/" + sub} {
			if _, err := os.Stat(dir); err != nil {
				continue
			}
			filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
					if st, err := d.Info(); err == nil && st.Size() <= 64<<20 {
						files = append(files, p)
					}
				}
				return nil
			})
			break
		}
	}
	if len(files) < 10 {
		t.Fatalf("only %d captures found", len(files))
	}
	return files
}

// runMode analyses path in one of the ways Run can: mode 0 on one
// goroutine (an observer watches the run), 1 staged (reader, analysis,
// aggregator), n > 1 with n workers.
func runMode(t *testing.T, path, format string, mode int) []byte {
	src, err := capture.OpenFiles([]string{path}, capture.FileOptions{})
	if err != nil {
		return []byte("open: " + err.Error())
	}
	defer src.Close()
	var out bytes.Buffer
	r := render.Lookup(format).New(&out, render.Options{Inputs: []string{path}})
	o := Options{Config: analyze.DefaultConfig(), Sink: r, Workers: mode}
	if mode == 0 {
		o.Observer = nopObserver{}
	}
	res := Run(src, o)
	if err := r.Finish(res); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestStagedSameOutput runs every capture of the repository and the shared
// corpus on one goroutine and staged, and compares the JSON and text
// reports byte for byte.
func TestStagedSameOutput(t *testing.T) {
	files := captures(t, false)
	for _, f := range files {
		for _, format := range []string{"json", "text"} {
			a, b := runMode(t, f, format, 0), runMode(t, f, format, 1)
			if !bytes.Equal(a, b) {
				t.Errorf("%s (%s): staged output differs from one goroutine's (%d vs %d bytes)", f, format, len(b), len(a))
			}
		}
	}
	t.Logf("%d captures compared", len(files))
}

// TestWorkersSameOutput: the output is the same for any number of workers
// (issue 15). Every capture of the repository, the corpus and the shared
// hostile captures, with 1, 2, 3 and 4 workers; JSON (which carries every
// connection, transaction, finding and count) for all, text too for the
// repository's and the corpus's.
func TestWorkersSameOutput(t *testing.T) {
	files := captures(t, !testing.Short())
	for _, f := range files {
		formats := []string{"json", "text"}
		if strings.Contains(f, "robust") {
			formats = formats[:1]
		}
		for _, format := range formats {
			one := runMode(t, f, format, 1)
			for _, n := range []int{2, 3, 4} {
				if got := runMode(t, f, format, n); !bytes.Equal(got, one) {
					t.Errorf("%s (%s): %d workers' output differs from one's (%d vs %d bytes)%s", f, format, n, len(got), len(one), firstDiff(got, one))
				}
			}
		}
	}
	t.Logf("%d captures compared", len(files))
}

// firstDiff shows where two outputs part.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(0, i-80)
	return "\n got: ..." + string(a[from:min(len(a), i+80)]) + "\nwant: ..." + string(b[from:min(len(b), i+80)])
}
