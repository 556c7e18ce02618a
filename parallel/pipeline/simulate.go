package pipeline

import (
	"fmt"
	"slices"
)

// Costs are the durations the simulator gives each action (in any unit):
// one chunk's forward and backward pass of one micro-batch, and the time a
// point-to-point transfer between two ranks takes (none within a rank).
type Costs struct {
	Forward, Backward, Comm float64
}

// Slot is one simulated (or measured) action on a rank's timeline.
type Slot struct {
	Action     Action
	Start, End float64
}

// Sim is the result of simulating a schedule.
type Sim struct {
	Slots    [][]Slot // Slots[rank], in execution order
	Makespan float64  // the end of the last action
	// Bubble is the idle share of the ranks' time: 1 − Σ busy / (P·Makespan).
	Bubble float64
	// Peak is, per rank, the largest number of (micro-batch, chunk) pairs
	// whose forward has run and backward has not: the activations held.
	Peak []int
}

// PeakMax is the largest of Peak.
func (s *Sim) PeakMax() int { return slices.Max(s.Peak) }

// Validate checks that s is a complete, runnable schedule: every rank runs
// the forward and the backward of every (micro-batch, chunk) exactly once,
// and the ranks' orders can run together without waiting on each other
// forever.
func (s *Schedule) Validate() error {
	_, err := Simulate(s, Costs{Forward: 1, Backward: 2})
	return err
}

// Simulate runs the schedule on a model of the pipeline where each action
// takes its cost and starts as soon as its rank is free and its input is
// there: a forward needs the previous stage's forward of the micro-batch, a
// backward the next stage's backward and its own stage's forward. It
// returns an error for a schedule that is incomplete or would deadlock.
func Simulate(s *Schedule, c Costs) (*Sim, error) {
	if s.P < 1 || s.M < 1 || s.V < 1 || len(s.Actions) != s.P {
		return nil, fmt.Errorf("pipeline: schedule %q: p=%d m=%d v=%d with %d ranks of actions", s.Name, s.P, s.M, s.V, len(s.Actions))
	}
	S := s.Stages()
	// done[kind][micro*S+stage] is the end time, or -1.
	var done [2][]float64
	for k := range done {
		done[k] = make([]float64, s.M*S)
		for i := range done[k] {
			done[k][i] = -1
		}
	}
	seen := make([]int, 2*s.M*S)
	for r, acts := range s.Actions {
		if len(acts) != 2*s.M*s.V {
			return nil, fmt.Errorf("pipeline: schedule %q: rank %d has %d actions, want %d", s.Name, r, len(acts), 2*s.M*s.V)
		}
		for _, a := range acts {
			if a.Micro < 0 || a.Micro >= s.M || a.Chunk < 0 || a.Chunk >= s.V || a.Kind > Backward {
				return nil, fmt.Errorf("pipeline: schedule %q: rank %d: bad action %v", s.Name, r, a)
			}
			i := int(a.Kind)*s.M*S + a.Micro*S + s.Stage(r, a.Chunk)
			if seen[i]++; seen[i] > 1 {
				return nil, fmt.Errorf("pipeline: schedule %q: rank %d runs %v twice", s.Name, r, a)
			}
		}
	}
	sim := &Sim{Slots: make([][]Slot, s.P), Peak: make([]int, s.P)}
	next := make([]int, s.P)
	free := make([]float64, s.P)
	held := make([]int, s.P)
	busy := 0.0
	for left := 2 * s.M * S; left > 0; {
		progress := false
		for r := range s.P {
			for next[r] < len(s.Actions[r]) {
				a := s.Actions[r][next[r]]
				st := s.Stage(r, a.Chunk)
				ready, ok := free[r], true
				dep := func(kind Kind, stage int) {
					t := done[kind][a.Micro*S+stage]
					if t < 0 {
						ok = false
						return
					}
					if s.RankOf(stage) != r {
						t += c.Comm
					}
					ready = max(ready, t)
				}
				cost := c.Forward
				if a.Kind == Forward {
					if st > 0 {
						dep(Forward, st-1)
					}
				} else {
					cost = c.Backward
					dep(Forward, st)
					if st < S-1 {
						dep(Backward, st+1)
					}
				}
				if !ok {
					break
				}
				end := ready + cost
				done[a.Kind][a.Micro*S+st] = end
				free[r] = end
				busy += cost
				sim.Slots[r] = append(sim.Slots[r], Slot{Action: a, Start: ready, End: end})
				if a.Kind == Forward {
					held[r]++
					sim.Peak[r] = max(sim.Peak[r], held[r])
				} else {
					held[r]--
				}
				sim.Makespan = max(sim.Makespan, end)
				next[r]++
				left--
				progress = true
			}
		}
		if !progress {
			var stuck []string
			for r := range s.P {
				if next[r] < len(s.Actions[r]) {
					stuck = append(stuck, fmt.Sprintf("rank %d at %v", r, s.Actions[r][next[r]]))
				}
			}
			return nil, fmt.Errorf("pipeline: schedule %q deadlocks: %v", s.Name, stuck)
		}
	}
	if sim.Makespan > 0 {
		sim.Bubble = 1 - busy/(float64(s.P)*sim.Makespan)
	}
	return sim, nil
}
