package optim

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// RMSProp with its terms in one cached temporary gives the bits of the
// form that allocates every term, for every option, over several steps
// (the temporary comes back dirty from the previous parameter).
func TestRMSPropScratchSameBits(t *testing.T) {
	g := tensor.NewGenerator(5)
	for _, o := range []Options{
		{LR: 1e-2, Alpha: 0.99, Eps: 1e-8},
		{LR: 1e-2, Alpha: 0.9, Eps: 1e-6, WeightDecay: 0.1},
		{LR: 3e-3, Alpha: 0.99, Eps: 1e-8, Momentum: 0.9},
		{LR: 3e-3, Alpha: 0.95, Eps: 1e-8, Momentum: 0.5, Centered: true, WeightDecay: 0.01},
		{LR: 3e-3, Alpha: 0, Eps: 1e-8, Centered: true},
	} {
		for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
			for _, n := range []int{7, 40, 3000} {
				w1 := g.Normal(0, 1, dt, n)
				w2 := w1.Clone()
				s1 := &paramState{bufs: map[string]*tensor.Tensor{}}
				s2 := &paramState{bufs: map[string]*tensor.Tensor{}}
				for range 4 {
					gr := g.Normal(0, 1, dt, n)
					rmsprop(&o, w1, gr, s1)
					rmspropAlloc(&o, w2, gr, s2)
					require.Equal(t, w2.Float64s(), w1.Float64s(), "%+v %v n=%d", o, dt, n)
					for k, b := range s2.bufs {
						require.Equal(t, b.Float64s(), s1.bufs[k].Float64s(), "buffer %s", k)
					}
				}
			}
		}
	}
}

// The optimizers' steps on small parameters (the tiny-MLP sizes) allocate
// nothing (SGD, with or without momentum; Adam) or a few closures per
// parameter (RMSProp: 12 and 18 measured for 6 parameters).
func TestSmallStepAllocs(t *testing.T) {
	for _, c := range []struct {
		k     Kind
		o     Options
		bound float64
	}{
		{KindSGD, Options{LR: 1e-3}, 0},
		{KindSGD, Options{LR: 1e-3, Momentum: 0.9, WeightDecay: 1e-4}, 0},
		{KindAdam, Options{LR: 1e-3}, 0},
		{KindRMSProp, Options{LR: 1e-3}, 16},
		{KindRMSProp, Options{LR: 1e-3, Centered: true, Momentum: 0.9}, 24},
	} {
		g := tensor.NewGenerator(1)
		var ps []*autograd.Var
		for _, sh := range [][]int{{40, 1}, {40}, {40, 40}, {40}, {1, 40}, {1}} {
			p := autograd.Param(g.Normal(0, 0.05, tensor.Float32, sh...))
			p.SetGrad(g.Normal(0, 1, tensor.Float32, sh...))
			ps = append(ps, p)
		}
		opt := New(c.k, ps, c.o)
		require.NoError(t, opt.Step())
		n := testing.AllocsPerRun(20, func() { _ = opt.Step() })
		require.LessOrEqual(t, n, c.bound, "%v %+v", c.k, c.o)
	}
}
