package framing

import (
	"strings"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// family is this package's rules, as the suite lists them.
var family = []*analyze.Rule{ContentLengthMismatch, ConflictingFraming, BodyOnBodilessResponse, UnframedPersistentResponse,
	Pipelining, PipelinedUnsafeMethod, RequestAfterClose, UnsolicitedResponse, InconsistentOverlap}

// newScript runs only rule ids of the family on one scripted connection.
func newScript(t *testing.T, cfg *analyze.Config, ids ...string) *analyzetest.Script {
	return analyzetest.NewScript(t, cfg, family, ids...)
}

// Each case builds one connection's transactions and says how many findings
// of the rule under test it must produce and what the first must mention.
type ruleCase struct {
	name  string
	build func(s *analyzetest.Script)
	want  int
	says  string
}

func runCases(t *testing.T, rule string, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, nil, rule)
			tc.build(s)
			got := s.End().ByRule(rule)
			if len(got) != tc.want {
				for _, f := range got {
					t.Logf("finding: %s", f.Message)
				}
				t.Fatalf("%s: got %d findings, want %d", rule, len(got), tc.want)
			}
			if tc.want > 0 && tc.says != "" && !strings.Contains(got[0].Message, tc.says) {
				t.Errorf("message %q does not mention %q", got[0].Message, tc.says)
			}
			for _, f := range got {
				if len(f.Frames) == 0 || f.Conn.ID != 1 || f.Hint == "" {
					t.Errorf("finding lacks evidence: %+v", f)
				}
			}
		})
	}
}

func TestContentLengthMismatch(t *testing.T) {
	truncated := func(end http1.End, missing int64) func(s *analyzetest.Script) {
		return func(s *analyzetest.Script) {
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(6, 12))
			r.ContentLength, r.BodyLength, r.MissingBytes, r.End = 3388, 3388-missing, missing, end
			if end == http1.EndFIN {
				p := analyzetest.At(7, 13)
				s.C.Halves[flow.ServerToClient].FIN = &p
			}
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		}
	}
	runCases(t, "content-length-mismatch", []ruleCase{
		{"complete", truncated(http1.EndComplete, 0), 0, ""},
		{"truncated by FIN", truncated(http1.EndFIN, 1944), 1, "truncated by FIN: 1444 of 3388"},
		{"truncated by capture end", truncated(http1.EndCaptureEnd, 1944), 1, "the end of the capture"},
		{"headers cut by FIN", func(s *analyzetest.Script) {
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 11))
			r.End, r.InHeaders, r.HeaderBytes = http1.EndFIN, true, 33
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		}, 1, "header block cut by FIN after 33 bytes"},
		{"truncated chunked by RST", func(s *analyzetest.Script) {
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 11))
			r.Framing, r.End, r.BodyLength = http1.FramingChunked, http1.EndRST, 100
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		}, 1, "without its last chunk"},
		{"gap hides the end: silent", func(s *analyzetest.Script) {
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(6, 12))
			r.ContentLength, r.MissingBytes, r.End, r.GapBytes = 100, 50, http1.EndFIN, 10
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		}, 0, ""},
		{"gap transaction: silent", func(s *analyzetest.Script) {
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(6, 12))
			r.ContentLength, r.MissingBytes, r.End = 100, 50, http1.EndFIN
			s.Deliver(&http1.Transaction{Request: analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), Response: r, Gap: true})
		}, 0, ""},
		{"close-delimited ended by RST: not a length mismatch", func(s *analyzetest.Script) {
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(6, 12))
			r.Framing, r.End = http1.FramingClose, http1.EndRST
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		}, 0, ""},
		{"overrun", func(s *analyzetest.Script) {
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(6, 12))
			r.ContentLength, r.BodyLength = 3, 3
			r.Anomalies, r.OverrunBytes, r.OverrunPos = []http1.Anomaly{http1.AnomOverrun}, 1, analyzetest.At(6, 12)
			s.Tx(analyzetest.Req("POST", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		}, 1, "overrun: 1 bytes followed the end given by Content-Length: 3"},
		// the parser tolerates one empty line between messages (http1
		// crlf-after-body); what it does count is an overrun either way
		{"bytes after a request body", func(s *analyzetest.Script) {
			q := analyzetest.Req("POST", "/", analyzetest.At(2, 0), analyzetest.At(2, 0))
			q.Anomalies, q.OverrunBytes, q.OverrunPos = []http1.Anomaly{http1.AnomOverrun}, 2, analyzetest.At(3, 1)
			s.Tx(q, analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(6, 12)))
		}, 1, "followed by 2 bytes"},
	})
}

