package attack

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/robust"
	"github.com/tessera-ml/tessera/tensor"
)

func honest(seed uint64, h, d int) *tensor.Tensor {
	return tensor.NewGenerator(seed).Normal(1, 0.5, tensor.Float64, h, d)
}

func forge(t *testing.T, a Attack, in Input) *tensor.Tensor {
	t.Helper()
	out, err := a.Forge(in)
	require.NoError(t, err)
	require.Equal(t, tensor.Shape{in.F, in.Honest.Dim(1)}, out.Shape())
	return out
}

// TestMeanUnderSignFlipAndIPM: at n = 10, f = 2 the mean of 8 honest
// vectors and 2 sign-flipped ones is 0.6·μ (slowed, not reversed); under
// IPM it is (8 − 2ε)/10·μ, reversed only for ε > 4.
func TestMeanUnderSignFlipAndIPM(t *testing.T) {
	h := honest(1, 8, 6)
	mu := tensor.Mean(h, false, 0).Float64s()
	in := Input{Honest: h, N: 10, F: 2}
	for _, c := range []struct {
		a     Attack
		scale float64
	}{{SignFlip{}, 0.6}, {IPM{Eps: 0.5}, 0.7}, {IPM{Eps: 4}, 0}, {IPM{Eps: 10}, -1.2}} {
		byz := forge(t, c.a, in)
		m, _ := robust.Mean{}.Aggregate(tensor.Concat([]*tensor.Tensor{h, byz}, 0))
		for i, v := range m.Float64s() {
			assert.InDelta(t, c.scale*mu[i], v, 1e-12, "%s", c.a.Name())
		}
	}
}

func TestALIE(t *testing.T) {
	assert.InDelta(t, 0, ALIEZ(10, 2), 1e-15, "the formula gives no attack at n=10, f=2")
	assert.InDelta(t, 0.336038140371823, ALIEZ(50, 12), 1e-12) // Φ⁻¹(24/38), Python's NormalDist
	assert.InDelta(t, -0.06601181237584074, ALIEZ(20, 1), 1e-12)
	// μ − zσ on a hand case: columns (1,3) and (2,2): μ = (2,2), σ = (√2, 0)
	h := tensor.FromSlice([]float64{1, 2, 3, 2}, 2, 2)
	out := forge(t, ALIE{Z: 1.5}, Input{Honest: h, N: 3, F: 1})
	assert.InDeltaSlice(t, []float64{2 - 1.5*math.Sqrt2, 2}, out.Float64s(), 1e-15)
	assert.Equal(t, 1.5, ALIE{Z: 1.5}.ZFor(10, 2))
	assert.Equal(t, ALIEZ(50, 12), ALIE{Auto: true}.ZFor(50, 12))
}

func TestGaussianAndLabelFlip(t *testing.T) {
	h := honest(2, 5, 4000)
	out := forge(t, Gaussian{Sigma: 3}, Input{Honest: h, N: 7, F: 2, Gen: tensor.NewGenerator(9)})
	assert.InDelta(t, 3, tensor.Std(out, 1, false).Item(), 0.1) // 4 standard errors (8000 draws)
	assert.InDelta(t, 0, tensor.Mean(out, false).Item(), 0.14)
	lf := LabelFlip{}
	assert.Equal(t, int64(6), lf.Label(3, 10))
	assert.Equal(t, int64(9), lf.Label(0, 10))
	own := honest(3, 2, 4000)
	assert.Equal(t, own, forge(t, lf, Input{Honest: h, Own: own, N: 7, F: 2}))
	_, err := None{}.Forge(Input{Honest: h, Own: own, N: 8, F: 3})
	assert.Error(t, err)
}

