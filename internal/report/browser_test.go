package report_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/connlint/connlint/internal/report"
)

// findChromium returns the browser binary, installing Debian's chromium when
// it is missing and the test runs as root; "" when neither works.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Geteuid() != 0 {
		return ""
	}
	t.Log("chromium not found: installing it with apt-get")
	cmd := exec.Command("sh", "-c", "apt-get update -qq && apt-get install -y -qq chromium")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("apt-get install chromium failed: %v\n%s", err, out)
		return ""
	}
	p, _ := exec.LookPath("chromium")
	return p
}

// artifactDir is where the screenshots go: $CONNLINT_ARTIFACTS, else a
// fixed folder under the temporary directory (kept after the test).
func artifactDir(t *testing.T) string {
	dir := os.Getenv("CONNLINT_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "connlint-report-shots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestReportInChromium loads reports of lab captures in headless Chromium
// over file:// and checks the DOM: one diagram per drawn finding, the frame
// numbers and labels present, no console error, no network request.
func TestReportInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	bin := findChromium(t)
	if bin == "" {
		t.Skip("SKIP: no Chromium found and it could not be installed (needs root and apt-get); the HTML report was not checked in a browser")
	}
	dir := artifactDir(t)
	t.Logf("reports and screenshots: %s", dir)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox, // chromium refuses to run as root with its sandbox
		chromedp.Flag("headless", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.WindowSize(1200, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()

	// The pages of the package's own input, and pages written by the
	// `connlint report` command (its bounded Collector and second pass).
	type page struct {
		name  string
		build func(t *testing.T) (string, *report.Input)
	}
	var pages []page
	for _, name := range []string{"nagle-delayed-ack", "dumb-proxy-keepalive", "port-churn", "pipelined-unsafe-method"} {
		pages = append(pages, page{name, func(t *testing.T) (string, *report.Input) {
			in := buildInput(t, labPath(name))
			return writeReport(t, in, dir, name), in
		}})
	}
	for _, name := range []string{"port-churn", "dumb-proxy-keepalive"} {
		pages = append(pages, page{"cmd-" + name, func(t *testing.T) (string, *report.Input) {
			return commandReport(t, labPath(name), filepath.Join(dir, "cmd-"+name+".html"))
		}})
	}
	for _, pg := range pages {
		name := pg.name
		t.Run(name, func(t *testing.T) {
			rel, in := pg.build(t)
			path, err := filepath.Abs(rel)
			if err != nil {
				t.Fatal(err)
			}
			drawn := report.Drawn(in)

			ctx, cancel := chromedp.NewContext(actx)
			defer cancel()
			ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
			defer cancelT()

			var mu sync.Mutex
			var consoleErrs, requests []string
			if err := chromedp.Listen(ctx, func(ev any) {
				mu.Lock()
				defer mu.Unlock()
				switch e := ev.(type) {
				case *runtime.EventConsoleAPICalled:
					if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning {
						var args []string
						for _, a := range e.Args {
							args = append(args, string(a.Value))
						}
						consoleErrs = append(consoleErrs, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(args, " ")))
					}
				case *runtime.EventExceptionThrown:
					consoleErrs = append(consoleErrs, "exception: "+e.ExceptionDetails.Text)
				case *network.EventRequestWillBeSent:
					requests = append(requests, e.Request.URL)
				}
			}); err != nil {
				t.Fatal(err)
			}

			if err := chromedp.Do(ctx, chromedp.Navigate("file://"+path), chromedp.WaitReady("body")); err != nil {
				t.Fatal(err)
			}
			eval := func(js string) int {
				v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
				if err != nil {
					t.Fatalf("%s: %v", js, err)
				}
				return v
			}
			diagrams := eval(`document.querySelectorAll("figure.diagram").length`)
			ladders := eval(`document.querySelectorAll("figure.diagram[data-kind=ladder] svg").length`)
			timelines := eval(`document.querySelectorAll("figure.diagram[data-kind=timeline] svg").length`)
			svgs := eval(`document.querySelectorAll("svg").length`)
			svgTitles := eval(`Array.from(document.querySelectorAll("svg")).filter(s => s.querySelector(":scope > title") && s.querySelector(":scope > desc")).length`)
			text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText + " " + Array.from(document.querySelectorAll("svg text")).map(t => t.textContent).join(" ")`))
			if err != nil {
				t.Fatal(err)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatal(err)
			}
			shotPath := filepath.Join(dir, name+".png")
			if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", shotPath)
			firstFig, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("figure.diagram")||{id:"none"}).id`))
			if err != nil {
				t.Fatal(err)
			}
			// The top of the page and the first diagram, at a size a person
			// can look at without scrolling a 10 000-px image.
			for sel, suffix := range map[string]string{"#summary": "-summary", "#" + firstFig: "-diagram1", "section.conn": "-conn1"} {
				if eval(`document.querySelectorAll("`+sel+`").length`) == 0 {
					continue
				}
				b, err := chromedp.Run(ctx, chromedp.Screenshot(sel))
				if err != nil {
					t.Fatalf("screenshot of %s: %v", sel, err)
				}
				if err := os.WriteFile(filepath.Join(dir, name+suffix+".png"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}

			if diagrams != len(drawn) {
				t.Errorf("%d diagrams in the DOM, want one per drawn finding: %d", diagrams, len(drawn))
			}
			wantLadders := 0
			for _, f := range drawn {
				if report.IsLadder(f) {
					wantLadders++
				}
			}
			if ladders != wantLadders || timelines != len(drawn)-wantLadders {
				t.Errorf("ladders %d, timelines %d; want %d and %d", ladders, timelines, wantLadders, len(drawn)-wantLadders)
			}
			if svgTitles != svgs {
				t.Errorf("%d of %d SVGs have a <title> and <desc> text alternative", svgTitles, svgs)
			}
			// Each ladder finding's evidence frames are labelled on its arrows ("#41 ...").
			for _, f := range drawn {
				if !report.IsLadder(f) {
					continue
				}
				for _, fr := range f.Frames {
					if !strings.Contains(text, fmt.Sprintf("#%d ", fr.Frame)) {
						t.Errorf("%s: evidence frame #%d not labelled in the page", f.Rule, fr.Frame)
					}
				}
				if !strings.Contains(text, f.Message) {
					t.Errorf("%s: message not in the page: %q", f.Rule, f.Message)
				}
			}
			for _, want := range []string{"Summary", "Findings by rule", "Capture gaps and drops", "Rule pages"} {
				if !strings.Contains(text, want) {
					t.Errorf("page text lacks %q", want)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(consoleErrs) > 0 {
				t.Errorf("console errors: %v", consoleErrs)
			}
			// The page's own load is the one request: seeing it proves the
			// listener works; anything else is a fetch the page must not make.
			sawPage := false
			for _, u := range requests {
				if u == "file://"+path {
					sawPage = true
				} else {
					t.Errorf("the page made a request: %s", u)
				}
			}
			if !sawPage {
				t.Errorf("the network listener did not see the page load (requests %v): the no-request check would be vacuous", requests)
			}
		})
	}
}
