package amp

import (
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/memtest"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

func adam(lr float64) func([]*autograd.Var) *optim.Optimizer {
	return func(ms []*autograd.Var) *optim.Optimizer { return optim.NewAdam(ms, optim.Options{LR: lr}) }
}

func smallMLP(seed uint64) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	return nn.NewSequential(nn.NewLinear(g, 6, 16, true), nn.NewReLU(), nn.NewLinear(g, 16, 3, true))
}

func batch(seed uint64, n int) (*autograd.Var, *tensor.Tensor) {
	g := tensor.NewGenerator(seed)
	return autograd.Constant(g.Normal(0, 1, tensor.Float32, n, 6)), g.RandInt(0, 3, n)
}

// snapshot copies every value an optimizer step may change.
type snapshot struct{ params, masters, state map[string][]float64 }

func take(o *Optimizer) snapshot {
	s := snapshot{map[string][]float64{}, map[string][]float64{}, map[string][]float64{}}
	for i, p := range o.Params() {
		s.params[string(rune('a'+i))] = p.Value().Float64s()
		s.masters[string(rune('a'+i))] = o.Masters()[i].Value().Float64s()
	}
	for k, v := range o.Inner().StateDict() {
		s.state[k] = v.Float64s()
	}
	return s
}

// The acceptance test of float16 loss scaling: a scale far beyond float16's
// range overflows the gradients; the scaler skips those steps without
// touching parameters, masters or optimizer state, backs off until the
// gradients fit, then trains and grows the scale again after
// GrowthInterval good steps. An overflow injected later is skipped too.
func TestFloat16OverflowRecovery(t *testing.T) {
	low := CastModule(smallMLP(1), tensor.Float16)
	for _, p := range nn.Params(low) {
		require.Equal(t, tensor.Float16, p.DType())
	}
	scaler := NewGradScaler(ScalerOptions{InitScale: 1 << 24, GrowthInterval: 3})
	opt := NewOptimizer(nn.Params(low), adam(1e-2), Config{Scaler: scaler})
	x, y := batch(2, 32)
	x = autograd.Constant(x.Value().Cast(tensor.Float16)) // a float16 model end to end
	backward := func() {
		opt.ZeroGrad()
		loss := nn.CrossEntropy(low.Forward(x), y)
		require.NoError(t, scaler.ScaleLoss(loss).Backward())
	}

	skipped := 0
	for {
		backward()
		before, scale := take(opt), scaler.Scale()
		stepped, err := opt.Step()
		require.NoError(t, err)
		if stepped {
			assert.NotEqual(t, before.params, take(opt).params, "a good step changes the weights")
			break
		}
		skipped++
		assert.Equal(t, before, take(opt), "skipped step %d changed the state", skipped)
		assert.Equal(t, scale/2, scaler.Scale(), "each overflow halves the scale")
		require.Less(t, skipped, 20)
	}
	t.Logf("skipped %d steps, scale now %g", skipped, scaler.Scale())
	assert.GreaterOrEqual(t, skipped, 9, "2^24 overflows float16 (max 65504)")
	assert.LessOrEqual(t, scaler.Scale(), 65504.0)
	for i, m := range opt.Masters() {
		assert.Equal(t, 1, opt.Inner().StepCount(m), "master %d stepped once", i)
	}

	// From here every step either trains (and after GrowthInterval
	// consecutive ones the scale doubles) or overflows again near the
	// float16 limit (skipped, nothing changes, the scale halves).
	grew := 0
	for range 30 {
		backward()
		before, scale, tracker := take(opt), scaler.Scale(), scaler.GrowthTracker()
		stepped, err := opt.Step()
		require.NoError(t, err)
		switch {
		case !stepped:
			assert.Equal(t, before, take(opt))
			assert.Equal(t, scale/2, scaler.Scale())
		case tracker == 2:
			assert.Equal(t, 2*scale, scaler.Scale(), "the scale grows after GrowthInterval good steps")
			grew++
		default:
			assert.Equal(t, scale, scaler.Scale())
			assert.Equal(t, tracker+1, scaler.GrowthTracker())
		}
	}
	assert.Positive(t, grew)

	scale := scaler.Scale()
	backward()
	opt.Params()[2].Grad().Set(math.NaN(), 1, 4) // injected NaN
	before := take(opt)
	stepped, err := opt.Step()
	require.NoError(t, err)
	assert.False(t, stepped)
	assert.Equal(t, before, take(opt))
	assert.Equal(t, scale/2, scaler.Scale())
	backward()
	stepped, err = opt.Step()
	require.NoError(t, err)
	assert.True(t, stepped, "training resumes after the injected overflow")
}

