package scaling

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

func TestAllReduceCostFormulas(t *testing.T) {
	m := 1000.0
	// p = 4: ring 6 messages, 1.5·m each way counted once, 0.75·m reduced.
	assert.Equal(t, Cost{A: 6, B: 1500, G: 750}, AllReduceCost(Ring, 4, m))
	assert.Equal(t, Cost{A: 6, B: 1500, G: 750}, AllReduceCost(ShardedPS, 4, m))
	assert.Equal(t, Cost{A: 4, B: 1500, G: 750}, AllReduceCost(Rabenseifner, 4, m))
	assert.Equal(t, Cost{A: 4, B: 4000, G: 2000}, AllReduceCost(Tree, 4, m))
	assert.Equal(t, Cost{A: 2, B: 2000, G: 2000}, AllReduceCost(RecursiveDoubling, 4, m))
	assert.Equal(t, Cost{A: 6, B: 6000, G: 3000}, AllReduceCost(CentralPS, 4, m))
	// Non-powers of two round lg up; one rank costs nothing.
	assert.Equal(t, 3.0, AllReduceCost(RecursiveDoubling, 5, m).A)
	assert.Equal(t, Cost{}, AllReduceCost(Ring, 1, m))
	// The ring's bandwidth term approaches 2m: the bound of nccl-tests' busbw.
	assert.InDelta(t, 2*m, AllReduceCost(Ring, 1024, m).B, 2)
	l := Link{Alpha: 1e-6, Beta: 1e-9, Gamma: 1e-10}
	assert.InDelta(t, 6e-6+1500e-9+750e-10, AllReduceCost(Ring, 4, m).Time(l), 1e-15)
	assert.Panics(t, func() { AllReduceCost(Ring, 0, m) })
	for _, op := range []string{"allreduce", "allgather", "reducescatter", "broadcast", "sendrecv"} {
		_, err := CollectiveCost(op, Ring, 4, m)
		assert.NoError(t, err, op)
	}
	_, err := CollectiveCost("alltoall", Ring, 4, m)
	assert.Error(t, err)
	for i, n := range algorithmNames {
		a, err := ParseAlgorithm(n)
		require.NoError(t, err)
		assert.Equal(t, Algorithm(i), a)
		assert.Equal(t, n, a.String())
	}
	_, err = ParseAlgorithm("butterfly")
	assert.Error(t, err)
}

// FitLink recovers known α, β, γ from timings with 3 % multiplicative noise.
func TestFitLinkRecoversParameters(t *testing.T) {
	truth := Link{Alpha: 20e-6, Beta: 0.4e-9, Gamma: 0.15e-9}
	g := tensor.NewGenerator(5)
	var samples []Sample
	for _, op := range []string{"allreduce", "allgather", "reducescatter"} {
		for _, p := range []int{2, 4} {
			for m := 1024.0; m <= 64<<20; m *= 4 {
				c, err := CollectiveCost(op, Ring, p, m)
				require.NoError(t, err)
				noise := 1 + 0.03*g.Normal(0, 1, tensor.Float64, 1).Item()
				samples = append(samples, Sample{Op: op, Algorithm: Ring, Ranks: p, Bytes: m, Seconds: c.Time(truth) * noise})
			}
		}
	}
	cal, err := FitLink("synthetic", samples)
	require.NoError(t, err)
	t.Log(cal)
	assert.InEpsilon(t, truth.Alpha, cal.Alpha, 0.05)
	assert.InEpsilon(t, truth.Beta, cal.Beta, 0.05)
	assert.InEpsilon(t, truth.Gamma, cal.Gamma, 0.15)
	assert.Less(t, cal.RMSRel, 0.05)
	assert.Greater(t, cal.RMSRel, 0.005, "the noise shows in the fit error")
	for i := range 3 {
		assert.Greater(t, cal.StdErr[i], 0.0)
	}

	// All-reduce alone cannot tell β from γ: γ is pinned, β carries both.
	var ar []Sample
	for _, s := range samples {
		if s.Op == "allreduce" {
			ar = append(ar, s)
		}
	}
	cal, err = FitLink("ar", ar)
	require.NoError(t, err)
	assert.Equal(t, 0.0, cal.Gamma)
	assert.InEpsilon(t, truth.Beta+truth.Gamma/2, cal.Beta, 0.05)

	_, err = FitLink("few", samples[:1])
	assert.Error(t, err)
}

