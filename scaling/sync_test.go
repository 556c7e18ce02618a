package scaling

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

func TestExpectedMaxExact(t *testing.T) {
	// Two equally likely values: the max of two draws is 2 unless both are 1.
	assert.InDelta(t, 0.25*1+0.75*2, ExpectedMax([]float64{2, 1}, 2), 1e-12)
	assert.InDelta(t, 1.5, ExpectedMax([]float64{2, 1}, 1), 1e-12, "n = 1: the mean")
	assert.InDelta(t, 3.0, ExpectedMax([]float64{3, 3, 3}, 7), 1e-12)
	assert.Panics(t, func() { ExpectedMax(nil, 2) })
	assert.Panics(t, func() { ExpectedMax([]float64{1}, 0) })
}

// ExpectedMax of samples from known distributions recovers the known
// expected maxima: n/(n+1) for the uniform on [0, 1], the harmonic number
// H_n for the exponential of mean 1.
func TestExpectedMaxRecoversKnownDistributions(t *testing.T) {
	g := tensor.NewGenerator(3)
	const m = 40000
	u := g.Uniform(0, 1, tensor.Float64, m).Float64s()
	e := make([]float64, m)
	for i, x := range g.Uniform(0, 1, tensor.Float64, m).Float64s() {
		e[i] = -math.Log(1 - x)
	}
	h := 0.0
	for n := 1; n <= 16; n++ {
		h += 1 / float64(n)
		assert.InDelta(t, float64(n)/float64(n+1), ExpectedMax(u, n), 0.01, "uniform, n=%d", n)
		assert.InEpsilon(t, h, ExpectedMax(e, n), 0.03, "exponential, n=%d", n)
	}
}

// A simulated synchronisation calibration: every step the barrier releases
// p ranks after a common delay U(0, 5) (the machine's load: it moves every
// rank of the step alike), each rank starts late by U(0, 0.2) and computes
// for U(0.6, 1.4) (mean 1). SyncFactor(p) − 1 from the step-centred
// arrivals matches the known E[max] − E[mean] of the simulation (computed
// from a much larger independent simulation) and the direct within-step
// estimate; the common delay adds nothing.
func TestSyncFactorRecoversSimulatedStraggle(t *testing.T) {
	g := tensor.NewGenerator(11)
	sim := func(p, steps int) (start, end [][]float64) {
		for range steps {
			s := g.Uniform(0, 0.2, tensor.Float64, p).Float64s()
			c := g.Uniform(0.6, 1.4, tensor.Float64, p).Float64s()
			common := g.Uniform(0, 5, tensor.Float64, 1).Item()
			e := make([]float64, p)
			for r := range p {
				s[r] += 100 + common // any common clock
				e[r] = s[r] + c[r]
			}
			start, end = append(start, s), append(end, e)
		}
		return start, end
	}
	for _, p := range []int{2, 4, 8} {
		start, end := sim(p, 3000)
		m := CostModel{Straggler: Arrivals(start, end)}
		bs, be := sim(p, 200000)
		truth := WithinStep(bs, be)
		assert.InDelta(t, truth, m.SyncFactor(p)-1, 0.02, "p=%d", p)
		assert.InDelta(t, truth, WithinStep(start, end), 0.02, "p=%d", p)
		assert.Greater(t, m.SyncFactor(p), 1.0)
	}
	// Without a start delay and with the uniform compute U(0.6, 1.4), the
	// straggle is known in closed form: 0.8·(p/(p+1) − 1/2).
	for _, p := range []int{2, 4} {
		var start, end [][]float64
		for range 5000 {
			c := g.Uniform(0.6, 1.4, tensor.Float64, p).Float64s()
			start, end = append(start, make([]float64, p)), append(end, c)
		}
		m := CostModel{Straggler: Arrivals(start, end)}
		assert.InDelta(t, 0.8*(float64(p)/float64(p+1)-0.5), m.SyncFactor(p)-1, 0.01, "p=%d", p)
	}
	assert.Equal(t, 1.0, CostModel{}.SyncFactor(4))
	assert.Equal(t, 1.0, CostModel{Straggler: []float64{0.5, 2}}.SyncFactor(1))
	assert.Panics(t, func() { Arrivals(nil, nil) })
	assert.Panics(t, func() { Arrivals([][]float64{{1, 2}}, [][]float64{{1}}) })
	assert.Panics(t, func() { Arrivals([][]float64{{1}}, [][]float64{{2}}) }, "one rank")
}

func TestStepStraggleAndServerLink(t *testing.T) {
	comp := Compute{Fixed: 0.004, PerSample: 0.0001, BackwardShare: 0.5, Optimizer: 0.001}
	l := Link{Alpha: 1e-5, Beta: 1e-9, Gamma: 1e-9}
	m := CostModel{Compute: comp, Link: l, Algorithm: Ring, GradBytes: 1e6, Straggler: []float64{0.5, 1.5}}
	// SyncFactor(2) = 1 + (0.25·0.5 + 0.75·1.5) − 1 = 1.25.
	require.InDelta(t, 1.25, m.SyncFactor(2), 1e-12)
	one, two := m.Step(1, 60), m.Step(2, 60)
	fb := 0.004 + 0.006
	assert.InDelta(t, fb, one.Forward+one.Backward, 1e-12)
	assert.Zero(t, one.Straggle)
	assert.InDelta(t, 1.25*fb, two.Forward+two.Backward, 1e-12)
	assert.InDelta(t, 0.25*fb, two.Straggle, 1e-12)
	assert.InDelta(t, two.Forward+two.Backward+two.Exposed+two.Optimizer, two.Total, 1e-12)

	// ServerLink replaces Link for the central server only.
	srv := Link{Alpha: 2e-6, Beta: 0.1e-9, Gamma: 0.2e-9}
	ps := CostModel{Compute: comp, Link: l, Algorithm: CentralPS, GradBytes: 1e6, ServerLink: srv}
	assert.InDelta(t, AllReduceCost(CentralPS, 4, 1e6).Time(srv), ps.CommTime(4), 1e-15)
	ps.ServerLink = Link{}
	assert.InDelta(t, AllReduceCost(CentralPS, 4, 1e6).Time(l), ps.CommTime(4), 1e-15)
	ring := CostModel{Compute: comp, Link: l, Algorithm: Ring, GradBytes: 1e6, ServerLink: srv}
	assert.InDelta(t, AllReduceCost(Ring, 4, 1e6).Time(l), ring.CommTime(4), 1e-15)
}

// Send-receive samples alone fit α and β (γ pinned at 0).
func TestFitLinkSendRecvOnly(t *testing.T) {
	truth := Link{Alpha: 5e-6, Beta: 0.1e-9}
	var ss []Sample
	for m := 16384.0; m <= 16<<20; m *= 4 {
		ss = append(ss, Sample{Op: "sendrecv", Ranks: 2, Bytes: m, Seconds: truth.Alpha + m*truth.Beta})
	}
	cal, err := FitLink("p2p", ss)
	require.NoError(t, err)
	assert.InEpsilon(t, truth.Alpha, cal.Alpha, 1e-6)
	assert.InEpsilon(t, truth.Beta, cal.Beta, 1e-6)
	assert.Zero(t, cal.Gamma)
}
