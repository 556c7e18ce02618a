package zero_test

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/amp"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/internal/memtest"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/parallel/zero"
	"github.com/tessera-ml/tessera/tensor"
)

// newNet is an MLP whose layers' sizes are not multiples of the world
// sizes used (padding is exercised); every rank builds it from its own seed.
func newNet(seed uint64, dt tensor.DType) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	o := nn.WithDType(dt)
	return nn.NewSequential(nn.NewLinear(g, 5, 13, true, o), nn.NewReLU(), nn.NewLinear(g, 13, 7, true, o),
		nn.NewTanh(), nn.NewLinear(g, 7, 3, false, o))
}

// batch is rank r's data for step s (the same on every run).
func batch(r, s int, dt tensor.DType) (x, y *tensor.Tensor) {
	g := tensor.NewGenerator(uint64(1000 + 100*r + s))
	return g.Normal(0, 1, dt, 6, 5), g.Normal(0, 1, dt, 6, 3)
}

type kindCase struct {
	name string
	opt  func([]*autograd.Var) *optim.Optimizer
}

var kinds = []kindCase{
	{"adam", func(p []*autograd.Var) *optim.Optimizer {
		return optim.NewAdam(p, optim.Options{LR: 1e-2, WeightDecay: 1e-3})
	}},
	{"sgd-momentum", func(p []*autograd.Var) *optim.Optimizer {
		return optim.NewSGD(p, optim.Options{LR: 5e-2, Momentum: 0.9, Nesterov: true})
	}},
	{"rmsprop", func(p []*autograd.Var) *optim.Optimizer {
		return optim.NewRMSProp(p, optim.Options{LR: 1e-2, Centered: true, Momentum: 0.5})
	}},
}

// trainDDP trains with parallel/ddp and returns rank 0's parameters.
func trainDDP(t *testing.T, ranks, steps int, mk func([]*autograd.Var) *optim.Optimizer, clip float64, dt tensor.DType) map[string][]float32 {
	var out map[string][]float32
	err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newNet(uint64(1+c.Rank()), dt), c, ddp.Options{})
		if err != nil {
			return err
		}
		opt := mk(nn.Params(m))
		for s := range steps {
			opt.ZeroGrad()
			x, y := batch(c.Rank(), s, dt)
			if err := nn.MSELoss(m.Forward(autograd.Constant(x)), autograd.Constant(y)).Backward(); err != nil {
				return err
			}
			if err := m.Wait(); err != nil {
				return err
			}
			if clip > 0 {
				var gs []*tensor.Tensor
				for _, p := range nn.Params(m) {
					gs = append(gs, p.Grad())
				}
				clipLocal(gs, clip)
			}
			if err := opt.Step(); err != nil {
				return err
			}
		}
		if c.Rank() == 0 {
			out = params(m.Module.StateDict())
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func clipLocal(gs []*tensor.Tensor, maxNorm float64) {
	ss := 0.0
	for _, g := range gs {
		for _, v := range g.Cast(tensor.Float64).Float64s() {
			ss += v * v
		}
	}
	if coef := maxNorm / (math.Sqrt(ss) + 1e-6); coef < 1 {
		for _, g := range gs {
			tensor.UnaryInto(tensor.OpAffine, g, g, coef, 0)
		}
	}
}

func params(sd map[string]*tensor.Tensor) map[string][]float32 {
	out := map[string][]float32{}
	for k, v := range sd {
		out[k] = v.Cast(tensor.Float32).Float32s()
	}
	return out
}

// trainZeRO trains with parallel/zero and returns every rank's gathered
// parameters.
func trainZeRO(t *testing.T, ranks, steps int, o zero.Options, dt tensor.DType) []map[string][]float32 {
	out := make([]map[string][]float32, ranks)
	err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		z, err := zero.Wrap(newNet(uint64(1+c.Rank()), dt), c, o)
		if err != nil {
			return err
		}
		for s := range steps {
			x, y := batch(c.Rank(), s, dt)
			if err := nn.MSELoss(z.Forward(autograd.Constant(x)), autograd.Constant(y)).Backward(); err != nil {
				return err
			}
			if err := z.Step(); err != nil {
				return err
			}
		}
		sd, err := z.GatherStateDict(ctx)
		if err != nil {
			return err
		}
		out[c.Rank()] = params(sd)
		return nil
	})
	require.NoError(t, err)
	return out
}

