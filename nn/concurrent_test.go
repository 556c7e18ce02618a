package nn

import (
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// TestLinearConcurrentBackward runs the backward passes of eight graphs at
// once through one shared Linear (float32, so the fused GEMM writes into the
// parameters' zeroed gradient buffers) and compares the accumulated weight
// and bias gradients with a float64 sum of the per-graph gradients. Run it
// with -race: before the fix the zeroed buffer was handed to every pass and
// written by all of them at once.
func TestLinearConcurrentBackward(t *testing.T) {
	const workers, batch, in, out = 8, 16, 5, 17
	g := gen()
	l := NewLinear(g, in, out, true)
	xs := make([]*tensor.Tensor, workers)
	ps := make([]*tensor.Tensor, workers)
	for i := range xs {
		xs[i] = g.Normal(0, 1, tensor.Float32, batch, in)
		ps[i] = g.Normal(0, 1, tensor.Float32, batch, out)
	}
	// float64 reference: loss_i = Σ p_i ⊙ (x_i Wᵀ + b), so dW = Σ_i p_iᵀ x_i
	// and db = Σ_i Σ_rows p_i.
	wantW := make([]float64, out*in)
	wantB := make([]float64, out)
	for i := range xs {
		x, p := xs[i].Float64s(), ps[i].Float64s()
		for r := range batch {
			for o := range out {
				wantB[o] += p[r*out+o]
				for k := range in {
					wantW[o*in+k] += p[r*out+o] * x[r*in+k]
				}
			}
		}
	}
	for round := range 4 {
		// After the first round the gradients are owned buffers that
		// ZeroGrad only marks as zero: the buffer-writing path.
		if round > 0 {
			l.Weight.ZeroGrad()
			l.Bias.ZeroGrad()
		}
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				y := l.Forward(autograd.Constant(xs[i]))
				errs[i] = autograd.Sum(autograd.Mul(y, autograd.Constant(ps[i])), false).Backward()
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		check := func(name string, got *tensor.Tensor, want []float64) {
			require.NotNil(t, got, name)
			gv := got.Float64s()
			for j := range want {
				w := want[j]
				require.LessOrEqual(t, math.Abs(gv[j]-w), 1e-4*(1+math.Abs(w)), "round %d %s[%d]: got %v want %v", round, name, j, gv[j], w)
			}
		}
		check("weight", l.Weight.Grad(), wantW)
		check("bias", l.Bias.Grad(), wantB)
	}
}