// Masters follow float64 Adam on the unscaled gradients to float32
// rounding, and the model parameters are exactly the masters rounded to
// bfloat16.
func TestMasterAdamMatchesFloat64(t *testing.T) {
	g := tensor.NewGenerator(5)
	params := []*autograd.Var{
		autograd.Param(g.Normal(0, 1, tensor.Float32, 7, 5).Cast(tensor.BFloat16)),
		autograd.Param(g.Normal(0, 1, tensor.Float32, 5).Cast(tensor.BFloat16)),
	}
	const lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
	scaler := NewGradScaler(ScalerOptions{InitScale: 1024, GrowthInterval: 1000})
	opt := NewOptimizer(params, func(ms []*autograd.Var) *optim.Optimizer {
		return optim.NewAdam(ms, optim.Options{LR: lr, WeightDecay: wd})
	}, Config{Scaler: scaler})

	type ref struct{ w, m, v []float64 }
	refs := make([]ref, len(params))
	for i, p := range params {
		w := p.Value().Float64s()
		refs[i] = ref{w, make([]float64, len(w)), make([]float64, len(w))}
	}
	for step := 1; step <= 4; step++ {
		for i, p := range params {
			gr := g.Normal(0, 1, tensor.Float32, p.Shape()...).Cast(tensor.BFloat16)
			p.SetGrad(tensor.MulScalar(gr, 1024)) // exact: a power of two
			r := refs[i]
			for j, gj := range gr.Float64s() {
				gj += wd * r.w[j]
				r.m[j] = b1*r.m[j] + (1-b1)*gj
				r.v[j] = b2*r.v[j] + (1-b2)*gj*gj
				mh := r.m[j] / (1 - math.Pow(b1, float64(step)))
				vh := r.v[j] / (1 - math.Pow(b2, float64(step)))
				r.w[j] -= lr * mh / (math.Sqrt(vh) + eps)
			}
		}
		stepped, err := opt.Step()
		require.NoError(t, err)
		require.True(t, stepped)
	}
	// float32 Adam: each step's update is exact to a few ulps of float32
	// (2^-23 ≈ 1.2e-7) relative to the weight; 4 steps, |w| < 4.
	const tol = 4 * 4 * 8 * 1.2e-7
	for i, p := range params {
		mv := opt.Masters()[i].Value()
		require.Equal(t, tensor.Float32, mv.DType())
		assert.InDeltaSlice(t, refs[i].w, mv.Float64s(), tol, "master %d", i)
		assert.Equal(t, mv.Cast(tensor.BFloat16).Float64s(), p.Value().Float64s(), "param %d is its master rounded", i)
		sd := opt.Inner().StateDict()
		assert.InDeltaSlice(t, refs[i].m, sd["param."+string(rune('0'+i))+".exp_avg"].Float64s(), 1e-6)
	}
}