func requireClose(t *testing.T, want, got map[string][]float32, tol float64, what string) {
	t.Helper()
	require.Equal(t, len(want), len(got), what)
	for k, w := range want {
		g, ok := got[k]
		require.True(t, ok, "%s: no %s", what, k)
		require.Len(t, g, len(w))
		for i := range w {
			require.InDelta(t, w[i], g[i], tol*(1+math.Abs(float64(w[i]))), "%s: %s[%d]", what, k, i)
		}
	}
}

// Every stage gives the weights plain data parallelism (parallel/ddp)
// gives after k steps, for each element-wise optimizer, with and without
// global-norm clipping, and every rank ends with the same weights.
func TestStagesMatchDDP(t *testing.T) {
	const steps = 4
	for _, kc := range kinds {
		for _, clip := range []float64{0, 0.05} {
			want := trainDDP(t, 3, steps, kc.opt, clip, tensor.Float32)
			for st := zero.StageDP; st <= zero.StageParams; st++ {
				name := fmt.Sprintf("%s/clip=%v/%v", kc.name, clip, st)
				got := trainZeRO(t, 3, steps, zero.Options{Stage: st, NewOptimizer: kc.opt, MaxGradNorm: clip}, tensor.Float32)
				for r := range got {
					requireClose(t, want, got[r], 1e-5, fmt.Sprintf("%s rank %d", name, r))
				}
			}
		}
	}
}

// Offloading the optimizer to the host changes nothing in the result.
func TestOffloadMatches(t *testing.T) {
	mk := kinds[0].opt
	want := trainDDP(t, 2, 3, mk, 0, tensor.Float32)
	for _, st := range []zero.Stage{zero.StageOptim, zero.StageParams} {
		got := trainZeRO(t, 2, 3, zero.Options{Stage: st, NewOptimizer: mk, Offload: true}, tensor.Float32)
		requireClose(t, want, got[1], 1e-5, fmt.Sprintf("offload %v", st))
	}
}

// Traffic per step: DP 2Ψ, Z1 and Z2 2Ψ, Z3 3Ψ (times (N-1)/N, in bytes
// of the padded layers).
func TestTraffic(t *testing.T) {
	const ranks = 4
	for st := zero.StageDP; st <= zero.StageParams; st++ {
		var mu sync.Mutex
		var stats []zero.Stats
		var psiPadded int
		err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
			z, err := zero.Wrap(newNet(1, tensor.Float32), c, zero.Options{Stage: st, NewOptimizer: kinds[0].opt})
			if err != nil {
				return err
			}
			x, y := batch(c.Rank(), 0, tensor.Float32)
			if err := nn.MSELoss(z.Forward(autograd.Constant(x)), autograd.Constant(y)).Backward(); err != nil {
				return err
			}
			if err := z.Step(); err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			stats = append(stats, z.Stats())
			psiPadded = 0
			for _, n := range []int{5*13 + 13, 13*7 + 7, 7 * 3} {
				if st != zero.StageDP {
					n = (n + ranks - 1) / ranks * ranks
				}
				psiPadded += n
			}
			return nil
		})
		require.NoError(t, err)
		factor := map[zero.Stage]int64{zero.StageDP: 2, zero.StageOptim: 2, zero.StageGrads: 2, zero.StageParams: 3}[st]
		want := factor * int64(psiPadded*4) * (ranks - 1) / ranks
		for _, s := range stats {
			assert.InDelta(t, want, s.Bytes(), 3, "stage %v", st) // integer division per layer
			assert.Equal(t, 1, s.Steps)
		}
	}
}

