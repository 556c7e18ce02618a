package pipeline_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/parallel/pipeline"
)

// TestSimulatedBubbleIsTheFormula: with equal chunks, the simulated idle
// share of every schedule is (p−1)/(v·m+p−1) for any forward/backward cost
// ratio.
func TestSimulatedBubbleIsTheFormula(t *testing.T) {
	for _, p := range []int{1, 2, 3, 4, 8} {
		for _, m := range []int{1, 2, 3, 4, 8, 16} {
			for _, name := range []string{"gpipe", "1f1b", "interleaved"} {
				for _, v := range []int{1, 2, 3, 4} {
					if name != "interleaved" && v > 1 {
						continue
					}
					s, err := pipeline.ByName(name, p, m, v)
					if name == "interleaved" && m%p != 0 {
						require.Error(t, err)
						continue
					}
					require.NoError(t, err)
					for _, c := range []pipeline.Costs{{Forward: 1, Backward: 2}, {Forward: 1, Backward: 1}, {Forward: 2, Backward: 5}} {
						sim, err := pipeline.Simulate(s, c)
						require.NoError(t, err)
						assert.InDelta(t, s.Formula(), sim.Bubble, 1e-12, "%s p=%d m=%d v=%d %+v", name, p, m, v, c)
						busy := float64(m*v) * (c.Forward + c.Backward)
						assert.InDelta(t, busy/(1-s.Formula()), sim.Makespan, 1e-9)
					}
				}
			}
		}
	}
}

// TestPeakActivations: GPipe holds all m micro-batches on every rank;
// 1F1B at most min(p−r, m) on rank r, so never more than p.
func TestPeakActivations(t *testing.T) {
	for _, p := range []int{2, 4, 8} {
		for _, m := range []int{1, 3, 4, 8, 16} {
			g, err := pipeline.GPipe(p, m)
			require.NoError(t, err)
			sg, err := pipeline.Simulate(g, pipeline.Costs{Forward: 1, Backward: 2})
			require.NoError(t, err)
			f, err := pipeline.OneFOneB(p, m)
			require.NoError(t, err)
			sf, err := pipeline.Simulate(f, pipeline.Costs{Forward: 1, Backward: 2})
			require.NoError(t, err)
			for r := range p {
				assert.Equal(t, m, sg.Peak[r])
				assert.Equal(t, min(p-r, m), sf.Peak[r], "1f1b p=%d m=%d rank %d", p, m, r)
			}
			assert.LessOrEqual(t, sf.PeakMax(), p)
		}
	}
}

func TestScheduleString(t *testing.T) {
	s, err := pipeline.OneFOneB(3, 4)
	require.NoError(t, err)
	assert.Equal(t, "1f1b p=3 m=4 v=1\n"+
		"rank 0: F0 F1 F2 B0 F3 B1 B2 B3\n"+
		"rank 1: F0 F1 B0 F2 B1 F3 B2 B3\n"+
		"rank 2: F0 B0 F1 B1 F2 B2 F3 B3\n", s.String())
	g, err := pipeline.GPipe(2, 2)
	require.NoError(t, err)
	assert.Equal(t, "gpipe p=2 m=2 v=1\nrank 0: F0 F1 B0 B1\nrank 1: F0 F1 B0 B1\n", g.String())
	i, err := pipeline.Interleaved(2, 2, 2)
	require.NoError(t, err)
	assert.Equal(t, "interleaved p=2 m=2 v=2\n"+
		"rank 0: F0 F1 F0.1 F1.1 B0.1 B1.1 B0 B1\n"+
		"rank 1: F0 F1 F0.1 F1.1 B0.1 B1.1 B0 B1\n", i.String())
	for _, s := range []*pipeline.Schedule{s, g, i} {
		require.NoError(t, s.Validate())
	}
}

// TestValidateRejectsBadSchedules: a deadlocking order, a missing or a
// repeated action are errors.
func TestValidateRejectsBadSchedules(t *testing.T) {
	s, err := pipeline.GPipe(2, 2)
	require.NoError(t, err)
	// Rank 1 wants micro-batch 1's backward before its forward.
	s.Actions[1] = []pipeline.Action{{Kind: pipeline.Forward, Micro: 0}, {Kind: pipeline.Backward, Micro: 1}, {Kind: pipeline.Forward, Micro: 1}, {Kind: pipeline.Backward, Micro: 0}}
	assert.ErrorContains(t, s.Validate(), "deadlocks")
	s.Actions[1] = s.Actions[1][:3]
	assert.ErrorContains(t, s.Validate(), "has 3 actions")
	s.Actions[1] = []pipeline.Action{{Kind: pipeline.Forward, Micro: 0}, {Kind: pipeline.Forward, Micro: 0}, {Kind: pipeline.Backward, Micro: 1}, {Kind: pipeline.Backward, Micro: 0}}
	assert.ErrorContains(t, s.Validate(), "twice")
	_, err = pipeline.ByName("zigzag", 2, 2, 1)
	assert.ErrorContains(t, err, "unknown schedule")
	_, err = pipeline.Interleaved(4, 6, 2)
	assert.ErrorContains(t, err, "multiple of p=4")
	_, err = pipeline.GPipe(0, 2)
	assert.Error(t, err)
}

// TestInterleavedBeatsOneFOneB: more chunks per rank shrink the bubble.
func TestInterleavedBeatsOneFOneB(t *testing.T) {
	prev := 1.0
	for v := 1; v <= 4; v++ {
		s, err := pipeline.Interleaved(4, 8, v)
		require.NoError(t, err)
		sim, err := pipeline.Simulate(s, pipeline.Costs{Forward: 1.0 / float64(v), Backward: 2.0 / float64(v)})
		require.NoError(t, err)
		assert.Less(t, sim.Bubble, prev, fmt.Sprint("v=", v))
		prev = sim.Bubble
	}
}
