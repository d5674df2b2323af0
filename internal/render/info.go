package render

import (
	"fmt"
	"io"
	"strings"
)

// Info is what a command learns about its run beyond the analysis: the
// config file it read, and what suppressions and a baseline hid. The
// command fills it in before Finish (one analysis) or Close (lint); JSON
// reports it after the summary, text's closing line counts it.
type Info struct {
	ConfigFile string   // the .connlint.yaml read; "" when none
	Suppressed int      // findings hidden by config suppressions
	Unused     []string // suppressions that matched nothing, one line each
	Baseline   string   // the --baseline file; "" when none
	// BaselineHidden counts findings the baseline covered; BaselineGone
	// the recorded findings not seen again (fixed, or a stale baseline).
	BaselineHidden int
	BaselineGone   int
}

// JSONInfo is Info in the JSON document, under "run".
type JSONInfo struct {
	Config            string        `json:"config"` // "" when no config file was read
	Suppressed        int           `json:"suppressed"`
	UnusedSuppression []string      `json:"unused_suppressions"`
	Baseline          *JSONBaseline `json:"baseline,omitempty"`
}

// JSONBaseline is what --baseline did.
type JSONBaseline struct {
	File   string `json:"file"`
	Hidden int    `json:"hidden"`
	Gone   int    `json:"gone"`
}

func toJSONInfo(i *Info) JSONInfo {
	j := JSONInfo{Config: i.ConfigFile, Suppressed: i.Suppressed, UnusedSuppression: append([]string{}, i.Unused...)}
	if i.Baseline != "" {
		j.Baseline = &JSONBaseline{File: i.Baseline, Hidden: i.BaselineHidden, Gone: i.BaselineGone}
	}
	return j
}

// WriteInfoText ends a text report with what suppressions and a baseline
// hid and every suppression that matched nothing (so that stale entries
// are noticed and removed, as golangci-lint reports unused exclusions).
func WriteInfoText(w io.Writer, i *Info) {
	if i == nil {
		return
	}
	var b strings.Builder
	if i.Suppressed > 0 {
		fmt.Fprintf(&b, "%s suppressed by %s\n", countOf(i.Suppressed, "finding"), i.ConfigFile)
	}
	if i.Baseline != "" {
		fmt.Fprintf(&b, "baseline %s: %s hidden, %d not seen again\n", i.Baseline, countOf(i.BaselineHidden, "finding"), i.BaselineGone)
	}
	for _, u := range i.Unused {
		b.WriteString("warning: " + u + "\n")
	}
	io.WriteString(w, b.String())
}

func countOf(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