func TestWrapErrors(t *testing.T) {
	err := local.Run(context.Background(), 2, func(ctx context.Context, c collectives.Comm) error {
		_, err := zero.Wrap(newNet(1, tensor.Float32), c, zero.Options{Stage: zero.StageOptim})
		assert.ErrorContains(t, err, "NewOptimizer")
		_, err = zero.Wrap(newNet(1, tensor.Float32), c, zero.Options{Stage: zero.StageOptim, NewOptimizer: func(p []*autograd.Var) *optim.Optimizer {
			return optim.NewLAMB(p, optim.Options{})
		}})
		assert.ErrorContains(t, err, "per-tensor norms")
		_, err = zero.Wrap(newNet(1, tensor.Float32), c, zero.Options{Stage: 4, NewOptimizer: kinds[0].opt})
		assert.ErrorContains(t, err, "stage 4")
		return nil
	})
	require.NoError(t, err)
}

// In mixed precision (bfloat16 parameters and gradients, float32 master
// weights and Adam moments) every stage gives the weights of stage 0, the
// same arrangement replicated.
func TestMixedPrecisionStagesMatchDP(t *testing.T) {
	o := zero.Options{NewOptimizer: kinds[0].opt}
	want := trainZeRO(t, 4, 3, o, tensor.BFloat16)[0]
	for st := zero.StageOptim; st <= zero.StageParams; st++ {
		o.Stage = st
		got := trainZeRO(t, 4, 3, o, tensor.BFloat16)
		for r := range got {
			requireClose(t, want, got[r], 1e-5, fmt.Sprintf("bf16 %v rank %d", st, r))
		}
	}
}

// The ledger's peak model-state bytes per rank are the ZeRO paper's
// formulas, to the byte, over the padded layers: with Adam, float32
// parameters 4+4+8 bytes per element (no master copy), bfloat16 2+2+12
// (the float32 master covers the padded shard, the moments only the
// parameters' elements in it).
func TestModelStateBytes(t *testing.T) {
	const ranks = 4
	sizes := []int{5*13 + 13, 13*7 + 7, 7 * 3}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.BFloat16} {
		for st := zero.StageDP; st <= zero.StageParams; st++ {
			want := make([]int, ranks)
			for r := range want {
				var psi, shard, real int // elements: padded layers, the padded shard, parameters in the shard
				for _, n := range sizes {
					if st == zero.StageDP {
						psi, shard, real = psi+n, shard+n, real+n
						continue
					}
					np := (n + ranks - 1) / ranks * ranks
					s := np / ranks
					psi += np
					shard += s
					real += max(0, min(n, (r+1)*s)-r*s)
				}
				var p, g, o int // bytes per rank
				if dt == tensor.Float32 {
					p, g, o = 4*psi, 4*psi, 8*real
					if st >= zero.StageGrads {
						g = 4 * shard
					}
					if st == zero.StageParams {
						p = 4 * shard
					}
				} else {
					p, g, o = 2*psi, 2*psi, 4*shard+8*real
					if st >= zero.StageGrads {
						g = 2 * shard
					}
					if st == zero.StageParams {
						p = 2 * shard
					}
				}
				want[r] = p + g + o
			}
			peaks := make([]int64, ranks)
			err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
				z, err := zero.Wrap(newNet(1, dt), c, zero.Options{Stage: st, NewOptimizer: kinds[0].opt})
				if err != nil {
					return err
				}
				for s := range 2 {
					x, y := batch(c.Rank(), s, dt)
					if err := nn.MSELoss(z.Forward(autograd.Constant(x)), autograd.Constant(y)).Backward(); err != nil {
						return err
					}
					if err := z.Step(); err != nil {
						return err
					}
				}
				peaks[c.Rank()] = z.Ledger().Stats().ModelState.Peak
				return nil
			})
			require.NoError(t, err)
			for r, pk := range peaks {
				assert.Equal(t, int64(want[r]), pk, "%v %v rank %d", dt, st, r)
			}
		}
	}
}

