package amp

import (
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// unitRoundoff is u = 2^-(p) for a format with p-1 stored fraction bits:
// rounding to nearest changes a value by at most a factor (1 ± u).
func unitRoundoff(dt tensor.DType) float64 {
	switch dt {
	case tensor.BFloat16:
		return math.Ldexp(1, -8) // 7 fraction bits
	case tensor.Float16:
		return math.Ldexp(1, -11) // 10 fraction bits
	}
	return math.Ldexp(1, -24)
}

func TestAutocastClasses(t *testing.T) {
	g := tensor.NewGenerator(1)
	lin := nn.NewLinear(g, 5, 4, true)
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 3, 5))
	y := tensor.FromSlice([]int64{0, 3, 1}, 3)
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		var out, sm, loss, mean *autograd.Var
		Autocast(Policy{DType: dt}, func() {
			out = lin.Forward(x)
			sm = autograd.Softmax(out, -1)
			loss = nn.CrossEntropy(out, y)
			mean = autograd.Mean(out, false)
		})
		assert.Equal(t, dt, out.DType(), "Linear runs in %s", dt)
		assert.Equal(t, tensor.Float32, sm.DType(), "Softmax runs in float32")
		assert.Equal(t, tensor.Float32, loss.DType(), "losses run in float32")
		assert.Equal(t, tensor.Float32, mean.DType(), "reductions run in float32")
		assert.Equal(t, tensor.Float32, lin.Forward(x).DType(), "no autocast outside the scope")

		nn.ZeroGrad(lin)
		require.NoError(t, loss.Backward())
		assert.Equal(t, tensor.Float32, lin.Weight.Grad().DType(), "float32 parameters get float32 gradients")
		assert.Equal(t, tensor.Float32, lin.Bias.Grad().DType())

		f64 := autograd.Constant(x.Value().Cast(tensor.Float64))
		Autocast(Policy{DType: dt}, func() {
			assert.Equal(t, tensor.Float64, autograd.MatMul(f64, autograd.Constant(f64.Value().T())).DType(), "float64 is never cast")
			Autocast(Policy{DType: dt, Classes: map[string]Class{"autograd.Linear": Keep}}, func() {
				assert.Equal(t, tensor.Float32, lin.Forward(x).DType(), "an inner policy overrides")
			})
			assert.Equal(t, dt, lin.Forward(x).DType(), "the outer policy is back")
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				assert.Equal(t, tensor.Float32, lin.Forward(x).DType(), "another goroutine does not autocast")
			}()
			wg.Wait()
		})
	}
	err := tensor.Try(func() { Autocast(Policy{DType: tensor.Float64}, func() {}) })
	assert.Error(t, err)
}

// Backward passes keep the forward dtypes even when Backward is called
// inside the scope, and a checkpointed block recomputes in the policy of
// its forward pass.
func TestAutocastBackwardAndCheckpoint(t *testing.T) {
	g := tensor.NewGenerator(2)
	w := autograd.Param(g.Normal(0, 1, tensor.Float32, 6, 6))
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 4, 6))
	plain := func() *tensor.Tensor {
		w.SetGrad(nil)
		var loss *autograd.Var
		Autocast(Policy{DType: tensor.BFloat16}, func() {
			h := autograd.MatMul(x, w)
			loss = autograd.Sum(autograd.Square(h), false)
			require.NoError(t, loss.Backward())
		})
		return w.Grad()
	}
	g1 := plain()
	require.Equal(t, tensor.Float32, g1.DType())
	w.SetGrad(nil)
	var loss *autograd.Var
	Autocast(Policy{DType: tensor.BFloat16}, func() {
		h := autograd.Checkpoint(func(xs []*autograd.Var) *autograd.Var { return autograd.MatMul(xs[0], w) }, x)
		assert.Equal(t, tensor.BFloat16, h.DType())
		loss = autograd.Sum(autograd.Square(h), false)
	})
	require.NoError(t, loss.Backward())
	assert.Equal(t, g1.Float32s(), w.Grad().Float32s(), "the checkpoint recomputes in bfloat16")
}

