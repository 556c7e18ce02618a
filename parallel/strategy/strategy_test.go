package strategy_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel/strategy"
	"github.com/tessera-ml/tessera/tensor"
)

const inF, hidF, outF = 6, 10, 3

func newMLP(seed uint64, dt tensor.DType) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	return nn.NewSequential(
		nn.NewLinear(g, inF, hidF, true, nn.WithDType(dt)), nn.NewTanh(),
		nn.NewLinear(g, hidF, outF, true, nn.WithDType(dt)))
}

func optFor(kind optim.Kind) func([]*autograd.Var) *optim.Optimizer {
	return func(ps []*autograd.Var) *optim.Optimizer {
		if kind == optim.KindAdam {
			return optim.NewAdam(ps, optim.Options{LR: 1e-2})
		}
		return optim.NewSGD(ps, optim.Options{LR: 0.1, Momentum: 0.9})
	}
}

type data struct{ x, y *tensor.Tensor }

func newData(n int, dt tensor.DType) data {
	g := tensor.NewGenerator(42)
	return data{g.Normal(0, 1, dt, n, inF), g.RandInt(0, outF, n)}
}

func snapshot(m nn.Module) map[string][]float64 {
	out := map[string][]float64{}
	for _, p := range m.Parameters() {
		out[p.Name] = p.Param.Value().Cast(tensor.Float64).Float64s()
	}
	return out
}

// reference trains one replica on each step's global batch, applying the
// gradient of step t at step t+s (s = 0: plain SGD), then the rest.
func reference(t *testing.T, dt tensor.DType, kind optim.Kind, d data, steps, global, s int) map[string][]float64 {
	m := newMLP(1, dt)
	ps := nn.Params(m)
	opt := optFor(kind)(ps)
	var queue [][]*tensor.Tensor
	apply := func() {
		g := queue[0]
		queue = queue[1:]
		for i, p := range ps {
			p.SetGrad(g[i])
		}
		require.NoError(t, opt.Step())
	}
	for st := range steps {
		for _, p := range ps {
			p.SetGrad(nil)
		}
		x, y := d.x.Narrow(0, st*global, global), d.y.Narrow(0, st*global, global)
		require.NoError(t, nn.CrossEntropy(m.Forward(autograd.Constant(x)), y).Backward())
		g := make([]*tensor.Tensor, len(ps))
		for i, p := range ps {
			g[i] = p.Grad().Clone()
		}
		queue = append(queue, g)
		if len(queue) > s {
			apply()
		}
	}
	for len(queue) > 0 {
		apply()
	}
	return snapshot(m)
}

type runResult struct {
	weights  map[string][]float64
	stats    strategy.Stats
	traffic  strategy.Traffic
	nBuckets int
}

func train(t *testing.T, name string, n, steps, b int, dt tensor.DType, kind optim.Kind, d data, o strategy.Options) []runResult {
	o.NewOptimizer = optFor(kind)
	res := make([]runResult, n)
	err := local.Run(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		r := c.Rank()
		s, err := strategy.New(name, newMLP(uint64(1+r), dt), c, o)
		if err != nil {
			return err
		}
		for st := range steps {
			lo := st*n*b + r*b
			x, y := d.x.Narrow(0, lo, b), d.y.Narrow(0, lo, b)
			if err := nn.CrossEntropy(s.Model().Forward(autograd.Constant(x)), y).Backward(); err != nil {
				return err
			}
			if err := s.Step(); err != nil {
				return err
			}
		}
		if err := s.Flush(); err != nil {
			return err
		}
		res[r] = runResult{weights: snapshot(s.Model()), stats: s.Stats(), traffic: s.Traffic()}
		if dd := strategy.DDP(s); dd != nil {
			res[r].nBuckets = len(dd.Buckets())
		}
		return nil
	})
	require.NoError(t, err)
	return res
}

func assertClose(t *testing.T, want, got map[string][]float64, tol float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for k, w := range want {
		assert.InDeltaSlice(t, w, got[k], tol, "%s: %s", msg, k)
	}
}

func TestSynchronousStrategiesMatchOneRank(t *testing.T) {
	const steps, b = 3, 4
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		tol := map[tensor.DType]float64{tensor.Float64: 1e-9, tensor.Float32: 1e-5}[dt]
		for _, kind := range []optim.Kind{optim.KindSGD, optim.KindAdam} {
			for _, n := range []int{2, 3} {
				d := newData(steps*n*b, dt)
				want := reference(t, dt, kind, d, steps, n*b, 0)
				for _, name := range strategy.Names() {
					for _, o := range []strategy.Options{{}, {FusionThresholdMiB: 1e-4}} {
						if o.FusionThresholdMiB != 0 && name != "fusion" {
							continue
						}
						msg := fmt.Sprintf("%s %v %v n=%d %+v", name, dt, kind, n, o.FusionThresholdMiB)
						for r, got := range train(t, name, n, steps, b, dt, kind, d, o) {
							assertClose(t, want, got.weights, tol, fmt.Sprintf("%s rank %d", msg, r))
							assert.Equal(t, steps, got.stats.Steps, msg)
						}
					}
				}
			}
		}
	}
}