// Data parallelism in mixed precision as package amp arranges it
// (parallel/ddp over bfloat16 parameters, amp.Optimizer stepping float32
// masters) gives the weights of every stage in bfloat16.
func TestMixedPrecisionMatchesAMP(t *testing.T) {
	const ranks, steps = 4, 3
	var want map[string][]float32
	err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newNet(uint64(1+c.Rank()), tensor.BFloat16), c, ddp.Options{})
		if err != nil {
			return err
		}
		opt := amp.NewOptimizer(nn.Params(m), kinds[0].opt, amp.Config{})
		for s := range steps {
			opt.ZeroGrad()
			x, y := batch(c.Rank(), s, tensor.BFloat16)
			if err := nn.MSELoss(m.Forward(autograd.Constant(x)), autograd.Constant(y)).Backward(); err != nil {
				return err
			}
			if err := m.Wait(); err != nil {
				return err
			}
			if _, err := opt.Step(); err != nil {
				return err
			}
		}
		if c.Rank() == 0 {
			want = params(m.Module.StateDict())
		}
		return nil
	})
	require.NoError(t, err)
	for st := zero.StageDP; st <= zero.StageParams; st++ {
		got := trainZeRO(t, ranks, steps, zero.Options{Stage: st, NewOptimizer: kinds[0].opt}, tensor.BFloat16)
		requireClose(t, want, got[ranks-1], 1e-5, fmt.Sprintf("bf16 %v against ddp+amp", st))
	}
}

// Float16 with dynamic loss scaling: the first step overflows on every
// rank (an initial scale of 2^20), is skipped everywhere without touching
// the weights, and the scale drops; the run then matches DDP with
// amp.Optimizer and the same scaler at every stage.
func TestFloat16LossScaling(t *testing.T) {
	const ranks, steps = 2, 4
	so := amp.ScalerOptions{InitScale: 1 << 20, BackoffFactor: 1.0 / 1024, GrowthInterval: 2}
	var want map[string][]float32
	err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newNet(uint64(1+c.Rank()), tensor.Float16), c, ddp.Options{})
		if err != nil {
			return err
		}
		opt := amp.NewOptimizer(nn.Params(m), kinds[0].opt, amp.Config{Scaler: amp.NewGradScaler(so)})
		for s := range steps {
			opt.ZeroGrad()
			x, y := batch(c.Rank(), s, tensor.Float16)
			if err := opt.Scaler().ScaleLoss(nn.MSELoss(m.Forward(autograd.Constant(x)), autograd.Constant(y))).Backward(); err != nil {
				return err
			}
			if err := m.Wait(); err != nil {
				return err
			}
			if _, err := opt.Step(); err != nil {
				return err
			}
		}
		if c.Rank() == 0 {
			want = params(m.Module.StateDict())
		}
		return nil
	})
	require.NoError(t, err)
	for st := zero.StageDP; st <= zero.StageParams; st++ {
		got := make([]map[string][]float32, ranks)
		err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
			sc := amp.NewGradScaler(so)
			z, err := zero.Wrap(newNet(uint64(1+c.Rank()), tensor.Float16), c, zero.Options{Stage: st, NewOptimizer: kinds[0].opt, Scaler: sc})
			if err != nil {
				return err
			}
			before, err := z.GatherStateDict(ctx)
			if err != nil {
				return err
			}
			for s := range steps {
				x, y := batch(c.Rank(), s, tensor.Float16)
				if err := z.ScaleLoss(nn.MSELoss(z.Forward(autograd.Constant(x)), autograd.Constant(y))).Backward(); err != nil {
					return err
				}
				if err := z.Step(); err != nil {
					return err
				}
				if s == 0 {
					after, err := z.GatherStateDict(ctx)
					if err != nil {
						return err
					}
					assert.Equal(t, params(before), params(after), "%v: the skipped step changed the weights", st)
					assert.Equal(t, 1, z.Stats().SkippedSteps)
					assert.Equal(t, 1024.0, sc.Scale())
				}
			}
			assert.Equal(t, 1, z.Stats().SkippedSteps)
			assert.Equal(t, 2048.0, sc.Scale()) // grown once after two good steps
			sd, err := z.GatherStateDict(ctx)
			got[c.Rank()] = params(sd)
			return err
		})
		require.NoError(t, err)
		for r := range got {
			requireClose(t, want, got[r], 1e-5, fmt.Sprintf("fp16 %v rank %d", st, r))
		}
	}
}