func TestFitCompute(t *testing.T) {
	var ss []StepSample
	for _, b := range []int{16, 32, 64, 128} {
		fb := 2e-3 + 0.1e-3*float64(b)
		ss = append(ss, StepSample{Batch: b, Forward: fb / 3, Backward: 2 * fb / 3, Optimizer: 1e-3})
	}
	c, err := FitCompute(ss)
	require.NoError(t, err)
	assert.InEpsilon(t, 2e-3, c.Fixed, 1e-6)
	assert.InEpsilon(t, 0.1e-3, c.PerSample, 1e-6)
	assert.InEpsilon(t, 2.0/3, c.BackwardShare, 1e-9)
	assert.InEpsilon(t, 1e-3, c.Optimizer, 1e-9)
	assert.Less(t, c.MaxRel, 1e-6)
	// Timings that fall with the batch pin the per-sample cost at 0.
	c, err = FitCompute([]StepSample{{Batch: 8, Forward: 3e-3}, {Batch: 16, Forward: 2.9e-3}, {Batch: 32, Forward: 2.8e-3}})
	require.NoError(t, err)
	assert.Equal(t, 0.0, c.PerSample)
	assert.InEpsilon(t, 2.9e-3, c.Fixed, 0.02)
	c, err = FitCompute(ss)
	require.NoError(t, err)
	s := c.Scale(2)
	assert.InEpsilon(t, 4e-3, s.Fixed, 1e-6)
}

func TestStepOverlapAndScaling(t *testing.T) {
	comp := Compute{PerSample: 1e-4, Fixed: 0, BackwardShare: 0.5, Optimizer: 1e-3}
	m := CostModel{Compute: comp, Link: Link{Alpha: 1e-4, Beta: 1e-9}, Algorithm: Ring, GradBytes: 8e6}
	// One rank: no communication.
	one := m.Step(1, 100)
	assert.InDelta(t, 5e-3, one.Forward, 1e-12)
	assert.InDelta(t, 5e-3, one.Backward, 1e-12)
	assert.InDelta(t, 11e-3, one.Total, 1e-12)
	assert.Equal(t, 0.0, one.Comm)

	// Without overlap the collective follows backward.
	comm := AllReduceCost(Ring, 4, 8e6).Time(m.Link)
	st := m.Step(4, 100)
	assert.InDelta(t, comm, st.Comm, 1e-15)
	assert.InDelta(t, comm, st.Exposed, 1e-15)
	assert.InDelta(t, 11e-3+comm, st.Total, 1e-12)

	// Four equal buckets with overlap: the first three hide behind backward.
	m.BucketBytes = []float64{2e6, 2e6, 2e6, 2e6}
	m.Overlap = true
	ov := m.Step(4, 100)
	c1 := AllReduceCost(Ring, 4, 2e6).Time(m.Link) // 6e-4 + 3e-3
	var done float64
	for i := 1; i <= 4; i++ {
		done = math.Max(done, 5e-3*float64(i)/4) + c1
	}
	assert.InDelta(t, done-5e-3, ov.Exposed, 1e-12)
	assert.Less(t, ov.Exposed, ov.Comm)
	m.Overlap = false
	assert.InDelta(t, 4*c1, m.Step(4, 100).Exposed, 1e-12)

	// CommScale stretches every collective.
	m.CommScale = 2
	assert.InDelta(t, 8*c1, m.Step(4, 100).Comm, 1e-12)
	m.CommScale = 0

	// Scaling: weak efficiency 1 without communication cost, strong
	// efficiency below 1 when the fixed cost does not shrink.
	free := CostModel{Compute: comp}
	s, e := free.SpeedUpWeak(8, 64)
	assert.InDelta(t, 8.0, s, 1e-9)
	assert.InDelta(t, 1.0, e, 1e-9)
	s, e = m.SpeedUpStrong(4, 512)
	assert.Less(t, e, 1.0)
	assert.InDelta(t, s/4, e, 1e-12)
	assert.Greater(t, s, 1.0)
	// A faster link never predicts a slower step.
	fast := m
	fast.Link = NVLink
	assert.Less(t, fast.Step(8, 64).Total, m.Step(8, 64).Total)
	assert.Panics(t, func() { m.Step(0, 1) })
	assert.Equal(t, 2.0, Oversubscription(4, 1, 2))
	assert.Equal(t, 1.0, Oversubscription(2, 1, 2))
}