// Low-precision Linear and Conv2d under autocast against a float64
// reference, with the error bound of the format: inputs rounded (u each),
// float32 accumulation, the result rounded (u), so |y - y64| <= 3u·Σ|x||w|
// (plus u·|b| for the bias; u is the unit roundoff, 2^-8 for bfloat16 and
// 2^-11 for float16). Gradients: the output gradient is rounded to the
// format (u), multiplied with rounded operands and rounded: 4u·Σ|g||x|.
// Each check also asserts that the error exceeds what float32 would make,
// so the op did run in low precision.
func TestAutocastLowPrecisionNumerics(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		u := unitRoundoff(dt)
		g := tensor.NewGenerator(11)
		const n, in, out = 16, 24, 8
		xt := g.Normal(0, 1, tensor.Float32, n, in)
		wt := g.Normal(0, 0.5, tensor.Float32, out, in)
		bt := g.Normal(0, 0.5, tensor.Float32, out)
		ct := g.Normal(0, 1, tensor.Float32, n, out)
		x, w, b := autograd.Param(xt), autograd.Param(wt), autograd.Param(bt)
		var y *autograd.Var
		Autocast(Policy{DType: dt}, func() { y = autograd.Linear(x, w, b) })
		require.Equal(t, dt, y.DType())
		require.NoError(t, autograd.Sum(autograd.Mul(y, autograd.Constant(ct)), false).Backward())

		X, W, B, C := xt.Float64s(), wt.Float64s(), bt.Float64s(), ct.Float64s()
		Y := y.Value().Float64s()
		maxRel := 0.0
		for i := range n {
			for o := range out {
				ref, mag := B[o], math.Abs(B[o])
				for k := range in {
					ref += X[i*in+k] * W[o*in+k]
					mag += math.Abs(X[i*in+k] * W[o*in+k])
				}
				err := math.Abs(Y[i*out+o] - ref)
				require.LessOrEqual(t, err, 3*u*mag+1e-7, "%s y[%d,%d]", dt, i, o)
				maxRel = max(maxRel, err/mag)
			}
		}
		assert.Greater(t, maxRel, 0.05*u, "%s: error of a low-precision op", dt)
		t.Logf("%s Linear: max |y - y64| / Σ|x||w| = %.3g u (bound 3u, u = %g)", dt, maxRel/u, u)

		GW, GX, GB := w.Grad().Float64s(), x.Grad().Float64s(), b.Grad().Float64s()
		for o := range out {
			for k := range in {
				ref, mag := 0.0, 0.0
				for i := range n {
					ref += C[i*out+o] * X[i*in+k]
					mag += math.Abs(C[i*out+o] * X[i*in+k])
				}
				require.LessOrEqual(t, math.Abs(GW[o*in+k]-ref), 4*u*mag+1e-7, "%s dW[%d,%d]", dt, o, k)
			}
			ref, mag := 0.0, 0.0
			for i := range n {
				ref += C[i*out+o]
				mag += math.Abs(C[i*out+o])
			}
			require.LessOrEqual(t, math.Abs(GB[o]-ref), 4*u*mag+1e-7, "%s dB[%d]", dt, o)
		}
		for i := range n {
			for k := range in {
				ref, mag := 0.0, 0.0
				for o := range out {
					ref += C[i*out+o] * W[o*in+k]
					mag += math.Abs(C[i*out+o] * W[o*in+k])
				}
				require.LessOrEqual(t, math.Abs(GX[i*in+k]-ref), 4*u*mag+1e-7, "%s dX[%d,%d]", dt, i, k)
			}
		}
	}
}