func TestBoundedStalenessMatchesDelayedSGD(t *testing.T) {
	const steps, b, n = 5, 3, 2
	d := newData(steps*n*b, tensor.Float64)
	for _, s := range []int{0, 1, 2} {
		want := reference(t, tensor.Float64, optim.KindAdam, d, steps, n*b, s)
		sync := reference(t, tensor.Float64, optim.KindAdam, d, steps, n*b, 0)
		for _, name := range []string{"sharded-ps", "central-ps"} {
			for r, got := range train(t, name, n, steps, b, tensor.Float64, optim.KindAdam, d, strategy.Options{Staleness: s}) {
				msg := fmt.Sprintf("%s s=%d rank %d", name, s, r)
				assertClose(t, want, got.weights, 1e-9, msg)
				if s > 0 {
					assert.NotEqual(t, sync["0.weight"], got.weights["0.weight"], "%s: staleness changes the trajectory", msg)
				}
			}
		}
	}
	_, err := strategy.New("allreduce", newMLP(1, tensor.Float32), nil, strategy.Options{NewOptimizer: optFor(optim.KindSGD), Staleness: 1})
	require.Error(t, err)
}

func TestFusionThresholdSetsTheCallCount(t *testing.T) {
	const steps, b, n = 2, 2, 2
	d := newData(steps*n*b, tensor.Float32)
	params := 4
	one := train(t, "fusion", n, steps, b, tensor.Float32, optim.KindSGD, d, strategy.Options{}) // 64 MiB: everything in one buffer
	per := train(t, "fusion", n, steps, b, tensor.Float32, optim.KindSGD, d, strategy.Options{FusionThresholdMiB: -1})
	// 10x3 weights (120 bytes) + 3 + 10 + 10x6: a 200-byte threshold cuts
	// reverse order [3, 30 | 10, 60] ...
	mid := train(t, "fusion", n, steps, b, tensor.Float32, optim.KindSGD, d, strategy.Options{FusionThresholdMiB: 200.0 / (1 << 20)})
	for r := range n {
		assert.Equal(t, steps, one[r].stats.AllReduceCalls)
		assert.Equal(t, steps*params, per[r].stats.AllReduceCalls)
		// bias 3 (12 B) + weight 30 (120 B) = 132; + bias 10 (40 B) = 172; + weight 60 (240 B) > 200: flush; 240 >= 200: flush.
		assert.Equal(t, steps*2, mid[r].stats.AllReduceCalls)
		assertClose(t, one[r].weights, per[r].weights, 1e-6, "fusion does not change the result")
		assertClose(t, one[r].weights, mid[r].weights, 1e-6, "fusion does not change the result")
	}
}

func TestTrafficFormulas(t *testing.T) {
	const n = 4
	d := newData(4*n, tensor.Float32)
	// 6x10 + 10 + 10x3 + 3 = 103 float32 = 412 bytes; padded to 104 for the PS modes.
	const s, sp = 412, 416
	for _, name := range strategy.Names() {
		for r, got := range train(t, name, n, 1, 1, tensor.Float32, optim.KindSGD, d, strategy.Options{}) {
			tr := got.traffic
			switch name {
			case "allreduce", "fusion":
				assert.Equal(t, int64(2*(n-1)*s/n), tr.Sent, name)
			case "sharded-ps":
				assert.Equal(t, int64(2*(n-1)*sp/n), tr.Sent, name)
			case "central-ps":
				want := int64(sp)
				if r == 0 {
					want = (n - 1) * sp
				}
				assert.Equal(t, want, tr.Sent, name)
				assert.Equal(t, want, tr.Received, name)
				calls := 2 // one send, one receive
				if r == 0 {
					calls = 2 * (n - 1)
				}
				assert.Equal(t, calls, got.stats.Collectives, "%s rank %d: point-to-point calls", name, r)
			}
			assert.NotEmpty(t, tr.Formula)
			assert.Equal(t, tr.Sent, got.stats.BytesSent, "%s rank %d: bytes of the calls issued in one step", name, r)
			assert.Equal(t, tr.Received, got.stats.BytesReceived, "%s rank %d", name, r)
		}
	}
}

func TestUnknownStrategy(t *testing.T) {
	_, err := strategy.New("gossip", newMLP(1, tensor.Float32), nil, strategy.Options{NewOptimizer: optFor(optim.KindSGD)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "allreduce")
}
