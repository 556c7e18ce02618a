package meta

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

var f64 = nn.WithDType(tensor.Float64)

// tanhNet is a smooth 1→8→8→1 network (finite differences need smoothness).
func tanhNet(seed uint64) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	return nn.NewSequential(nn.NewLinear(g, 1, 8, true, f64), nn.NewTanh(),
		nn.NewLinear(g, 8, 8, true, f64), nn.NewTanh(), nn.NewLinear(g, 8, 1, true, f64))
}

func sineTask(seed uint64) Task {
	return Sine{K: 5, KQuery: 7, DType: tensor.Float64}.Sample(rand.New(rand.NewPCG(seed, 9)))
}

// metaObjective is the query loss after k plain inner steps from the
// learner's current values, computed without any graph.
func metaObjective(l *Learner, t Task, k int) float64 {
	vals := l.AdaptValues(t.XS, t.YS, k, 0)
	var out float64
	autograd.NoGrad(func() { out = l.Cfg.Loss(autograd.Constant(l.Predict(vals[k], t.XQ)), t.YQ).Item() })
	return out
}

// checkAgainstFD compares grads (of l.MetaParams) with central differences
// of the meta-objective in float64: per element |a-n| <= 1e-6(1+|n|), and
// in norm ||a-n|| <= 1e-6·||n||.
func checkAgainstFD(t *testing.T, l *Learner, task Task, k int, grads []*tensor.Tensor) {
	t.Helper()
	const h = 1e-6
	var diff2, num2 float64
	for pi, p := range l.MetaParams() {
		flat := p.Value().Reshape(p.Value().NumElements())
		ga := grads[pi].Float64s()
		for j := range flat.NumElements() {
			orig := flat.At(j)
			flat.Set(orig+h, j)
			fp := metaObjective(l, task, k)
			flat.Set(orig-h, j)
			fm := metaObjective(l, task, k)
			flat.Set(orig, j)
			num := (fp - fm) / (2 * h)
			assert.LessOrEqual(t, math.Abs(ga[j]-num), 1e-6*(1+math.Abs(num)), "param %d[%d]: analytic %g numeric %g", pi, j, ga[j], num)
			diff2 += (ga[j] - num) * (ga[j] - num)
			num2 += num * num
		}
	}
	require.Greater(t, num2, 1e-6, "the meta-gradient is not trivially zero")
	assert.LessOrEqual(t, math.Sqrt(diff2), 1e-6*math.Sqrt(num2))
}

// TestMAMLMetaGradientFD is the acceptance check: the second-order MAML
// meta-gradient through k = 1 and k = 3 inner steps matches central
// finite differences of the meta-objective (float64, 1e-6 relative).
func TestMAMLMetaGradientFD(t *testing.T) {
	for _, k := range []int{1, 3} {
		l := NewLearner(tanhNet(3), Config{Method: MAML, InnerSteps: k, InnerLR: 0.1})
		task := sineTask(uint64(k))
		loss, grads, err := l.TaskGrad(task)
		require.NoError(t, err)
		assert.InDelta(t, metaObjective(l, task, k), loss, 1e-12)
		checkAgainstFD(t, l, task, k, grads)

		// First-order MAML drops the Hessian terms: it is the query
		// gradient at the adapted parameters, and differs from MAML.
		fo := NewLearner(l.Model, Config{Method: FOMAML, InnerSteps: k, InnerLR: 0.1})
		_, fograds, err := fo.TaskGrad(task)
		require.NoError(t, err)
		vals := l.AdaptValues(task.XS, task.YS, k, 0)
		leaves := make([]*autograd.Var, len(vals[k]))
		for i, v := range vals[k] {
			leaves[i] = autograd.Param(v)
		}
		want, err := autograd.Grad([]*autograd.Var{l.Loss(leaves, task.XQ, task.YQ)}, leaves, nil, autograd.BackwardOpts{})
		require.NoError(t, err)
		same := true
		for i := range want {
			assert.True(t, tensor.AllClose(want[i].Value(), fograds[i], 1e-12, 1e-12))
			same = same && tensor.AllClose(grads[i], fograds[i], 1e-6, 1e-6)
		}
		assert.False(t, same, "k=%d: FOMAML equals MAML", k)
	}
}