// Two backward passes before a Step accumulate: at every stage the result
// is DDP's with the two half-batch losses summed in one backward pass.
func TestGradientAccumulation(t *testing.T) {
	const ranks, steps = 3, 3
	half := func(x *tensor.Tensor, i int) *tensor.Tensor { return x.Narrow(0, 3*i, 3).Contiguous() }
	var want map[string][]float32
	err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		m, err := ddp.Wrap(newNet(uint64(1+c.Rank()), tensor.Float32), c, ddp.Options{})
		if err != nil {
			return err
		}
		opt := kinds[0].opt(nn.Params(m))
		for s := range steps {
			opt.ZeroGrad()
			x, y := batch(c.Rank(), s, tensor.Float32)
			out := m.Forward(autograd.Constant(x))
			l0 := nn.MSELoss(autograd.Narrow(out, 0, 0, 3), autograd.Constant(half(y, 0)))
			l1 := nn.MSELoss(autograd.Narrow(out, 0, 3, 3), autograd.Constant(half(y, 1)))
			if err := autograd.Add(l0, l1).Backward(); err != nil {
				return err
			}
			if err := m.Step(opt); err != nil {
				return err
			}
		}
		if c.Rank() == 0 {
			want = params(m.Module.StateDict())
		}
		return nil
	})
	require.NoError(t, err)
	for st := zero.StageDP; st <= zero.StageParams; st++ {
		got := make([]map[string][]float32, ranks)
		err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
			z, err := zero.Wrap(newNet(uint64(1+c.Rank()), tensor.Float32), c, zero.Options{Stage: st, NewOptimizer: kinds[0].opt})
			if err != nil {
				return err
			}
			for s := range steps {
				x, y := batch(c.Rank(), s, tensor.Float32)
				for i := range 2 {
					if err := nn.MSELoss(z.Forward(autograd.Constant(half(x, i))), autograd.Constant(half(y, i))).Backward(); err != nil {
						return err
					}
				}
				if err := z.Step(); err != nil {
					return err
				}
			}
			sd, err := z.GatherStateDict(ctx)
			got[c.Rank()] = params(sd)
			return err
		})
		require.NoError(t, err)
		for r := range got {
			requireClose(t, want, got[r], 1e-5, fmt.Sprintf("accumulation %v rank %d", st, r))
		}
	}
}

// Once the caller drops the module it wrapped, the device holds only the
// ranks' shards of the parameters at stage 3: the wrapper keeps no
// reference to the original (whole) parameters.
func TestOriginalParametersFreed(t *testing.T) {
	const ranks = 4
	liveParams := func() int64 {
		runtime.GC()
		return tensor.MemoryStats(tensor.CPU).Category[tensor.MemoryParameters].Live
	}
	// Cleanups of earlier tests' garbage run asynchronously after a GC:
	// take the baseline once the count has stopped moving, or a late
	// release lands inside the measurement (CI under -race saw 28 bytes).
	base := memtest.Settled(liveParams)
	err := local.Run(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		g := tensor.NewGenerator(1)
		z, err := zero.Wrap(nn.NewSequential(nn.NewLinear(g, 128, 128, false), nn.NewLinear(g, 128, 128, false)), c,
			zero.Options{Stage: zero.StageParams, NewOptimizer: kinds[0].opt})
		if err != nil {
			return err
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
		if c.Rank() == 0 {
			// 4 ranks x 2 layers x 128·128/4 float32 elements
			assert.Eventually(t, func() bool { return liveParams()-base == 4*2*128*128 }, 5*time.Second, 10*time.Millisecond,
				"live parameter bytes %d over the start, want %d", liveParams()-base, 4*2*128*128)
		}
		if err := c.Barrier(ctx); err != nil {
			return err
		}
		runtime.KeepAlive(z)
		return nil
	})
	require.NoError(t, err)
}