func TestConflictingFraming(t *testing.T) {
	with := func(a http1.Anomaly, h ...string) func(s *analyzetest.Script) {
		return func(s *analyzetest.Script) {
			q := analyzetest.Req("POST", "/", analyzetest.At(2, 0), analyzetest.At(2, 0), h...)
			q.Anomalies = []http1.Anomaly{a}
			s.Tx(q, analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(6, 12)))
		}
	}
	runCases(t, "conflicting-framing", []ruleCase{
		{"plain", with(http1.AnomBareLF), 0, ""},
		{"CL and TE", with(http1.AnomCLAndTE, "Content-Length", "50", "Transfer-Encoding", "chunked"), 1, "both Content-Length (50) and Transfer-Encoding (chunked)"},
		{"two CLs", with(http1.AnomDuplicateCL, "Content-Length", "68", "Content-Length", "34"), 1, "different Content-Length values (68, 34)"},
		{"invalid CL", with(http1.AnomInvalidCL, "Content-Length", "18446744073709551615"), 1, "invalid Content-Length"},
		{"TE not ending in chunked", with(http1.AnomInvalidTE, "Transfer-Encoding", "chunked, identity"), 1, "final coding is not chunked"},
		{"TE folded over two lines", with(http1.AnomObscuredFraming, "Transfer-Encoding", "chunked"), 1, "folded over two lines"},
		{"obs-fold on another header is not about framing", with(http1.AnomObsFold, "X-Long", "a b"), 0, ""},
		{"same CL twice is fine", with(http1.AnomRepeatedCL, "Content-Length", "5", "Content-Length", "5"), 0, ""},
		{"chunk size overflows (2^64)", with(http1.AnomChunkSizeOverflow, "Transfer-Encoding", "chunked"), 1, "invalid chunk size"},
		{"garbage chunk line after losing sync is not", with(http1.AnomBadChunkSize, "Transfer-Encoding", "chunked"), 0, ""},
	})
}

func TestBodyOnBodilessResponse(t *testing.T) {
	case_ := func(method string, status int, extra int64) func(s *analyzetest.Script) {
		return func(s *analyzetest.Script) {
			r := analyzetest.Resp(status, analyzetest.At(4, 10), analyzetest.At(4, 10))
			r.Framing = http1.FramingNone
			if extra > 0 {
				r.Anomalies, r.OverrunBytes, r.OverrunPos = []http1.Anomaly{http1.AnomBodyOnBodiless}, extra, analyzetest.At(5, 11)
			}
			s.Tx(analyzetest.Req(method, "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		}
	}
	runCases(t, "body-on-bodiless-response", []ruleCase{
		{"HEAD without body", case_("HEAD", 200, 0), 0, ""},
		{"HEAD with body", case_("HEAD", 200, 120), 1, "a response to HEAD has no body"},
		{"204 with body", case_("GET", 204, 5), 1, "a 204 response has no body"},
		{"304 with body", case_("GET", 304, 5), 1, "304"},
	})
}

func TestUnframedPersistentResponse(t *testing.T) {
	closeDelimited := func(serverFIN, clientFIN float64, connClose bool) func(s *analyzetest.Script) {
		return func(s *analyzetest.Script) {
			var h []string
			if connClose {
				h = []string{"Connection", "close"}
			}
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 20), h...)
			r.Framing = http1.FramingClose
			if serverFIN > 0 {
				p := analyzetest.At(9, serverFIN)
				s.C.Halves[flow.ServerToClient].FIN = &p
				s.C.Last = p
			}
			if clientFIN > 0 {
				p := analyzetest.At(8, clientFIN)
				s.C.Halves[flow.ClientToServer].FIN = &p
				if p.Ord > s.C.Last.Ord {
					s.C.Last = p
				}
			}
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		}
	}
	runCases(t, "unframed-persistent-response", []ruleCase{
		{"server closes right after the body", closeDelimited(21, 0, true), 0, ""},
		{"client gives up first", closeDelimited(0, 5020, false), 1, "the client gave up and closed 5.00 s"},
		{"client closes right after the body: not a wait", closeDelimited(0, 25, false), 0, ""},
		{"contradictory Content-Lengths: conflicting-framing's business", func(s *analyzetest.Script) {
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 20), "Content-Length", "68", "Content-Length", "34")
			r.Framing, r.Anomalies = http1.FramingClose, []http1.Anomaly{http1.AnomDuplicateCL}
			p := analyzetest.At(8, 5020)
			s.C.Halves[flow.ClientToServer].FIN = &p
			s.C.Last = p
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		}, 0, ""},
		{"server closes on an idle timeout", closeDelimited(15020, 0, false), 1, "the server closed only 15.0 s"},
		{"still open at capture end", func(s *analyzetest.Script) {
			closeDelimited(0, 0, false)(s)
			s.C.Last = analyzetest.At(20, 3020)
		}, 1, "still open 3.00 s after the last byte"},
		{"capture ends right after: unsure", func(s *analyzetest.Script) {
			closeDelimited(0, 0, false)(s)
			s.C.Last = analyzetest.At(20, 100)
		}, 0, ""},
		{"Content-Length framed", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 20)))
			s.C.Last = analyzetest.At(20, 30000)
		}, 0, ""},
	})
}

