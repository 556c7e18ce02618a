package main

import (
	"math"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/scaling"
	"github.com/tessera-ml/tessera/tensor"
)

// baseLR is each optimizer's learning rate at the reference batch refBatch;
// the linear scaling rule gives base·B/refBatch at batch B (Goyal et al.).
var baseLR = map[string]float64{"sgd": 0.05, "lars": 0.2, "lamb": 0.004}

const refBatch = 32

func newOptimizer(kind string, ps []*autograd.Var, lr float64) *optim.Optimizer {
	switch kind {
	case "lars":
		return optim.NewLARS(ps, optim.Options{LR: lr, Momentum: 0.9, TrustCoefficient: 0.02})
	case "lamb":
		return optim.NewLAMB(ps, optim.Options{LR: lr})
	}
	return optim.NewSGD(ps, optim.Options{LR: lr, Momentum: 0.9})
}

// run is one training run's result.
type run struct {
	Task      string  `json:"task"`
	Optimizer string  `json:"optimizer"`
	Batch     int     `json:"batch"`
	LRMult    float64 `json:"lr_mult"` // learning rate / the linear rule's
	LR        float64 `json:"lr"`
	Warmup    int     `json:"warmup_steps"`
	Steps     int     `json:"steps_to_target"`   // -1: not reached within the budget
	Seconds   float64 `json:"seconds_to_target"` // training time, without the accuracy checks
	Examples  int     `json:"examples_to_target"`
	FinalAcc  float64 `json:"final_acc"`
	Diverged  bool    `json:"diverged"`
}

// trainRun trains a fresh model with batch b and learning rate lr (reached
// after a linear warm-up over warmup steps) until the test accuracy reaches
// the task's target or maxSteps pass; the accuracy is checked at steps
// spaced 5 % apart, so the steps to target are known to 5 %.
func trainRun(t *task, opt string, b int, lr float64, warmup, maxSteps int, seed uint64) run {
	r := run{Task: t.name, Optimizer: opt, Batch: b, LR: lr, Warmup: warmup, Steps: -1}
	m := t.model(seed)
	o := newOptimizer(opt, nn.Params(m), lr)
	sched := optim.NewScheduler(o, optim.Warmup{Steps: warmup, StartFactor: 1 / float64(max(1, warmup))})
	n := t.nTrain()
	var perm []int
	epoch, pos := 0, n
	next := 1
	start := time.Now()
	var evalTime time.Duration // the accuracy checks do not count
	for step := 1; step <= maxSteps; step++ {
		if pos+b > n {
			perm = data.Permutation(seed*1000+uint64(epoch), n)
			epoch++
			pos = 0
		}
		idx := make([]int64, b)
		for i := range b {
			idx[i] = int64(perm[pos+i])
		}
		pos += b
		it := tensor.FromSlice(idx, b)
		x := autograd.Constant(tensor.IndexSelect(t.xTrain, 0, it))
		y := tensor.IndexSelect(t.yTrain, 0, it)
		o.ZeroGrad()
		loss := nn.CrossEntropy(m.Forward(x), y)
		if l := loss.Item(); math.IsNaN(l) || l > 1e3 {
			r.Diverged = true
			break
		}
		if err := loss.Backward(); err != nil {
			panic(err)
		}
		if err := o.Step(); err != nil {
			panic(err)
		}
		sched.Step()
		if step == next || step == maxSteps {
			next = step + max(1, step/20)
			te := time.Now()
			acc := t.accuracy(m)
			evalTime += time.Since(te)
			r.FinalAcc = acc
			if step >= 100 && acc < 0.2 {
				r.Diverged = true // at chance level: the rate is too large
				break
			}
			if acc >= t.target {
				r.Steps = step
				r.Seconds = (time.Since(start) - evalTime).Seconds()
				r.Examples = step * b
				break
			}
		}
	}
	return r
}

// noisePoint is the noise scale measured at one point of a training run.
type noisePoint struct {
	Task    string  `json:"task"`
	Step    int     `json:"step"`
	Loss    float64 `json:"train_loss"`
	Acc     float64 `json:"test_acc"`
	BSimple float64 `json:"b_simple"`
	GradSq  float64 `json:"grad_sq"`
	TraceS  float64 `json:"trace_sigma"`
}

// noiseRun trains with SGD at batch b (the linear rule's rate) for steps
// steps and, every every steps, estimates B_simple from micro-batch
// gradients: k micro-batches of micro samples (B_small = micro, B_big =
// k·micro, as per-rank and all-reduced gradients in data-parallel training),
// repeated obs times into the moving averages (decay 0.8), and the full
// training loss.
func noiseRun(t *task, b, steps, every, micro, k, obs int, seed uint64) []noisePoint {
	m := t.model(seed)
	ps := nn.Params(m)
	o := newOptimizer("sgd", ps, baseLR["sgd"]*float64(b)/refBatch)
	n := t.nTrain()
	g := tensor.NewGenerator(seed + 77)
	var out []noisePoint
	ns := scaling.NewNoiseScale(0.8)
	var acc scaling.Accumulator
	batch := func(size int) (*autograd.Var, *tensor.Tensor) {
		it := g.RandInt(0, int64(n), size)
		return autograd.Constant(tensor.IndexSelect(t.xTrain, 0, it)), tensor.IndexSelect(t.yTrain, 0, it)
	}
	for step := 0; step <= steps; step++ {
		if step%every == 0 {
			ns.Reset()
			for range obs {
				for range k {
					x, y := batch(micro)
					o.ZeroGrad()
					if err := nn.CrossEntropy(m.Forward(x), y).Backward(); err != nil {
						panic(err)
					}
					acc.Add(ps)
				}
				acc.ObserveInto(ns, micro)
			}
			var loss float64
			autograd.NoGrad(func() { loss = nn.CrossEntropy(m.Forward(autograd.Constant(t.xTrain)), t.yTrain).Item() })
			out = append(out, noisePoint{Task: t.name, Step: step, Loss: loss, Acc: t.accuracy(m), BSimple: ns.BSimple(), GradSq: ns.GradSq(), TraceS: ns.TraceSigma()})
		}
		if step == steps {
			break
		}
		x, y := batch(b)
		o.ZeroGrad()
		if err := nn.CrossEntropy(m.Forward(x), y).Backward(); err != nil {
			panic(err)
		}
		if err := o.Step(); err != nil {
			panic(err)
		}
	}
	return out
}
