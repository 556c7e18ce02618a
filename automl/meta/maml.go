package meta

import (
	"context"
	"fmt"
	"sync"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// Method is a meta-learning algorithm.
type Method int

// The algorithms.
const (
	// MAML differentiates the query loss after the inner SGD steps through
	// the steps themselves (second order: Hessian-vector products of the
	// support loss), Finn et al. 2017.
	MAML Method = iota
	// FOMAML is first-order MAML: the inner gradients are treated as
	// constants, so the meta-gradient is the query gradient at the adapted
	// parameters.
	FOMAML
	// Reptile (Nichol et al. 2018) runs the inner SGD steps and moves the
	// parameters towards the adapted ones: its "meta-gradient" is
	// θ - θ̃, so an outer SGD step of rate ε is θ ← θ + ε(θ̃ - θ).
	Reptile
)

func (m Method) String() string {
	switch m {
	case MAML:
		return "maml"
	case FOMAML:
		return "fomaml"
	case Reptile:
		return "reptile"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// LossFunc is a task loss of predictions against targets.
type LossFunc func(pred *autograd.Var, y *tensor.Tensor) *autograd.Var

// MSE is the mean squared error against float targets of pred's shape.
func MSE(pred *autograd.Var, y *tensor.Tensor) *autograd.Var {
	return nn.MSELoss(pred, autograd.Constant(y))
}

// CrossEntropy is the softmax cross-entropy against Int64 class targets.
func CrossEntropy(pred *autograd.Var, y *tensor.Tensor) *autograd.Var {
	return nn.CrossEntropy(pred, y)
}

// Config configures a Learner.
type Config struct {
	Method     Method
	InnerSteps int     // SGD steps on the support set per task (≥ 1)
	InnerLR    float64 // inner step size α (the initial value with LearnInnerLR)
	// LearnInnerLR makes the inner step sizes meta-parameters, one per
	// parameter element (Meta-SGD, Li et al. 2017): θ' = θ - α ⊙ ∇L.
	// MAML and FOMAML only.
	LearnInnerLR bool
	Loss         LossFunc // nil: MSE
	// Workers is the number of goroutines that process the tasks of a
	// meta-batch in parallel (0 or 1: sequentially).
	Workers int
}

// Learner meta-trains a model. The model's parameters are the
// meta-parameters θ (and, with LearnInnerLR, the step sizes LRs); the model
// itself is never mutated by adaptation: the inner loop runs on functional
// copies (nn.WithParamList), so tasks can be processed concurrently. The
// model must not have buffers its Forward updates (no BatchNorm in training
// mode) when Workers > 1.
type Learner struct {
	Model nn.Module
	Cfg   Config
	// LRs are the learnable inner step sizes (one Var per parameter, of its
	// shape), nil unless Cfg.LearnInnerLR.
	LRs []*autograd.Var
}

// NewLearner returns a learner of model.
func NewLearner(model nn.Module, cfg Config) *Learner {
	if cfg.InnerSteps < 1 || cfg.InnerLR <= 0 {
		panic(&tensor.Error{Op: "meta.NewLearner", Msg: fmt.Sprintf("%d inner steps of rate %g", cfg.InnerSteps, cfg.InnerLR)})
	}
	if cfg.LearnInnerLR && cfg.Method == Reptile {
		panic(&tensor.Error{Op: "meta.NewLearner", Msg: "learnable inner rates need MAML or FOMAML"})
	}
	if cfg.Loss == nil {
		cfg.Loss = MSE
	}
	l := &Learner{Model: model, Cfg: cfg}
	if cfg.LearnInnerLR {
		for _, p := range nn.Params(model) {
			lr := tensor.FullLike(p.Value(), cfg.InnerLR)
			l.LRs = append(l.LRs, autograd.Param(lr))
		}
	}
	return l
}

// MetaParams returns the meta-parameters: the model's parameters followed
// by the learnable step sizes (what the outer optimizer updates).
func (l *Learner) MetaParams() []*autograd.Var {
	return append(nn.Params(l.Model), l.LRs...)
}

// step returns θ - α·g for parameter i, with α the scalar rate or LRs[i].
func (l *Learner) step(i int, p, g *autograd.Var) *autograd.Var {
	if l.LRs != nil {
		return autograd.Sub(p, autograd.Mul(l.LRs[i], g))
	}
	return autograd.Sub(p, autograd.MulScalar(g, l.Cfg.InnerLR))
}

// Loss returns the task loss of the model with parameters params on (x, y).
func (l *Learner) Loss(params []*autograd.Var, x, y *tensor.Tensor) *autograd.Var {
	return l.Cfg.Loss(nn.WithParamList(l.Model, params).Forward(autograd.Constant(x)), y)
}

// Adapt runs steps inner SGD steps from the model's parameters on the
// support set (x, y) and returns the adapted parameters. With create the
// steps are differentiable to second order (MAML's graph); otherwise the
// inner gradients are constants, and the result still depends on θ (and
// on LRs) through the update, as FOMAML needs.
func (l *Learner) Adapt(x, y *tensor.Tensor, steps int, create bool) ([]*autograd.Var, error) {
	fast := nn.Params(l.Model)
	for range steps {
		var grads []*autograd.Var
		if create {
			loss := l.Loss(fast, x, y)
			g, err := autograd.Grad([]*autograd.Var{loss}, fast, nil, autograd.BackwardOpts{CreateGraph: true})
			if err != nil {
				return nil, err
			}
			grads = g
		} else {
			// The gradient at detached copies of the current values: the
			// earlier steps' graph is neither traversed nor freed.
			leaves := make([]*autograd.Var, len(fast))
			for i, f := range fast {
				leaves[i] = autograd.Param(f.Value())
			}
			loss := l.Loss(leaves, x, y)
			g, err := autograd.Grad([]*autograd.Var{loss}, leaves, nil, autograd.BackwardOpts{})
			if err != nil {
				return nil, err
			}
			grads = g
		}
		next := make([]*autograd.Var, len(fast))
		for i := range fast {
			next[i] = l.step(i, fast[i], grads[i])
		}
		fast = next
	}
	return fast, nil
}

// AdaptValues runs steps plain SGD steps of rate lr (0: the learner's
// rates) from the model's parameters on (x, y) without recording any graph
// for the meta-parameters, and returns the adapted values after each step
// (index 0 is the start). It is how a learner is evaluated.
func (l *Learner) AdaptValues(x, y *tensor.Tensor, steps int, lr float64) [][]*tensor.Tensor {
	cur := make([]*tensor.Tensor, 0)
	for _, p := range nn.Params(l.Model) {
		cur = append(cur, p.Value())
	}
	out := [][]*tensor.Tensor{cur}
	for range steps {
		leaves := make([]*autograd.Var, len(cur))
		for i, c := range cur {
			leaves[i] = autograd.Param(c)
		}
		loss := l.Loss(leaves, x, y)
		g, err := autograd.Grad([]*autograd.Var{loss}, leaves, nil, autograd.BackwardOpts{})
		if err != nil {
			panic(err) // loss requires a gradient through the leaves by construction
		}
		next := make([]*tensor.Tensor, len(cur))
		for i := range cur {
			switch {
			case lr > 0:
				next[i] = tensor.Sub(cur[i], tensor.MulScalar(g[i].Value(), lr))
			case l.LRs != nil:
				next[i] = tensor.Sub(cur[i], tensor.Mul(l.LRs[i].Value(), g[i].Value()))
			default:
				next[i] = tensor.Sub(cur[i], tensor.MulScalar(g[i].Value(), l.Cfg.InnerLR))
			}
		}
		cur = next
		out = append(out, cur)
	}
	return out
}

// Predict returns the model's output on x with parameter values params.
func (l *Learner) Predict(params []*tensor.Tensor, x *tensor.Tensor) *tensor.Tensor {
	var out *tensor.Tensor
	autograd.NoGrad(func() {
		vs := make([]*autograd.Var, len(params))
		for i, p := range params {
			vs[i] = autograd.Constant(p)
		}
		out = nn.WithParamList(l.Model, vs).Forward(autograd.Constant(x)).Value()
	})
	return out
}

// TaskGrad returns the query loss after adaptation and the meta-gradient of
// one task with respect to MetaParams (for Reptile, θ - θ̃ and no rates).
func (l *Learner) TaskGrad(t Task) (float64, []*tensor.Tensor, error) {
	if l.Cfg.Method == Reptile {
		vals := l.AdaptValues(t.XS, t.YS, l.Cfg.InnerSteps, 0)
		final := vals[len(vals)-1]
		var loss float64
		autograd.NoGrad(func() { loss = l.Cfg.Loss(autograd.Constant(l.Predict(final, t.XQ)), t.YQ).Item() })
		grads := make([]*tensor.Tensor, len(final))
		for i := range final {
			grads[i] = tensor.Sub(vals[0][i], final[i])
		}
		return loss, grads, nil
	}
	fast, err := l.Adapt(t.XS, t.YS, l.Cfg.InnerSteps, l.Cfg.Method == MAML)
	if err != nil {
		return 0, nil, err
	}
	q := l.Loss(fast, t.XQ, t.YQ)
	g, err := autograd.Grad([]*autograd.Var{q}, l.MetaParams(), nil, autograd.BackwardOpts{})
	if err != nil {
		return 0, nil, err
	}
	out := make([]*tensor.Tensor, len(g))
	for i := range g {
		out[i] = g[i].Value()
	}
	return q.Item(), out, nil
}

// MetaGrad returns the mean query loss and the mean meta-gradient over
// tasks, processing them on Cfg.Workers goroutines. The sum runs in task
// order, so the result does not depend on the number of workers.
func (l *Learner) MetaGrad(tasks []Task) (float64, []*tensor.Tensor, error) {
	if len(tasks) == 0 {
		return 0, nil, fmt.Errorf("meta: MetaGrad of an empty meta-batch")
	}
	losses := make([]float64, len(tasks))
	grads := make([][]*tensor.Tensor, len(tasks))
	errs := make([]error, len(tasks))
	run := func(i int) {
		var err error
		if perr := tensor.Try(func() { losses[i], grads[i], err = l.TaskGrad(tasks[i]) }); perr != nil {
			err = perr
		}
		errs[i] = err
	}
	workers := max(1, min(l.Cfg.Workers, len(tasks)))
	if workers == 1 {
		for i := range tasks {
			run(i)
		}
	} else {
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := range next {
					run(i)
				}
			})
		}
		for i := range tasks {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	var loss float64
	var sum []*tensor.Tensor
	for i := range tasks {
		if errs[i] != nil {
			return 0, nil, fmt.Errorf("meta: task %d: %w", i, errs[i])
		}
		loss += losses[i]
		if sum == nil {
			sum = make([]*tensor.Tensor, len(grads[i]))
			for j, g := range grads[i] {
				sum[j] = g.Clone()
			}
			continue
		}
		for j, g := range grads[i] {
			tensor.AddInto(sum[j], sum[j], g)
		}
	}
	inv := 1 / float64(len(tasks))
	for j := range sum {
		sum[j] = tensor.MulScalar(sum[j], inv)
	}
	return loss * inv, sum, nil
}

// Step computes the meta-gradient of tasks, averages it over the ranks of
// comm (nil: this process alone; every rank passes its own tasks and owns
// a replica of the model with the same values, see Broadcast), sets it as
// the meta-parameters' gradients and takes one step of opt (an optimizer
// over MetaParams). It returns the mean query loss (averaged over ranks).
func (l *Learner) Step(ctx context.Context, tasks []Task, opt *optim.Optimizer, comm collectives.Comm) (float64, error) {
	loss, grads, err := l.MetaGrad(tasks)
	if err != nil {
		return 0, err
	}
	if comm != nil && comm.Size() > 1 {
		flat := tensor.Concat(reshapeFlat(append(grads, tensor.Full(loss, grads[0].DType(), 1))), 0)
		if err := comm.AllReduce(ctx, flat, collectives.Avg); err != nil {
			return 0, err
		}
		off := 0
		for i, g := range grads {
			n := g.NumElements()
			grads[i] = flat.Slice(0, off, off+n, 1).Reshape(g.Shape()...)
			off += n
		}
		loss = flat.Slice(0, off, off+1, 1).Item()
	}
	for i, p := range l.MetaParams() {
		p.SetGrad(grads[i])
	}
	if err := opt.Step(); err != nil {
		return 0, err
	}
	return loss, nil
}

func reshapeFlat(ts []*tensor.Tensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ts))
	for i, t := range ts {
		out[i] = t.Reshape(t.NumElements())
	}
	return out
}

// Broadcast copies rank root's meta-parameters to every rank of comm, so
// replicas start equal.
func (l *Learner) Broadcast(ctx context.Context, comm collectives.Comm, root int) error {
	for _, p := range l.MetaParams() {
		if err := comm.Broadcast(ctx, p.Value(), root); err != nil {
			return err
		}
	}
	return nil
}