func TestPipelining(t *testing.T) {
	// q1 at frame 2, q2 at frame 3 (before r1 ends at frame 5) → pipelined.
	pipelined := func(m1, m2 string) func(s *analyzetest.Script) {
		return func(s *analyzetest.Script) {
			q1, q2 := analyzetest.Req(m1, "/a", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Req(m2, "/b", analyzetest.At(3, 1), analyzetest.At(3, 1))
			s.Tx(q1, analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 11)))
			s.Tx(q2, analyzetest.Resp(200, analyzetest.At(6, 12), analyzetest.At(7, 13)))
		}
	}
	sequential := func(s *analyzetest.Script) {
		s.Tx(analyzetest.Req("GET", "/a", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(4, 11)))
		s.Tx(analyzetest.Req("GET", "/b", analyzetest.At(5, 20), analyzetest.At(5, 20)), analyzetest.Resp(200, analyzetest.At(6, 30), analyzetest.At(7, 31)))
	}
	runCases(t, "pipelining", []ruleCase{
		{"sequential keep-alive", sequential, 0, ""},
		{"two GETs", pipelined("GET", "GET"), 1, "1 request was pipelined"},
		{"POST behind GET is the other rule", pipelined("GET", "POST"), 0, ""},
		{"three deep", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/a", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(5, 10), analyzetest.At(6, 11)))
			s.Tx(analyzetest.Req("GET", "/b", analyzetest.At(3, 0), analyzetest.At(3, 0)), analyzetest.Resp(200, analyzetest.At(7, 12), analyzetest.At(8, 13)))
			s.Tx(analyzetest.Req("HEAD", "/c", analyzetest.At(4, 0), analyzetest.At(4, 0)), analyzetest.Resp(200, analyzetest.At(9, 14), analyzetest.At(9, 14)))
		}, 1, "depth up to 3"},
		{"gap transaction ignored", func(s *analyzetest.Script) {
			s.Deliver(&http1.Transaction{Index: 0, Request: analyzetest.Req("GET", "/a", analyzetest.At(2, 0), analyzetest.At(2, 0)), Gap: true})
			s.Deliver(&http1.Transaction{Index: 1, Request: analyzetest.Req("GET", "/b", analyzetest.At(3, 0), analyzetest.At(3, 0)), Response: analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 11))})
		}, 0, ""},
	})
	runCases(t, "pipelined-unsafe-method", []ruleCase{
		{"sequential POSTs", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("POST", "/a", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(4, 11)))
			s.Tx(analyzetest.Req("POST", "/b", analyzetest.At(5, 20), analyzetest.At(5, 20)), analyzetest.Resp(200, analyzetest.At(6, 30), analyzetest.At(7, 31)))
		}, 0, ""},
		{"two GETs are safe", pipelined("GET", "GET"), 0, ""},
		{"PUT and DELETE are idempotent", pipelined("PUT", "DELETE"), 0, ""},
		{"POST behind GET", pipelined("GET", "POST"), 1, "POST /b (transaction 2) is not idempotent"},
		{"GET behind POST", pipelined("POST", "GET"), 1, "GET /b (transaction 2) was pipelined behind POST /a (transaction 1)"},
		{"request behind an unanswered POST, no server byte in between", func(s *analyzetest.Script) {
			s.Seg(flow.ClientToServer, 2, 0, 0, 100, 0)
			s.Seg(flow.ClientToServer, 3, 1, 100, 50, 0)
			q1, q2 := analyzetest.Req("POST", "/a", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Req("GET", "/b", analyzetest.At(3, 1), analyzetest.At(3, 1))
			q2.Start.Offset = 100
			s.Tx(q1, nil)
			s.Tx(q2, analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 11)))
		}, 1, "behind POST /a"},
		{"one-sided capture: the client's ACKs show the response came", func(s *analyzetest.Script) {
			s.Seg(flow.ClientToServer, 2, 0, 0, 100, 0)
			s.Seg(flow.ClientToServer, 3, 30, 100, 50, 149)
			q1, q2 := analyzetest.Req("POST", "/a", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Req("GET", "/b", analyzetest.At(3, 30), analyzetest.At(3, 30))
			q2.Start.Offset = 100
			s.Tx(q1, nil)
			s.Tx(q2, nil)
		}, 0, ""},
		{"unanswered POST without ACK evidence: unsure", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("POST", "/a", analyzetest.At(2, 0), analyzetest.At(2, 0)), nil)
			s.Tx(analyzetest.Req("GET", "/b", analyzetest.At(3, 1), analyzetest.At(3, 1)), analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 11)))
		}, 0, ""},
		{"ACKs beat capture order: request sent before the response was received", func(s *analyzetest.Script) {
			// capture at the server: the response left (frame 4) before the
			// request arrived (frame 6), but the request does not ACK it
			s.Seg(flow.ClientToServer, 2, 0, 0, 100, 0)
			s.Seg(flow.ClientToServer, 6, 12, 100, 50, 0)
			q1, q2 := analyzetest.Req("POST", "/a", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Req("POST", "/b", analyzetest.At(6, 12), analyzetest.At(6, 12))
			q2.Start.Offset = 100
			r1 := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 11))
			r1.Last.Offset = 99
			s.Tx(q1, r1)
			s.Tx(q2, analyzetest.Resp(200, analyzetest.At(7, 20), analyzetest.At(8, 21)))
		}, 1, "POST /b (transaction 2) is not idempotent"},
	})
}