// Overlap needs a free core: with every core busy in backward the bucketed
// collectives end as without overlap; with half the cores free they run at
// half speed during backward; with no core count (a dedicated engine) the
// previous schedule holds.
func TestOverlapOnlyWithSpareCores(t *testing.T) {
	l := Link{Alpha: 0, Beta: 1e-9} // ring, p = 2: 1 B sent per byte -> 1 ns/B
	comp := Compute{PerSample: 1e-3, BackwardShare: 0.5}
	m := CostModel{Compute: comp, Link: l, Algorithm: Ring, GradBytes: 4e6,
		BucketBytes: []float64{1e6, 1e6, 1e6, 1e6}, Overlap: true}
	// b = 16: forward 8 ms, backward 8 ms; each bucket 1 ms at p = 2, ready
	// at 2, 4, 6, 8 ms.
	dedicated := m.Step(2, 16)
	assert.InDelta(t, 8e-3+9e-3, dedicated.Total, 1e-12, "full speed: the last bucket ends 1 ms after backward")
	assert.Equal(t, 1.0, m.OverlapShare(2))

	m.Cores, m.Threads = 2, 1
	assert.Equal(t, 0.0, m.OverlapShare(2))
	busy := m.Step(2, 16)
	noOverlap := m
	noOverlap.Overlap = false
	assert.InDelta(t, noOverlap.Step(2, 16).Total, busy.Total, 1e-15)
	assert.InDelta(t, 8e-3+8e-3+4e-3, busy.Total, 1e-12)
	assert.InDelta(t, 4e-3, busy.Exposed, 1e-12)

	// 8 cores, 2 threads on each of 2 ranks: half the cores free, the
	// collectives at half speed during backward. Bucket 1: 2 -> 4 ms,
	// bucket 2: 4 -> 6, bucket 3: 6 -> 8, bucket 4 starts at 8 = end of
	// backward and takes 1 ms at full speed.
	m.Cores, m.Threads = 8, 2
	assert.Equal(t, 0.5, m.OverlapShare(2))
	half := m.Step(2, 16)
	assert.InDelta(t, 8e-3+9e-3, half.Total, 1e-12)
	// A bucket of 3 ms ready at 6 ms: 1 ms of it done by 8 ms, 2 ms after,
	// then the last bucket's 1 ms.
	m.BucketBytes = []float64{3e6, 1e6}
	assert.InDelta(t, 8e-3+11e-3, m.Step(2, 16).Total, 1e-12)
	m.Cores = 0
	assert.InDelta(t, 8e-3+10e-3, m.Step(2, 16).Total, 1e-12, "dedicated: 6 + 3 + 1 ms")
	assert.InDelta(t, 0.0, CostModel{Cores: 2, Threads: 0}.OverlapShare(4), 0)
	assert.InDelta(t, 0.75, CostModel{Cores: 16, Threads: 1}.OverlapShare(4), 0)
}

// The strategies' copies add CopyBytes·CopySecPerByte to every step, one
// rank included.
func TestCopiesAddToStep(t *testing.T) {
	m := CostModel{Compute: Compute{PerSample: 1e-3, BackwardShare: 0.5, Optimizer: 1e-3}, Link: Link{Beta: 1e-9},
		Algorithm: CentralPS, GradBytes: 4e6}
	base1, base4 := m.Step(1, 16), m.Step(4, 16)
	m.CopyBytes, m.CopySecPerByte = 3*4e6, 0.25e-9 // three passes over 4 MB at 4 GB/s
	one, four := m.Step(1, 16), m.Step(4, 16)
	assert.InDelta(t, 3e-3, one.Copy, 1e-15)
	assert.InDelta(t, base1.Total+3e-3, one.Total, 1e-15)
	assert.InDelta(t, base4.Total+3e-3, four.Total, 1e-15)
	assert.Equal(t, base4.Comm, four.Comm)
	assert.Equal(t, base4.Exposed, four.Exposed)
}