// TestMetaSGDGradientFD checks the meta-gradient with learnable per-element
// inner rates, with respect to both θ and the rates.
func TestMetaSGDGradientFD(t *testing.T) {
	const k = 2
	l := NewLearner(tanhNet(4), Config{Method: MAML, InnerSteps: k, InnerLR: 0.05, LearnInnerLR: true})
	r := rand.New(rand.NewPCG(5, 5))
	for _, lr := range l.LRs { // distinct rates per element
		vals := lr.Value().Float64s()
		for i := range vals {
			vals[i] = 0.02 + 0.1*r.Float64()
		}
		lr.SetValue(tensor.FromSlice(vals, lr.Shape()...))
	}
	task := sineTask(11)
	_, grads, err := l.TaskGrad(task)
	require.NoError(t, err)
	require.Len(t, grads, 2*len(nn.Params(l.Model)))
	checkAgainstFD(t, l, task, k, grads)
}

func TestReptileGradient(t *testing.T) {
	l := NewLearner(tanhNet(6), Config{Method: Reptile, InnerSteps: 4, InnerLR: 0.05})
	task := sineTask(12)
	_, grads, err := l.TaskGrad(task)
	require.NoError(t, err)
	// θ - θ̃ is the sum of the inner steps' lr·∇.
	vals := l.AdaptValues(task.XS, task.YS, 4, 0)
	for i, p := range nn.Params(l.Model) {
		assert.True(t, tensor.AllClose(tensor.Sub(p.Value(), vals[4][i]), grads[i], 1e-12, 1e-12))
		assert.Greater(t, tensor.Sum(tensor.Abs(grads[i]), false).Item(), 0.0)
	}
	// An outer SGD step of rate ε moves θ to θ + ε(θ̃ - θ).
	before := make([]*tensor.Tensor, 0)
	for _, p := range nn.Params(l.Model) {
		before = append(before, p.Value().Clone())
	}
	opt := optim.NewSGD(l.MetaParams(), optim.Options{LR: 0.5})
	_, err = l.Step(context.Background(), []Task{task}, opt, nil)
	require.NoError(t, err)
	for i, p := range nn.Params(l.Model) {
		want := tensor.Add(before[i], tensor.MulScalar(tensor.Sub(vals[4][i], before[i]), 0.5))
		assert.True(t, tensor.AllClose(want, p.Value(), 1e-12, 1e-12))
	}
}

// TestMetaGradParallel checks that the meta-batch gives the same
// meta-gradient on 1 and 3 goroutines (the sum runs in task order).
func TestMetaGradParallel(t *testing.T) {
	tasks := SampleBatch(Sine{K: 5, DType: tensor.Float64}, rand.New(rand.NewPCG(1, 1)), 5)
	for _, m := range []Method{MAML, FOMAML, Reptile} {
		seq := NewLearner(tanhNet(7), Config{Method: m, InnerSteps: 2, InnerLR: 0.05})
		par := NewLearner(seq.Model, Config{Method: m, InnerSteps: 2, InnerLR: 0.05, Workers: 3})
		l1, g1, err := seq.MetaGrad(tasks)
		require.NoError(t, err)
		l2, g2, err := par.MetaGrad(tasks)
		require.NoError(t, err)
		assert.Equal(t, l1, l2, m.String())
		for i := range g1 {
			assert.True(t, tensor.Equal(g1[i], g2[i]), "%v param %d", m, i)
		}
		// The mean over tasks is the mean of the tasks' gradients.
		_, gt, err := seq.TaskGrad(tasks[2])
		require.NoError(t, err)
		assert.False(t, tensor.AllClose(gt[0], g1[0], 1e-9, 1e-9))
	}
}