func TestRequestAfterClose(t *testing.T) {
	runCases(t, "request-after-close", []ruleCase{
		{"keep-alive reuse", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(4, 11)))
			s.Tx(analyzetest.Req("GET", "/2", analyzetest.At(5, 20), analyzetest.At(5, 20)), analyzetest.Resp(200, analyzetest.At(6, 30), analyzetest.At(7, 31)))
		}, 0, ""},
		{"server said close, client reused", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(4, 11), "Connection", "close"))
			s.Tx(analyzetest.Req("GET", "/2", analyzetest.At(5, 20), analyzetest.At(5, 20)), analyzetest.Resp(200, analyzetest.At(6, 30), analyzetest.At(7, 31)))
		}, 1, "GET /2 (transaction 2) was sent after the server's Connection: close in transaction 1; the server answered it anyway"},
		{"every reuse after repeated closes is reported", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(4, 11), "Connection", "close"))
			s.Tx(analyzetest.Req("GET", "/2", analyzetest.At(5, 20), analyzetest.At(5, 20)), analyzetest.Resp(200, analyzetest.At(6, 30), analyzetest.At(7, 31), "Connection", "close"))
			s.Tx(analyzetest.Req("GET", "/3", analyzetest.At(8, 40), analyzetest.At(8, 40)), analyzetest.Resp(200, analyzetest.At(9, 50), analyzetest.At(10, 51), "Connection", "close"))
		}, 2, "GET /2"},
		{"client said close, then sent more", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(2, 0), analyzetest.At(2, 0), "Connection", "close"), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(4, 11)))
			s.Tx(analyzetest.Req("GET", "/2", analyzetest.At(5, 20), analyzetest.At(5, 20)), nil)
		}, 1, "the client's own Connection: close"},
		{"pipelined before the close arrived", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 11), "Connection", "close"))
			s.Tx(analyzetest.Req("GET", "/2", analyzetest.At(3, 1), analyzetest.At(3, 1)), nil)
		}, 0, ""},
		{"response lost in a capture gap: the request after the close is still certain", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(5, 0), analyzetest.At(5, 0)), analyzetest.Resp(200, analyzetest.At(7, 10), analyzetest.At(7, 10), "Connection", "close"))
			s.Deliver(&http1.Transaction{Index: 1, Request: analyzetest.Req("GET", "/2", analyzetest.At(10, 20), analyzetest.At(10, 20)), Gap: true})
		}, 1, "GET /2 (transaction 2) was sent after the server's Connection: close in transaction 1; whether the server answered it is unknown"},
		{"near miss: request lost in a gap is not reported", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(5, 0), analyzetest.At(5, 0)), analyzetest.Resp(200, analyzetest.At(7, 10), analyzetest.At(7, 10), "Connection", "close"))
			s.Deliver(&http1.Transaction{Index: 1, Response: analyzetest.Resp(200, analyzetest.At(14, 20), analyzetest.At(14, 20)), Gap: true})
		}, 0, ""},
		{"Connection: keep-alive is not close", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(4, 11), "Connection", "Keep-Alive"))
			s.Tx(analyzetest.Req("GET", "/2", analyzetest.At(5, 20), analyzetest.At(5, 20)), analyzetest.Resp(200, analyzetest.At(6, 30), analyzetest.At(7, 31)))
		}, 0, ""},
	})
}

