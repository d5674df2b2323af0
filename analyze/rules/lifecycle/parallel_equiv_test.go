package lifecycle

import (
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
)

// refInterval and refPair are the pairwise count as it was first written
// (every stored connection compared with each new one, by pointer): the
// reference the faster parallel.process must agree with.
type refInterval struct {
	start, end time.Time
	startOrd   int64
	ref        analyze.ConnRef
	frame      analyze.Frame
	open       int
}

func (i *refInterval) covers(j *refInterval) bool {
	if i.start.After(j.start) || (i.start.Equal(j.start) && i.startOrd > j.startOrd) {
		return false
	}
	return j.start.Before(i.end)
}

type refPair struct {
	ivs   []*refInterval
	total int
	peak  int
	at    time.Time
	atOrd int64
	frame analyze.Frame
	refs  []analyze.ConnRef
}

func (pp *refPair) consider(max int, j *refInterval) {
	if j.open < pp.peak || (j.open == pp.peak && (j.start.After(pp.at) || j.start.Equal(pp.at) && j.startOrd >= pp.atOrd)) {
		return
	}
	pp.peak, pp.at, pp.atOrd, pp.frame = j.open, j.start, j.startOrd, j.frame
	if pp.peak <= max {
		return
	}
	pp.refs = pp.refs[:0]
	for _, i := range pp.ivs {
		if (i == j || i.covers(j)) && len(pp.refs) < 2*maxRunRefs {
			pp.refs = append(pp.refs, i.ref)
		}
	}
	if len(pp.refs) < 2*maxRunRefs {
		pp.refs = append(pp.refs, j.ref)
	}
	sort.Slice(pp.refs, func(a, b int) bool { return pp.refs[a].ID < pp.refs[b].ID })
	pp.refs = dedupRefs(pp.refs)
}

func (pp *refPair) process(cfg *analyze.Config, c *crossConn) {
	n := &refInterval{start: c.start, end: c.doneAt, startOrd: c.startOrd, ref: c.ref, frame: c.first, open: 1}
	pp.total++
	for _, j := range pp.ivs {
		if n.covers(j) {
			j.open++
			pp.consider(cfg.ParallelMax, j)
		}
		if j.covers(n) {
			n.open++
		}
	}
	pp.consider(cfg.ParallelMax, n)
	pp.ivs = append(pp.ivs, n)
	cut := c.end.Add(-cfg.CrossWindow)
	keep := pp.ivs[:0]
	for _, j := range pp.ivs {
		if !j.end.Before(cut) {
			keep = append(keep, j)
		}
	}
	pp.ivs = keep
	if over := len(pp.ivs) - maxIntervalsPerPair; over > 0 {
		pp.ivs = pp.ivs[over:]
	}
}

// TestParallelSameAsPairwise feeds random connections of one pair (bursts
// far above the interval bound, start ties, records out of end order,
// timestamps that go backwards, connections leaving the window) to the
// rule and to the reference, and compares the peak, its connections and
// the stored counts after every record.
func TestParallelSameAsPairwise(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cfg := analyze.DefaultConfig()
		cfg.ParallelMax = 3
		cfg.CrossWindow = time.Duration(1+rng.Intn(4)) * time.Second
		p := &parallel{cfg: cfg, tab: newCrossTable[*parallelPair](cfg), cr: &crossRule{}}
		ref := &refPair{}
		base := time.Unix(1_700_000_000, 0)
		client := netip.MustParseAddr("10.0.0.1")
		server := netip.MustParseAddrPort("10.0.0.2:80")
		n := 200 + rng.Intn(1500)
		spread := time.Duration(1+rng.Intn(20)) * time.Second
		var end time.Time
		for i := 0; i < n; i++ {
			// ends mostly increasing, sometimes a little back
			end = base.Add(time.Duration(i) * spread / time.Duration(n))
			if rng.Intn(8) == 0 {
				end = end.Add(-time.Duration(rng.Intn(300)) * time.Millisecond)
			}
			dur := time.Duration(rng.Intn(3000)) * time.Millisecond
			if rng.Intn(4) == 0 {
				dur = time.Duration(rng.Intn(5)) * time.Millisecond // short: start ties
			}
			start := end.Add(-dur).Truncate(10 * time.Millisecond)
			done := end
			switch rng.Intn(6) {
			case 0:
				done = start.Add(dur / 2)
			case 1:
				done = start.Add(-time.Duration(rng.Intn(50)) * time.Millisecond) // timestamps went backwards
			}
			c := &crossConn{
				ref:      analyze.ConnRef{ID: uint64(i + 1), Client: netip.AddrPortFrom(client, uint16(1024+i)), Server: server},
				key:      pairKey{client: client, server: server},
				start:    start,
				end:      end,
				endNS:    end.UnixNano(),
				startOrd: int64(rng.Intn(4*n)*4 + i%4),
				first:    analyze.Frame{Frame: int64(i + 1)},
				http:     true,
				doneAt:   done,
				closer:   -1,
			}
			p.process(nil, c)
			ref.process(cfg, c)
			e := p.tab.m[c.key]
			if e == nil {
				t.Fatalf("seed %d: pair gone", seed)
			}
			got := e.val
			want := fmt.Sprintf("total %d peak %d at %v/%d frame %d refs %v", ref.total, ref.peak, ref.at.UnixNano(), ref.atOrd, ref.frame.Frame, refIDs(ref.refs))
			have := fmt.Sprintf("total %d peak %d at %v/%d frame %d refs %v", got.total, got.peak, got.at.UnixNano(), got.atOrd, got.frame.Frame, refIDs(got.refs))
			if have != want {
				t.Fatalf("seed %d record %d:\n got %s\nwant %s", seed, i, have, want)
			}
			if len(got.ivs) != len(ref.ivs) {
				t.Fatalf("seed %d record %d: %d stored, want %d", seed, i, len(got.ivs), len(ref.ivs))
			}
			for k, j := range ref.ivs {
				if got.info[k].ref.ID != j.ref.ID || got.ivs[k].open != j.open {
					t.Fatalf("seed %d record %d: stored %d is conn %d open %d, want conn %d open %d", seed, i, k, got.info[k].ref.ID, got.ivs[k].open, j.ref.ID, j.open)
				}
			}
		}
		if ref.peak <= cfg.ParallelMax {
			t.Logf("seed %d: peak %d never above the limit", seed, ref.peak)
		}
	}
}

func refIDs(rs []analyze.ConnRef) []uint64 {
	var ids []uint64
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return slices.Clip(ids)
}
