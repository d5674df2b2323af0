package render

import (
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
	Config            string        `json:"config,omitempty"`
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

// WriteInfoText prints, for text output, the config file (verbose only)
// and what suppressions and a baseline hid, and every unused suppression.
func WriteInfoText(w io.Writer, i *Info, verbose bool) {
	if i == nil {
		return
	}
	var b strings.Builder
	if verbose {
		if i.ConfigFile != "" {
			b.WriteString("config: " + i.ConfigFile + "\n")
		} else {
			b.WriteString("config: none\n")
		}
	}
	for _, u := range i.Unused {
		b.WriteString("warning: " + u + "\n")
	}
	io.WriteString(w, b.String())
}