func TestUnsolicitedResponse(t *testing.T) {
	runCases(t, "unsolicited-response", []ruleCase{
		{"paired", func(s *analyzetest.Script) {
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(4, 11)))
		}, 0, ""},
		{"one-sided capture: no client packet at all", func(s *analyzetest.Script) {
			s.Deliver(&http1.Transaction{Index: 0, Response: analyzetest.Resp(200, analyzetest.At(5, 12), analyzetest.At(5, 12)), Unsolicited: true})
			s.C.Halves[flow.ClientToServer].Segments = 0
		}, 0, ""},
		{"extra responses", func(s *analyzetest.Script) {
			s.C.Halves[flow.ClientToServer].Segments = 3
			s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(4, 11)))
			s.Deliver(&http1.Transaction{Index: 1, Response: analyzetest.Resp(200, analyzetest.At(5, 12), analyzetest.At(5, 12)), Unsolicited: true})
			s.Deliver(&http1.Transaction{Index: 2, Response: analyzetest.Resp(200, analyzetest.At(5, 12), analyzetest.At(5, 12)), Unsolicited: true})
		}, 2, "arrived with no request outstanding: every earlier request already had its response"},
		{"server answering junk the client sent (a 400)", func(s *analyzetest.Script) {
			q := analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0))
			q.Anomalies, q.OverrunBytes, q.OverrunPos = []http1.Anomaly{http1.AnomOverrun}, 10, analyzetest.At(5, 20)
			s.Tx(q, analyzetest.Resp(301, analyzetest.At(3, 10), analyzetest.At(4, 11)))
			s.Deliver(&http1.Transaction{Index: 1, Response: analyzetest.Resp(400, analyzetest.At(6, 30), analyzetest.At(6, 30)), Unsolicited: true})
		}, 0, ""},
		{"request lost in a gap", func(s *analyzetest.Script) {
			s.Deliver(&http1.Transaction{Index: 0, Response: analyzetest.Resp(200, analyzetest.At(5, 12), analyzetest.At(5, 12)), Gap: true})
		}, 0, ""},
		// zero-length-bodies-with-drops.pcap f34/f35: the server ACKs client
		// bytes the capture lacks, then answers them; the client hole is
		// declared only at f37, when client data beyond it arrives.
		{"server acknowledged a request the capture lacks", unseenRequest(250), 0, ""},
		{"near miss: server acknowledged only what was seen", unseenRequest(100), 1, "no request outstanding"},
	})
}

// unseenRequest: GET /1 (client bytes 0-99) answered, then a server packet
// acknowledging client stream offset ack, then a response with no request.
func unseenRequest(ack uint64) func(s *analyzetest.Script) {
	return func(s *analyzetest.Script) {
		s.C.Halves[flow.ClientToServer].Segments = 3
		s.Seg(flow.ClientToServer, 2, 0, 0, 100, 0)
		s.Seg(flow.ServerToClient, 3, 10, 0, 50, 100)
		s.Tx(analyzetest.Req("GET", "/1", analyzetest.At(2, 0), analyzetest.At(2, 0)), analyzetest.Resp(200, analyzetest.At(3, 10), analyzetest.At(3, 10)))
		s.Seg(flow.ServerToClient, 5, 20, 50, 0, ack)
		s.Seg(flow.ServerToClient, 6, 21, 50, 50, ack)
		s.Deliver(&http1.Transaction{Index: 1, Response: analyzetest.Resp(200, analyzetest.At(6, 21), analyzetest.At(6, 21)), Unsolicited: true})
		s.Seg(flow.ClientToServer, 7, 30, 250, 0, 100)
	}
}

func TestInconsistentOverlap(t *testing.T) {
	s := newScript(t, nil, "inconsistent-overlap")
	s.E.Inconsistency(s.C, reassembly.Inconsistency{Dir: flow.ServerToClient, Offset: 0, Bytes: 43, First: analyzetest.At(5, 10), Second: analyzetest.At(9, 20)})
	got := s.End().ByRule("inconsistent-overlap")
	if len(got) != 1 || len(got[0].Frames) != 2 || got[0].Frames[0].Frame != 5 || got[0].Frames[1].Frame != 9 {
		t.Fatalf("got %+v", got)
	}
}