// Stepping one master at a time is the same update, bit for bit, as an
// optimizer stepping float32 copies with all gradients at once.
func TestMasterStepEqualsWholeStep(t *testing.T) {
	low := CastModule(smallMLP(3), tensor.BFloat16)
	opt := NewOptimizer(nn.Params(low), func(ms []*autograd.Var) *optim.Optimizer {
		return optim.NewAdamW(ms, optim.Options{LR: 3e-3, WeightDecay: 0.01})
	}, Config{})
	var ref []*autograd.Var
	for _, p := range nn.Params(low) {
		ref = append(ref, autograd.Param(p.Value().Cast(tensor.Float32)))
	}
	whole := optim.NewAdamW(ref, optim.Options{LR: 3e-3, WeightDecay: 0.01})
	x, y := batch(4, 16)
	for range 3 {
		opt.ZeroGrad()
		require.NoError(t, nn.CrossEntropy(low.Forward(x), y).Backward())
		for i, p := range opt.Params() {
			ref[i].SetGrad(p.Grad().Cast(tensor.Float32))
		}
		stepped, err := opt.Step()
		require.NoError(t, err)
		require.True(t, stepped)
		require.NoError(t, whole.Step())
	}
	for i, m := range opt.Masters() {
		assert.Equal(t, ref[i].Value().Float32s(), m.Value().Float32s(), "master %d", i)
	}
}

// The byte count of the master-weights arrangement for Adam:
// 2Ψ parameters + 2Ψ gradients + 12Ψ optimizer state.
func TestMasterBytesAdam(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		low := CastModule(smallMLP(1), dt)
		psi := int64(nn.NumParams(low))
		opt := NewOptimizer(nn.Params(low), adam(1e-3), Config{})
		x, y := batch(2, 8)
		opt.ZeroGrad()
		require.NoError(t, nn.CrossEntropy(low.Forward(x), y).Backward())
		_, err := opt.Step()
		require.NoError(t, err)
		b := opt.Bytes()
		assert.Equal(t, StateBytes{Params: 2 * psi, Grads: 2 * psi, Optimizer: 12 * psi}, b, "%s, Ψ=%d", dt, psi)
		assert.Equal(t, 16*psi, b.Total())
	}
}

func TestMasterClipGradNorm(t *testing.T) {
	p := autograd.Param(tensor.FromSlice([]float32{1, 2, 3, 4}, 4).Cast(tensor.Float16))
	scaler := NewGradScaler(ScalerOptions{InitScale: 8})
	opt := NewOptimizer([]*autograd.Var{p}, func(ms []*autograd.Var) *optim.Optimizer {
		return optim.NewSGD(ms, optim.Options{LR: 1})
	}, Config{Scaler: scaler, MaxGradNorm: 1})
	p.SetGrad(tensor.FromSlice([]float32{3 * 8, 0, 4 * 8, 0}, 4).Cast(tensor.Float16)) // unscaled norm 5
	stepped, err := opt.Step()
	require.NoError(t, err)
	require.True(t, stepped)
	c := 1 / (5 + 1e-6)
	assert.InDeltaSlice(t, []float64{1 - 3*c, 2, 3 - 4*c, 4}, opt.Masters()[0].Value().Float64s(), 1e-6)
}

func TestMasterStateDict(t *testing.T) {
	mk := func() (*Optimizer, nn.Module) {
		low := CastModule(smallMLP(9), tensor.Float16)
		return NewOptimizer(nn.Params(low), adam(1e-2), Config{Scaler: NewGradScaler(ScalerOptions{InitScale: 256})}), low
	}
	a, la := mk()
	x, y := batch(3, 16)
	train := func(o *Optimizer, m nn.Module) {
		o.ZeroGrad()
		require.NoError(t, o.Scaler().ScaleLoss(nn.CrossEntropy(m.Forward(x), y)).Backward())
		_, err := o.Step()
		require.NoError(t, err)
	}
	train(a, la)
	train(a, la)
	sd := map[string]*tensor.Tensor{}
	for k, v := range a.StateDict() {
		sd[k] = v.Clone()
	}
	b, lb := mk()
	require.NoError(t, b.LoadStateDict(sd))
	for i := range a.Params() {
		assert.Equal(t, a.Params()[i].Value().Float64s(), b.Params()[i].Value().Float64s())
	}
	train(a, la)
	train(b, lb)
	for i := range a.Masters() {
		assert.Equal(t, a.Masters()[i].Value().Float32s(), b.Masters()[i].Value().Float32s(), "resumed master %d", i)
	}

	delete(sd, "master.0")
	assert.Error(t, b.LoadStateDict(sd))
	sd["master.0"] = tensor.Zeros(tensor.Float32, 3)
	assert.Error(t, b.LoadStateDict(sd))
}

