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

// TestStagedSameOutput runs every lab capture and the shared corpus's
// captures (when present) on one goroutine and staged (reader, analysis,
// aggregator), and compares the JSON and text reports byte for byte.
func TestStagedSameOutput(t *testing.T) {
	files, _ := filepath.Glob("../../testdata/lab/*.pcap")
	for _, dir := range []string{"../../../shared/corpus", "/work/shared/corpus"} {
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
				files = append(files, p)
			}
			return nil
		})
		break
	}
	if len(files) < 10 {
		t.Fatalf("only %d captures found", len(files))
	}
	run := func(path, format string, staged bool) []byte {
		src, err := capture.OpenFiles([]string{path}, capture.FileOptions{})
		if err != nil {
			return []byte("open: " + err.Error())
		}
		defer src.Close()
		var out bytes.Buffer
		r := render.Lookup(format).New(&out, render.Options{Inputs: []string{path}})
		o := Options{Config: analyze.DefaultConfig(), Sink: r}
		if !staged {
			o.Observer = nopObserver{}
		}
		res := Run(src, o)
		if err := r.Finish(res); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	for _, f := range files {
		if st, err := os.Stat(f); err != nil || st.Size() > 64<<20 {
			continue
		}
		for _, format := range []string{"json", "text"} {
			a, b := run(f, format, false), run(f, format, true)
			if !bytes.Equal(a, b) {
				t.Errorf("%s (%s): staged output differs from one goroutine's (%d vs %d bytes)", f, format, len(b), len(a))
			}
		}
	}
	t.Logf("%d captures compared", len(files))
}
