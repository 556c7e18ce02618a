package pipeline

import (
	"math"
	"time"

	"github.com/tessera-ml/tessera/profiler"
)

// Measure builds the measured timeline of a step from the ranks' recorders
// (recs[r] is rank r's, filled by Options.Recorder): the compute spans of
// the actions, in seconds from the first span's start. Its Bubble is the
// ranks' idle share of the wall time, 1 − Σ busy / (P·wall), where wall
// runs from the first action's start to the last one's end on any rank and
// busy is the time a rank spent in its actions' spans (waits for transfers
// and the pipeline's own bookkeeping count as idle). Peak is the largest
// number of (micro-batch, chunk) activations each rank held.
func Measure(recs []*profiler.Recorder) *Sim {
	sim := &Sim{Slots: make([][]Slot, len(recs)), Peak: make([]int, len(recs))}
	t0 := time.Time{}
	var last time.Time
	for _, rec := range recs {
		for _, s := range rec.Spans() {
			if s.Lane != profiler.Compute || s.Args["kind"] == nil {
				continue
			}
			if t0.IsZero() || s.Start.Before(t0) {
				t0 = s.Start
			}
			if s.End.After(last) {
				last = s.End
			}
		}
	}
	if t0.IsZero() {
		return sim
	}
	busy := 0.0
	for r, rec := range recs {
		held := 0
		for _, s := range rec.Spans() {
			kind, _ := s.Args["kind"].(string)
			if s.Lane != profiler.Compute || kind == "" {
				continue
			}
			micro, _ := s.Args["micro"].(int)
			chunk, _ := s.Args["chunk"].(int)
			a := Action{Kind: Forward, Micro: micro, Chunk: chunk}
			if kind == Backward.String() {
				a.Kind = Backward
				held--
			} else {
				held++
				sim.Peak[r] = max(sim.Peak[r], held)
			}
			sl := Slot{Action: a, Start: s.Start.Sub(t0).Seconds(), End: s.End.Sub(t0).Seconds()}
			busy += sl.End - sl.Start
			sim.Slots[r] = append(sim.Slots[r], sl)
		}
	}
	sim.Makespan = last.Sub(t0).Seconds()
	if sim.Makespan > 0 {
		sim.Bubble = math.Max(0, 1-busy/(float64(len(recs))*sim.Makespan))
	}
	return sim
}
