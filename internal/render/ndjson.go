package render

import (
	"encoding/json"
	"io"

	"github.com/connlint/connlint/analyze"
)

// ndjsonRenderer prints one finding per line the moment it is found: the
// output for pipes and live captures (sniff's default off a terminal).
type ndjsonRenderer struct {
	w      *Writer
	enc    *json.Encoder
	inputs []string
	// alwaysInput names the input on every finding (lint reads files one by one)
	alwaysInput bool
	// live (sniff) ends the stream with a summary record.
	live bool
	o    Options // live: the summary record names the version and run info
}

// ndjsonSummary is the last record of a live capture's NDJSON: the JSON
// summary, marked so that a reader can tell it from the findings.
type ndjsonSummary struct {
	Type string `json:"type"` // "summary"
	JSONSummary
	Connlint string    `json:"connlint"`      // the version, as the JSON document's
	Run      *JSONInfo `json:"run,omitempty"` // suppressions and baseline, as the document's
}

func newNDJSON(w io.Writer, o Options) Renderer {
	ew := NewWriter(w)
	return &ndjsonRenderer{w: ew, enc: newLineEncoder(ew), inputs: o.Inputs, live: o.Live, o: o}
}

func (r *ndjsonRenderer) Finding(f *analyze.Finding) {
	if r.w.Err() != nil {
		return
	}
	j := toJSONFinding(f, r.inputs)
	if r.alwaysInput && len(r.inputs) > 0 {
		j.Input = r.inputs[0]
	}
	r.enc.Encode(j)
}

func (r *ndjsonRenderer) Connection(*analyze.ConnReport) {}

// JSONError is an NDJSON error record: an input that could not be read
// (to its end). Findings have a "rule", error records an "error".
type JSONError struct {
	Input string `json:"input,omitempty"`
	Error string `json:"error"`
}

func (r *ndjsonRenderer) Finish(res *Result) error {
	for _, e := range inputErrors(res.ReadErr, r.inputs) {
		r.enc.Encode(JSONError{Input: e.File, Error: e.Message})
	}
	if r.live && r.w.Err() == nil {
		rec := ndjsonSummary{Type: "summary", JSONSummary: toJSONSummary(res, r.inputs), Connlint: version(r.o)}
		if r.o.Info != nil {
			i := toJSONInfo(r.o.Info)
			rec.Run = &i
		}
		r.enc.Encode(rec)
	}
	return r.w.Err()
}

// ndjsonBatch is lint's NDJSON: every file's findings on one stream, each
// naming its file.
type ndjsonBatch struct{ w *Writer }

func newNDJSONBatch(w io.Writer, _ Options) Batch { return ndjsonBatch{NewWriter(w)} }

func (b ndjsonBatch) File(_ string, inputs []string) Renderer {
	return &ndjsonRenderer{w: b.w, enc: newLineEncoder(b.w), inputs: inputs, alwaysInput: true}
}

// Unreadable writes an error record for an input that could not be opened.
func (b ndjsonBatch) Unreadable(path string, err error) {
	newLineEncoder(b.w).Encode(JSONError{Input: path, Error: err.Error()})
}

func (b ndjsonBatch) Close() error { return b.w.Err() }