// TestTruncationSilentOnEviction: a response cut because connlint stopped
// following its connection (table full, idle timeout) is not "truncated by
// the end of the capture": the rest of it may well have come. The same cut
// at the real end of the capture is reported.
func TestTruncationSilentOnEviction(t *testing.T) {
	for _, tc := range []struct {
		end  reassembly.EndReason
		want int
	}{
		{reassembly.EndOpen, 1},
		{reassembly.EndEvicted, 0},
		{reassembly.EndIdle, 0},
	} {
		s := newScript(t, nil, ContentLengthMismatch.ID)
		s.C.End = tc.end // set by the Assembler before the last transaction
		q := analyzetest.Req("GET", "/big", analyzetest.At(4, 1), analyzetest.At(4, 1))
		r := analyzetest.Resp(200, analyzetest.At(6, 3), analyzetest.At(9, 5), "Content-Length", "10000")
		r.ContentLength, r.BodyLength, r.MissingBytes = 10000, 4000, 6000
		r.End = http1.EndCaptureEnd
		s.Tx(q, r)
		if got := len(s.End().ByRule(ContentLengthMismatch.ID)); got != tc.want {
			t.Errorf("connection ended %v: %d findings, want %d", tc.end, got, tc.want)
		}
	}
}

// TestTruncationSeverity (issue 12 item 2): a message cut by the end of the
// capture is a fact about the capture, reported at info whatever severity
// the rule is configured at; the near miss, a cut by FIN, keeps the rule's.
func TestTruncationSeverity(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  http1.End
		set  analyze.Severity // user-configured rule severity; 0 = default
		want analyze.Severity
	}{
		{"capture end", http1.EndCaptureEnd, 0, analyze.Info},
		{"capture end, rule raised to error", http1.EndCaptureEnd, analyze.Error, analyze.Info},
		{"capture end, rule lowered to warning", http1.EndCaptureEnd, analyze.Warning, analyze.Info},
		{"near miss: FIN", http1.EndFIN, 0, analyze.Error},
		{"near miss: RST, rule lowered to warning", http1.EndRST, analyze.Warning, analyze.Warning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := analyze.DefaultConfig()
			if tc.set != 0 {
				cfg.Severity[ContentLengthMismatch.ID] = tc.set
			}
			s := newScript(t, cfg, ContentLengthMismatch.ID)
			r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(6, 12))
			r.ContentLength, r.BodyLength, r.MissingBytes, r.End = 2000000, 1000, 2000000-1000, tc.end
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
			got := s.End().ByRule(ContentLengthMismatch.ID)
			if len(got) != 1 || got[0].Severity != tc.want {
				t.Fatalf("got %+v, want one finding at %s", got, tc.want)
			}
		})
	}
}

// TestExpectContinueRefused (issue 12 item 5): curl POSTs with
// Expect: 100-continue, the server answers 413 at once, and curl — as RFC
// 9110 §10.1.1 allows — closes without sending the body: no truncation. The
// near misses (no Expect; a 100 Continue came first; the body had started)
// stay truncations.
func TestExpectContinueRefused(t *testing.T) {
	const resp413 = `<<< HTTP/1.1 413 Request Entity Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`
	for _, tc := range []struct {
		name, in string
		want     int
	}{
		{"refused before the body", `>>> POST /up HTTP/1.1\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n
			` + resp413 + `
			<<| fin
			>>| fin`, 0},
		{"near miss: no Expect", `>>> POST /up HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n
			` + resp413 + `
			<<| fin
			>>| fin`, 1},
		{"near miss: after a 100 Continue", `>>> POST /up HTTP/1.1\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n
			<<< HTTP/1.1 100 Continue\r\n\r\n
			>>> 0123456789
			` + resp413 + `
			<<| fin
			>>| fin`, 1},
		{"near miss: the body had started before the answer", `>>> POST /up HTTP/1.1\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n
			>>> 0123456789
			` + resp413 + `
			<<| fin
			>>| fin`, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, nil, ContentLengthMismatch.ID)
			transcript(t, s, tc.in)
			got := s.End().ByRule(ContentLengthMismatch.ID)
			if len(got) != tc.want {
				for _, f := range got {
					t.Logf("finding: %s", f.Message)
				}
				t.Fatalf("got %d findings, want %d", len(got), tc.want)
			}
			if tc.want == 1 && !strings.Contains(got[0].Message, "truncated by FIN") {
				t.Errorf("message %q", got[0].Message)
			}
		})
	}
}