// TestStepDistributed runs a meta-batch of 4 tasks as 2 ranks of a local
// communicator with 2 tasks each and checks that every rank's replica ends
// where one process with all 4 tasks ends.
func TestStepDistributed(t *testing.T) {
	tasks := SampleBatch(Sine{K: 5, DType: tensor.Float64}, rand.New(rand.NewPCG(2, 2)), 4)
	ctx := context.Background()
	ref := NewLearner(tanhNet(8), Config{Method: MAML, InnerSteps: 1, InnerLR: 0.05})
	refOpt := optim.NewAdam(ref.MetaParams(), optim.Options{LR: 1e-2})
	var refLoss float64
	for range 2 {
		var err error
		refLoss, err = ref.Step(ctx, tasks, refOpt, nil)
		require.NoError(t, err)
	}
	finals := make([][]*tensor.Tensor, 2)
	losses := make([]float64, 2)
	err := local.Run(ctx, 2, func(ctx context.Context, c collectives.Comm) error {
		// Rank 1 starts from different values and gets rank 0's.
		l := NewLearner(tanhNet(8+uint64(c.Rank())*100), Config{Method: MAML, InnerSteps: 1, InnerLR: 0.05, Workers: 2})
		if err := l.Broadcast(ctx, c, 0); err != nil {
			return err
		}
		opt := optim.NewAdam(l.MetaParams(), optim.Options{LR: 1e-2})
		mine := tasks[2*c.Rank() : 2*c.Rank()+2]
		for range 2 {
			loss, err := l.Step(ctx, mine, opt, c)
			if err != nil {
				return err
			}
			losses[c.Rank()] = loss
		}
		for _, p := range nn.Params(l.Model) {
			finals[c.Rank()] = append(finals[c.Rank()], p.Value())
		}
		return nil
	})
	require.NoError(t, err)
	for r := range 2 {
		assert.InDelta(t, refLoss, losses[r], 1e-12)
		for i, p := range nn.Params(ref.Model) {
			assert.True(t, tensor.AllClose(p.Value(), finals[r][i], 1e-12, 1e-12), "rank %d param %d", r, i)
		}
	}
}

// TestMAMLLearnsSine is a short end-to-end check: a few hundred MAML
// iterations lower the post-adaptation query loss on held-out tasks well
// below the untrained model's.
func TestMAMLLearnsSine(t *testing.T) {
	if raceEnabled {
		t.Skip("end-to-end training is slow under -race; TestMetaGradParallel and TestStepDistributed cover the concurrency")
	}
	g := tensor.NewGenerator(1)
	model := nn.NewSequential(nn.NewLinear(g, 1, 40, true), nn.NewReLU(), nn.NewLinear(g, 40, 40, true), nn.NewReLU(), nn.NewLinear(g, 40, 1, true))
	l := NewLearner(model, Config{Method: MAML, InnerSteps: 1, InnerLR: 0.01, Workers: 2})
	sampler := Sine{K: 10}
	eval := SampleBatch(sampler, rand.New(rand.NewPCG(99, 0)), 20)
	score := func() float64 {
		var s float64
		for _, task := range eval {
			vals := l.AdaptValues(task.XS, task.YS, 1, 0)
			s += MSE(autograd.Constant(l.Predict(vals[1], task.XQ)), task.YQ).Item()
		}
		return s / float64(len(eval))
	}
	before := score()
	opt := optim.NewAdam(l.MetaParams(), optim.Options{LR: 5e-3})
	r := rand.New(rand.NewPCG(3, 3))
	const iters = 300
	for range iters {
		_, err := l.Step(context.Background(), SampleBatch(sampler, r, 5), opt, nil)
		require.NoError(t, err)
	}
	after := score()
	t.Logf("query MSE after 1 step: %.3f untrained, %.3f after %d MAML iterations", before, after, iters)
	assert.Less(t, after, 0.6*before)
}
