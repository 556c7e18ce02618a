package pipeline

import (
	"fmt"
	"strings"
)

// Kind is what an action does: a forward or a backward pass of one
// micro-batch through one stage.
type Kind uint8

// The action kinds.
const (
	Forward Kind = iota
	Backward
)

func (k Kind) String() string {
	if k == Forward {
		return "F"
	}
	return "B"
}

// Action is one step of a rank's schedule: the forward or backward pass of
// micro-batch Micro through the rank's model chunk Chunk (its virtual
// stage; global stage Chunk·P + rank).
type Action struct {
	Kind  Kind
	Micro int
	Chunk int
}

// String is "F3" (micro-batch 3 forward) or, for a chunk other than 0 of an
// interleaved schedule, "B3.1" (micro-batch 3 backward through chunk 1).
func (a Action) String() string {
	if a.Chunk == 0 {
		return fmt.Sprintf("%v%d", a.Kind, a.Micro)
	}
	return fmt.Sprintf("%v%d.%d", a.Kind, a.Micro, a.Chunk)
}

// Schedule is a pipeline schedule as data: the ordered actions of each of
// P ranks for M micro-batches and V model chunks (virtual stages) per rank.
// Rank r holds the global stages r, r+P, ..., r+(V−1)·P of the S = P·V
// stages; micro-batch i's forward runs through stages 0..S−1 in order and
// its backward through S−1..0.
type Schedule struct {
	Name    string
	P, M, V int
	Actions [][]Action // Actions[rank], in execution order
}

// Stages is the number of (virtual) stages, P·V.
func (s *Schedule) Stages() int { return s.P * s.V }

// Stage returns the global stage of chunk on rank.
func (s *Schedule) Stage(rank, chunk int) int { return chunk*s.P + rank }

// RankOf returns the rank that holds global stage st.
func (s *Schedule) RankOf(st int) int { return st % s.P }

// String prints one line per rank, e.g. "rank 0: F0 F1 B0 B1".
func (s *Schedule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s p=%d m=%d v=%d\n", s.Name, s.P, s.M, s.V)
	for r, acts := range s.Actions {
		fmt.Fprintf(&b, "rank %d:", r)
		for _, a := range acts {
			b.WriteByte(' ')
			b.WriteString(a.String())
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Formula is the bubble fraction the papers give for the schedule:
// (p−1)/(m+p−1) for GPipe and 1F1B, (p−1)/(v·m+p−1) interleaved (the
// share of the wall time a rank idles when every chunk's forward takes the
// same time and every backward the same time).
func (s *Schedule) Formula() float64 { return BubbleFormula(s.P, s.M, s.V) }

// BubbleFormula is (p−1)/(v·m+p−1).
func BubbleFormula(p, m, v int) float64 {
	return float64(p-1) / float64(v*m+p-1)
}

func checkPM(name string, p, m, v int) error {
	if p < 1 || m < 1 || v < 1 {
		return fmt.Errorf("pipeline: %s: p=%d, m=%d, v=%d: each must be at least 1", name, p, m, v)
	}
	return nil
}

// GPipe is the GPipe schedule: every rank runs the forward passes of all m
// micro-batches, then their backward passes (in the same order). Each rank
// holds the activations of all m micro-batches at its peak. Any m ≥ 1 works.
func GPipe(p, m int) (*Schedule, error) {
	if err := checkPM("GPipe", p, m, 1); err != nil {
		return nil, err
	}
	s := &Schedule{Name: "gpipe", P: p, M: m, V: 1, Actions: make([][]Action, p)}
	for r := range p {
		for i := range m {
			s.Actions[r] = append(s.Actions[r], Action{Kind: Forward, Micro: i})
		}
		for i := range m {
			s.Actions[r] = append(s.Actions[r], Action{Kind: Backward, Micro: i})
		}
	}
	return s, nil
}

// OneFOneB is the 1F1B schedule of PipeDream-Flush (and Megatron-LM): rank
// r runs min(p−r−1, m) warm-up forward passes, then alternates one forward
// and one backward, then drains the remaining backward passes. It has
// GPipe's bubble but holds at most min(p−r, m) micro-batches' activations
// on rank r. Any m ≥ 1 works (with m < p the warm-up is shorter).
func OneFOneB(p, m int) (*Schedule, error) {
	if err := checkPM("1F1B", p, m, 1); err != nil {
		return nil, err
	}
	s := &Schedule{Name: "1f1b", P: p, M: m, V: 1, Actions: make([][]Action, p)}
	for r := range p {
		warm := min(p-r-1, m)
		acts := make([]Action, 0, 2*m)
		for i := range warm {
			acts = append(acts, Action{Kind: Forward, Micro: i})
		}
		for i := range m - warm {
			acts = append(acts, Action{Kind: Forward, Micro: warm + i}, Action{Kind: Backward, Micro: i})
		}
		for i := m - warm; i < m; i++ {
			acts = append(acts, Action{Kind: Backward, Micro: i})
		}
		s.Actions[r] = acts
	}
	return s, nil
}

// Interleaved is Megatron-LM's interleaved 1F1B schedule with v model
// chunks per rank: micro-batches go through the chunks in groups of p, so
// the bubble shrinks to (p−1)/(v·m+p−1) at v times the point-to-point
// traffic. m must be a multiple of p (as in Megatron-LM); v = 1 is 1F1B.
func Interleaved(p, m, v int) (*Schedule, error) {
	if err := checkPM("interleaved", p, m, v); err != nil {
		return nil, err
	}
	if m%p != 0 {
		return nil, fmt.Errorf("pipeline: interleaved: m=%d micro-batches must be a multiple of p=%d", m, p)
	}
	total := m * v
	// The k-th forward (backward) of a rank: micro-batches advance in
	// groups of p through the chunks (backward through them in reverse).
	at := func(k int, kind Kind) Action {
		inGroup := k % (p * v)
		chunk := inGroup / p
		if kind == Backward {
			chunk = v - 1 - chunk
		}
		return Action{Kind: kind, Micro: (k/(p*v))*p + k%p, Chunk: chunk}
	}
	s := &Schedule{Name: "interleaved", P: p, M: m, V: v, Actions: make([][]Action, p)}
	for r := range p {
		warm := total
		if m != p {
			warm = min((p-r-1)*2+(v-1)*p, total)
		}
		acts := make([]Action, 0, 2*total)
		for k := range warm {
			acts = append(acts, at(k, Forward))
		}
		for k := range total - warm {
			acts = append(acts, at(warm+k, Forward), at(k, Backward))
		}
		for k := total - warm; k < total; k++ {
			acts = append(acts, at(k, Backward))
		}
		s.Actions[r] = acts
	}
	return s, nil
}

// ByName returns the schedule called name ("gpipe", "1f1b" or
// "interleaved"; v is used by "interleaved" only).
func ByName(name string, p, m, v int) (*Schedule, error) {
	switch name {
	case "gpipe":
		return GPipe(p, m)
	case "1f1b":
		return OneFOneB(p, m)
	case "interleaved":
		return Interleaved(p, m, v)
	}
	return nil, fmt.Errorf("pipeline: unknown schedule %q (gpipe, 1f1b, interleaved)", name)
}