// TestChunkSizeOverflow (issue 12 item 13), through the parser: a chunk size
// of 2^64 is conflicting-framing; a garbage size line is not.
func TestChunkSizeOverflow(t *testing.T) {
	for _, tc := range []struct {
		name, chunk string
		want        int
	}{
		{"2^64", `10000000000000000\r\n`, 1},
		{"near miss: garbage line", `zz10000000000000000\r\n`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, nil, ConflictingFraming.ID)
			transcript(t, s, `>>> POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n`+tc.chunk+`GET /smuggled HTTP/1.1\r\n\r\n
				>>| fin`)
			if got := s.End().ByRule(ConflictingFraming.ID); len(got) != tc.want {
				t.Fatalf("got %d findings, want %d", len(got), tc.want)
			}
		})
	}
}

// TestJunkRequestAfterResponse (issue 12 item 12): bytes after an answered
// bodiless request are a malformed next request that the server's 400
// answers: no overrun of the GET, no unsolicited 400. The near miss (junk
// before the GET's response) stays an overrun.
func TestJunkRequestAfterResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in             string
		overrun, unsolicited int
	}{
		{"after the response", `>>> GET / HTTP/1.1\r\nHost: x\r\n\r\n
			<<< HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
			>>> \x16\x03\x01 not a request\r\n
			<<< HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n
			<<| fin
			>>| fin`, 0, 0},
		{"near miss: before the response", `>>> GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01 not a request\r\n
			<<< HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
			<<| fin
			>>| fin`, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, nil, ContentLengthMismatch.ID, UnsolicitedResponse.ID)
			transcript(t, s, tc.in)
			rec := s.End()
			if got := len(rec.ByRule(ContentLengthMismatch.ID)); got != tc.overrun {
				t.Errorf("content-length-mismatch: %d findings, want %d", got, tc.overrun)
			}
			if got := len(rec.ByRule(UnsolicitedResponse.ID)); got != tc.unsolicited {
				t.Errorf("unsolicited-response: %d findings, want %d", got, tc.unsolicited)
			}
		})
	}
}

// TestTruncatedWithHoles (issue 12 item 10): a Content-Length body with a
// capture hole, then the server's FIN/RST before the declared length: the
// holes only lower the shortfall, which is reported. Silent when the body
// ends in a hole, at capture end, or for a chunked body with holes.
func TestTruncatedWithHoles(t *testing.T) {
	const head = `>>> GET / HTTP/1.1\r\nHost: x\r\n\r\n
		<<< HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789
		`
	for _, tc := range []struct {
		name, in string
		want     int
		says     string
	}{
		{"hole then FIN", head + `<>< s 20
			<<< 0123456789
			<<| fin`, 1, "truncated by FIN: at least 60 of 100 body bytes (Content-Length) missing; 20 arrived and 20 more were in capture holes"},
		{"hole then RST", head + `<>< s 20
			<<< 0123456789
			<<| rst`, 1, "truncated by RST: at least 60"},
		{"near miss: ends in a hole", head + `<>< s 20
			<<| fin`, 0, ""},
		{"near miss: capture end", head + `<>< s 20
			<<< 0123456789
			<<| cap`, 0, ""},
		{"near miss: chunked with a hole", `>>> GET / HTTP/1.1\r\nHost: x\r\n\r\n
			<<< HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n0123456789
			<>< s 20
			<<< 0123456789
			<<| fin`, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, nil, ContentLengthMismatch.ID)
			transcript(t, s, tc.in)
			got := s.End().ByRule(ContentLengthMismatch.ID)
			if len(got) != tc.want {
				for _, f := range got {
					t.Logf("finding: %s", f.Message)
				}
				t.Fatalf("got %d findings, want %d", len(got), tc.want)
			}
			if tc.want > 0 {
				if !strings.Contains(got[0].Message, tc.says) {
					t.Errorf("message %q does not say %q", got[0].Message, tc.says)
				}
				if got[0].Attrs["hole_bytes"] != int64(20) || got[0].Attrs["missing_bytes"] != int64(60) {
					t.Errorf("attrs %v", got[0].Attrs)
				}
			}
		})
	}
}