func TestAllFiniteAndUnscaleInto(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16, tensor.Float16} {
		x := tensor.FromSlice([]float64{1, -2, 65504, 0}, 4).Cast(dt)
		assert.True(t, AllFinite(x), dt)
		for _, bad := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
			y := x.Clone()
			y.Set(bad, 2)
			assert.False(t, AllFinite(x, y), "%s %v", dt, bad)
		}
	}
	assert.False(t, AllFinite(tensor.FromSlice([]float64{1e5}, 1).Cast(tensor.Float16)), "1e5 overflows float16")
	dst := tensor.Zeros(tensor.Float32, 2)
	assert.True(t, UnscaleInto(dst, tensor.FromSlice([]float32{512, -3}, 2).Cast(tensor.Float16), 0.25))
	assert.Equal(t, []float32{128, -0.75}, dst.Float32s())
}

// The device's memory accounting (a ledger holding the model's
// parameters) sees the same 2Ψ + 2Ψ + 12Ψ: masters and Adam's moments as
// optimizer state, the 16-bit gradients as gradients.
func TestMasterMemoryLedger(t *testing.T) {
	ledger := tensor.NewMemoryLedger()
	model := smallMLP(4)
	for _, p := range nn.Params(model) {
		ledger.Charge(p.Value(), tensor.MemoryParameters)
	}
	low := CastModule(model, tensor.BFloat16)
	psi := int64(nn.NumParams(low))
	opt := NewOptimizer(nn.Params(low), adam(1e-3), Config{})
	x, y := batch(2, 8)
	for range 2 {
		opt.ZeroGrad()
		require.NoError(t, nn.CrossEntropy(low.Forward(x), y).Backward())
		_, err := opt.Step()
		require.NoError(t, err)
	}
	model = nil
	// The float32 originals become garbage; their bytes leave the count in
	// cleanups that run after a collection (later under -race).
	assert.Eventually(t, func() bool {
		runtime.GC()
		return ledger.Stats().Category[tensor.MemoryParameters].Live == 2*psi
	}, 5*time.Second, 5*time.Millisecond, "the float32 originals are never released")
	// Earlier steps' gradients leave the count the same way: read it once
	// it holds still.
	memtest.Settled(func() int64 { return ledger.Stats().ModelState.Live })
	st := ledger.Stats()
	assert.Equal(t, 2*psi, st.Category[tensor.MemoryParameters].Live)
	assert.Equal(t, 2*psi, st.Category[tensor.MemoryGradients].Live)
	assert.Equal(t, 12*psi, st.Category[tensor.MemoryOptimizerState].Live)
	assert.Equal(t, 16*psi, st.ModelState.Live)
	runtime.KeepAlive(opt)
	runtime.KeepAlive(low)
}

// A finite gradient that overflows float32 once unscaled (a scale far
// below 1) is an error, not a NaN master.
func TestMasterUnscaleOverflowIsAnError(t *testing.T) {
	p := autograd.Param(tensor.FromSlice([]float32{1, 2}, 2).Cast(tensor.BFloat16))
	scaler := NewGradScaler(ScalerOptions{InitScale: 1e-30})
	opt := NewOptimizer([]*autograd.Var{p}, adam(1e-3), Config{Scaler: scaler})
	p.SetGrad(tensor.FromSlice([]float32{1e30, 1}, 2).Cast(tensor.BFloat16))
	_, err := opt.Step()
	require.Error(t, err)
	assert.True(t, AllFinite(opt.Masters()[0].Value()))
}