// TestAdaptive: the adaptive attacker sends the scale that moves the rule
// farthest, and probing a stateful rule leaves its state alone.
func TestAdaptive(t *testing.T) {
	h := honest(4, 8, 10)
	mu := tensor.Mean(h, false, 0)
	for _, rule := range []robust.Aggregator{robust.Mean{}, robust.Median{F: 2}, robust.TrimmedMean{F: 2}, robust.Krum{F: 2}} {
		for _, base := range []string{"ipm", "alie"} {
			in := Input{Honest: h, N: 10, F: 2, Rule: rule}
			byz := forge(t, Adaptive{Base: base}, in)
			damage := func(b *tensor.Tensor) float64 {
				out, err := rule.Aggregate(tensor.Concat([]*tensor.Tensor{h, b}, 0))
				require.NoError(t, err)
				return tensor.Norm(tensor.Sub(out, mu), 2, false).Item()
			}
			got := damage(byz)
			for _, s := range DefaultScales {
				var fixed Attack = IPM{Eps: s}
				if base == "alie" {
					fixed = ALIE{Z: s}
				}
				assert.GreaterOrEqual(t, got, damage(forge(t, fixed, in))-1e-12, "%s %s scale %g", rule.Name(), base, s)
			}
		}
	}
	cc := &robust.CenteredClipping{F: 2, Tau: 0.5}
	x0 := tensor.Concat([]*tensor.Tensor{h, h.Narrow(0, 0, 2)}, 0)
	first, _ := cc.Aggregate(x0)
	ref := &robust.CenteredClipping{F: 2, Tau: 0.5}
	_, _ = ref.Aggregate(x0)
	forge(t, Adaptive{Base: "ipm"}, Input{Honest: h, N: 10, F: 2, Rule: cc})
	a, _ := cc.Aggregate(x0)
	b, _ := ref.Aggregate(x0)
	assert.Equal(t, b.Float64s(), a.Float64s())
	assert.NotEqual(t, first.Float64s(), a.Float64s()) // the centre did move between calls
	_, err := Adaptive{Base: "ipm"}.Forge(Input{Honest: h, N: 10, F: 2})
	assert.Error(t, err)
	// a diverged model (NaN vectors) still gets vectors, not an error
	hn := h.Clone()
	hn.Set(math.NaN(), 0, 0)
	forge(t, Adaptive{Base: "ipm"}, Input{Honest: hn, N: 10, F: 2, Rule: robust.Mean{}})
}

func TestByName(t *testing.T) {
	for _, n := range []string{"none", "signflip", "ipm", "alie", "gaussian", "labelflip", "adaptive-ipm", "adaptive-alie"} {
		a, err := ByName(n, 1, 1, 1)
		require.NoError(t, err)
		assert.Equal(t, n, a.Name())
	}
	a, _ := ByName("alie", 0, math.NaN(), 0)
	assert.True(t, a.(ALIE).Auto)
	_, err := ByName("x", 0, 0, 0)
	assert.Error(t, err)
}

func TestSplitIID(t *testing.T) {
	s, err := SplitIID(103, 10, rand.New(rand.NewPCG(1, 2)))
	require.NoError(t, err)
	var all []int
	for _, w := range s {
		assert.True(t, len(w) == 10 || len(w) == 11)
		all = append(all, w...)
	}
	slices.Sort(all)
	for i, v := range all {
		require.Equal(t, i, v)
	}
	_, err = SplitIID(5, 10, rand.New(rand.NewPCG(1, 2)))
	assert.Error(t, err)
}

// classEntropy is the mean over workers of the entropy of their label
// distribution (nats).
func classEntropy(labels []int64, s [][]int) float64 {
	tot := 0.0
	for _, w := range s {
		cnt := make([]float64, 10)
		for _, i := range w {
			cnt[labels[i]]++
		}
		for _, c := range cnt {
			if c > 0 {
				p := c / float64(len(w))
				tot -= p * math.Log(p)
			}
		}
	}
	return tot / float64(len(s))
}

func TestSplitDirichlet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	labels := make([]int64, 2000)
	for i := range labels {
		labels[i] = int64(i % 10)
	}
	skew, err := SplitDirichlet(labels, 10, 10, 0.1, 5, rng)
	require.NoError(t, err)
	near, err := SplitDirichlet(labels, 10, 10, 1000, 5, rng)
	require.NoError(t, err)
	for _, s := range [][][]int{skew, near} {
		var all []int
		for _, w := range s {
			assert.GreaterOrEqual(t, len(w), 5)
			all = append(all, w...)
		}
		slices.Sort(all)
		require.Len(t, all, 2000)
		for i, v := range all {
			require.Equal(t, i, v)
		}
	}
	iid, _ := SplitIID(2000, 10, rng)
	hSkew, hNear, hIID := classEntropy(labels, skew), classEntropy(labels, near), classEntropy(labels, iid)
	assert.Less(t, hSkew, 0.6*hIID, "alpha=0.1 concentrates classes")
	assert.InDelta(t, hIID, hNear, 0.05, "alpha=1000 is near IID")
	assert.InDelta(t, math.Log(10), hIID, 0.05)
}

// TestDirichletMoments: E[p_i] = 1/n and Var[p_i] = (1/n)(1−1/n)/(nα+1).
func TestDirichletMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, alpha := range []float64{0.3, 2} {
		const n, draws = 4, 40000
		var s, s2 float64
		for range draws {
			p := Dirichlet(alpha, n, rng)
			s += p[0]
			s2 += p[0] * p[0]
		}
		m := s / draws
		v := s2/draws - m*m
		want := (1.0 / n) * (1 - 1.0/n) / (n*alpha + 1)
		assert.InDelta(t, 0.25, m, 0.01, "alpha %g", alpha)
		assert.InDelta(t, want, v, 0.05*want, "alpha %g", alpha)
	}
}