// TestOverrunFromConflictingOverlap (issue 12 item 7, the QUANTUM INSERT
// shape of qi_internet_SYNACK_curl_jsonip.pcap): a 43-byte injected response
// (frame 5) is kept, the real 348-byte one (frame 9) conflicts with it and
// its tail reads as an overrun. inconsistent-overlap is the one finding; the
// near miss, an overrun from a packet whose overlap did not conflict, stays.
func TestOverrunFromConflictingOverlap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrunAt int64 // frame holding the first extra byte
		want      int
	}{
		{"overrun from the conflicting packet", 9, 0},
		{"near miss: overrun from another packet", 11, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, nil, ContentLengthMismatch.ID, InconsistentOverlap.ID)
			s.E.Inconsistency(s.C, reassembly.Inconsistency{Dir: flow.ServerToClient, Offset: 0, Bytes: 43, First: analyzetest.At(5, 10), Second: analyzetest.At(9, 20)})
			r := analyzetest.Resp(200, analyzetest.At(5, 10), analyzetest.At(5, 10))
			r.ContentLength, r.BodyLength = 5, 5
			op := analyzetest.At(tc.overrunAt, 20)
			op.Offset = 43
			r.Anomalies, r.OverrunBytes, r.OverrunPos = []http1.Anomaly{http1.AnomOverrun}, 305, op
			s.Tx(analyzetest.Req("GET", "/", analyzetest.At(4, 0), analyzetest.At(4, 0)), r)
			rec := s.End()
			if got := len(rec.ByRule(ContentLengthMismatch.ID)); got != tc.want {
				t.Errorf("content-length-mismatch: %d findings, want %d", got, tc.want)
			}
			if got := len(rec.ByRule(InconsistentOverlap.ID)); got != 1 {
				t.Errorf("inconsistent-overlap: %d findings, want 1", got)
			}
		})
	}
}

// TestOneSided (issue 12 item 17): on a connection whose capture lacks one
// side entirely, what needs that side says nothing: a request cut short (its
// answer, a 413 say, is unseen), a response without its request, an
// unframed response (the client's close is unseen). Near misses: the same
// on a two-sided connection are reported.
func TestOneSided(t *testing.T) {
	truncatedPOST := func(s *analyzetest.Script) {
		q := analyzetest.Req("POST", "/up", analyzetest.At(2, 0), analyzetest.At(2, 0), "Content-Length", "2000000", "Expect", "100-continue")
		q.Framing, q.ContentLength, q.MissingBytes, q.End = http1.FramingContentLength, 2000000, 2000000, http1.EndFIN
		p := analyzetest.At(3, 5)
		s.C.Halves[flow.ClientToServer].FIN = &p
		s.Tx(q, nil)
	}
	orphanResponse := func(s *analyzetest.Script) {
		r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(6, 12))
		r.ContentLength, r.BodyLength, r.MissingBytes, r.End = 100, 10, 90, http1.EndFIN
		s.Deliver(&http1.Transaction{Response: r, Unsolicited: true})
	}
	unframed := func(s *analyzetest.Script) {
		r := analyzetest.Resp(200, analyzetest.At(4, 10), analyzetest.At(5, 20))
		r.Framing = http1.FramingClose
		s.Tx(analyzetest.Req("GET", "/", analyzetest.At(2, 0), analyzetest.At(2, 0)), r)
		s.C.Last = analyzetest.At(20, 3020)
	}
	for _, tc := range []struct {
		name    string
		rule    string
		build   func(s *analyzetest.Script)
		missing flow.Dir
		oneSide bool
		clientN int // client segments captured
		want    int
	}{
		{"request cut, server side absent", ContentLengthMismatch.ID, truncatedPOST, flow.ServerToClient, true, 5, 0},
		{"near miss: request cut, both sides", ContentLengthMismatch.ID, truncatedPOST, 0, false, 5, 1},
		{"response without request, client side absent", ContentLengthMismatch.ID, orphanResponse, flow.ClientToServer, true, 0, 0},
		{"near miss: response without request, client seen", ContentLengthMismatch.ID, orphanResponse, 0, false, 3, 1},
		{"unframed, client side absent", UnframedPersistentResponse.ID, unframed, flow.ClientToServer, true, 0, 0},
		{"near miss: unframed, both sides", UnframedPersistentResponse.ID, unframed, 0, false, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScript(t, nil, tc.rule)
			s.C.OneSided, s.C.Missing = tc.oneSide, tc.missing
			s.C.Halves[flow.ClientToServer].Segments = tc.clientN
			tc.build(s)
			if got := len(s.End().ByRule(tc.rule)); got != tc.want {
				t.Fatalf("%s: %d findings, want %d", tc.rule, got, tc.want)
			}
		})
	}
}