func TestAutocastConv2dNumerics(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		u := unitRoundoff(dt)
		g := tensor.NewGenerator(12)
		p := tensor.ConvParams{KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}
		xt := g.Normal(0, 1, tensor.Float32, 2, 3, 6, 6)
		wt := g.Normal(0, 0.3, tensor.Float32, 4, 3, 3, 3)
		x, w := autograd.Param(xt), autograd.Param(wt)
		var y *autograd.Var
		Autocast(Policy{DType: dt}, func() { y = autograd.Conv2d(x, w, nil, p, 1) })
		require.Equal(t, dt, y.DType())
		ref := tensor.Conv2d(xt.Cast(tensor.Float64), wt.Cast(tensor.Float64), nil, p, 1)
		mag := tensor.Conv2d(tensor.Abs(xt.Cast(tensor.Float64)), tensor.Abs(wt.Cast(tensor.Float64)), nil, p, 1)
		Y, R, M := y.Value().Float64s(), ref.Float64s(), mag.Float64s()
		maxRel := 0.0
		for i := range Y {
			require.LessOrEqual(t, math.Abs(Y[i]-R[i]), 3*u*M[i]+1e-7, "%s y[%d]", dt, i)
			maxRel = max(maxRel, math.Abs(Y[i]-R[i])/M[i])
		}
		assert.Greater(t, maxRel, 0.05*u)
		t.Logf("%s Conv2d: max |y - y64| / Σ|x||w| = %.3g u (bound 3u, u = %g)", dt, maxRel/u, u)

		// weight gradient of Σ y: Σ over positions of the input window.
		require.NoError(t, autograd.Sum(y, false).Backward())
		ones := tensor.Ones(tensor.Float64, y.Shape()...)
		gw, _ := tensor.Conv2dBackwardWeight(xt.Cast(tensor.Float64), ones, wt.Shape(), p, 1, false)
		gm, _ := tensor.Conv2dBackwardWeight(tensor.Abs(xt.Cast(tensor.Float64)), ones, wt.Shape(), p, 1, false)
		G, GR, GM := w.Grad().Float64s(), gw.Float64s(), gm.Float64s()
		for i := range G {
			require.LessOrEqual(t, math.Abs(G[i]-GR[i]), 4*u*GM[i]+1e-7, "%s dW[%d]", dt, i)
		}
	}
}

// Float32-class ops under autocast compute at float32 precision even on
// 16-bit inputs: softmax and cross-entropy of bfloat16 logits match the
// float64 values of the same (rounded) logits to float32 accuracy, far
// inside bfloat16's error.
func TestAutocastFloat32Numerics(t *testing.T) {
	g := tensor.NewGenerator(13)
	logits := g.Normal(0, 3, tensor.Float32, 8, 10).Cast(tensor.BFloat16)
	y := g.RandInt(0, 10, 8)
	var sm, ce *autograd.Var
	Autocast(Policy{DType: tensor.BFloat16}, func() {
		sm = autograd.Softmax(autograd.Constant(logits), -1)
		ce = nn.CrossEntropy(autograd.Constant(logits), y)
	})
	L := logits.Float64s()
	ref := 0.0
	S := sm.Value().Float64s()
	for i := range 8 {
		mx := math.Inf(-1)
		for j := range 10 {
			mx = max(mx, L[i*10+j])
		}
		z := 0.0
		for j := range 10 {
			z += math.Exp(L[i*10+j] - mx)
		}
		for j := range 10 {
			p := math.Exp(L[i*10+j]-mx) / z
			assert.InDelta(t, p, S[i*10+j], 1e-6)
		}
		ref += -(L[i*10+int(y.Int64s()[i])] - mx - math.Log(z))
	}
	assert.InDelta(t, ref/8, ce.Item(), 1e-5*ref/8)
}

// Goroutines with their own scopes (or none) run at once without seeing
// each other's policy.
func TestAutocastConcurrentScopes(t *testing.T) {
	g := tensor.NewGenerator(4)
	lin := nn.NewLinear(g, 8, 8, true)
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 4, 8))
	want := []tensor.DType{tensor.BFloat16, tensor.Float16, tensor.Float32, tensor.BFloat16}
	var wg sync.WaitGroup
	for i, dt := range want {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				var got tensor.DType
				f := func() { got = lin.Forward(x).DType() }
				if dt == tensor.Float32 {
					f()
				} else {
					Autocast(Policy{DType: dt}, f)
				}
				if got != dt {
					t.Errorf("goroutine %d: %s, want %s", i, got, dt)
					return
				}
			}
		}()
	}
	wg.Wait()
}