// The sharded use: parameters that are views of one flat 16-bit buffer
// (gradients views of a flat gradient buffer), split between two
// "ranks", each with its own Optimizer over its shard. Combining the
// ranks' Check results (all finite; the sum of squared norms) and calling
// StepWith with the global clipping coefficient gives the masters and the
// flat buffer of one Optimizer over all parameters, bit for bit; an
// overflow on one rank skips the step on both.
func TestMasterShardedStepWith(t *testing.T) {
	g := tensor.NewGenerator(6)
	const n = 40
	init := g.Normal(0, 1, tensor.Float32, n).Cast(tensor.Float16)
	grads := g.Normal(0, 4, tensor.Float32, n).Cast(tensor.Float16)
	sgd := func(ms []*autograd.Var) *optim.Optimizer {
		return optim.NewSGD(ms, optim.Options{LR: 0.1, Momentum: 0.9})
	}
	views := func(flat *tensor.Tensor) []*autograd.Var { // shapes [3 4], [8], [20]; then [0..12) | [12..40) by rank
		return []*autograd.Var{
			autograd.Param(flat.Narrow(0, 0, 12).Reshape(3, 4)),
			autograd.Param(flat.Narrow(0, 12, 8)),
			autograd.Param(flat.Narrow(0, 20, 20)),
		}
	}
	setGrads := func(ps []*autograd.Var, flatG *tensor.Tensor) {
		off := 0
		for _, p := range ps {
			k := p.Value().NumElements()
			p.SetGrad(flatG.Narrow(0, off, k).Reshape(p.Shape()...))
			off += k
		}
	}
	const maxNorm = 5.0
	// one optimizer over everything
	fullFlat := init.Clone()
	fullPs := views(fullFlat)
	sc := NewGradScaler(ScalerOptions{InitScale: 4})
	full := NewOptimizer(fullPs, sgd, Config{Scaler: sc, MaxGradNorm: maxNorm})
	// two ranks
	shardFlat := init.Clone()
	ps := views(shardFlat)
	scA, scB := NewGradScaler(ScalerOptions{InitScale: 4}), NewGradScaler(ScalerOptions{InitScale: 4})
	a := NewOptimizer(ps[:1], sgd, Config{Scaler: scA})
	b := NewOptimizer(ps[1:], sgd, Config{Scaler: scB})

	for step := range 3 {
		gr := tensor.MulScalar(grads, float64(step+1)) // scaled by the loss scale 4 in all three
		if step == 1 {
			gr = gr.Clone()
			gr.Set(math.Inf(1), 25) // an overflow on rank b only
		}
		setGrads(fullPs, gr)
		setGrads(ps, gr)
		steppedFull, err := full.Step()
		require.NoError(t, err)

		okA, sqA := a.Check(true)
		okB, sqB := b.Check(true)
		finite := okA && okB
		mul := 1.0
		if finite {
			mul = ClipCoef(math.Sqrt(sqA+sqB), maxNorm)
		}
		sa, err := a.StepWith(finite, mul)
		require.NoError(t, err)
		sb, err := b.StepWith(finite, mul)
		require.NoError(t, err)
		assert.Equal(t, steppedFull, sa)
		assert.Equal(t, steppedFull, sb)
		assert.Equal(t, step != 1, sa, "step %d", step)
		assert.Equal(t, sc.Scale(), scA.Scale())
		assert.Equal(t, sc.Scale(), scB.Scale())
		assert.Equal(t, fullFlat.Float32s(), shardFlat.Float32s(), "step %d: the flat buffers", step)
	}
	assert.Equal(t, full.Masters()[2].Value().Float32s(), b.Masters()[1].Value().Float32s())
	assert.NotEqual(t, init.Float32s(), shardFlat.Float32s(), "the views were written in place")
}
