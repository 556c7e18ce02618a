package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/robust"
	"github.com/tessera-ml/tessera/robust/attack"
	"github.com/tessera-ml/tessera/tensor"
)

// Config is one training run.
type Config struct {
	N, F     int    // workers, Byzantine workers (the last F ranks)
	Rule     string // robust.ByName name, e.g. "krum" or "bucket2+median"
	RuleOpts robust.Options
	Attack   attack.Attack // nil: attack.None
	// Alpha is the Dirichlet concentration of the non-IID split; 0 or
	// +Inf means IID.
	Alpha     float64
	Hidden    int     // MLP width; 0 means 128
	Steps     int     // server steps; 0 means 300
	Batch     int     // per-worker batch; 0 means 25
	LR        float64 // 0 means 0.1
	Momentum  float64 // worker momentum β; negative means none, 0 means 0.9 (see beta)
	EvalEvery int     // test-accuracy points for the curve; 0 means Steps/10
	Seed      uint64
	Progress  io.Writer // nil: quiet
}

// Result is what a run measured.
type Result struct {
	Accuracy  float64   // final test accuracy (360 held-out digits)
	Curve     []float64 // test accuracy at steps CurveStep
	CurveStep []int
	Diverged  bool // the loss or the weights became non-finite
	Seconds   float64
	Params    int // d
	// Spread is the honest vectors' mean distance from their mean,
	// ‖mᵢ − m̄‖ averaged over honest workers and steps: the scale that
	// centered clipping's τ is compared with.
	Spread   float64
	RuleName string
	Attack   string
}

func (c *Config) defaults() error {
	if c.Hidden == 0 {
		c.Hidden = 128
	}
	if c.Steps == 0 {
		c.Steps = 300
	}
	if c.Batch == 0 {
		c.Batch = 25
	}
	if c.LR == 0 {
		c.LR = 0.1
	}
	if c.Momentum == 0 {
		c.Momentum = 0.9
	}
	// A negative Momentum (none) stays negative, so defaults is idempotent
	// (Train and RunRank both apply it); beta() reads it as 0.
	if c.EvalEvery == 0 {
		c.EvalEvery = max(c.Steps/10, 1)
	}
	if c.Attack == nil {
		c.Attack = attack.None{}
	}
	if c.N < 1 || c.F < 0 || c.F >= c.N || c.Hidden < 1 || c.Steps < 1 || c.Batch < 1 || !(c.LR > 0) || c.Momentum >= 1 {
		return fmt.Errorf("trainer: bad config n=%d f=%d hidden=%d steps=%d batch=%d lr=%g momentum=%g", c.N, c.F, c.Hidden, c.Steps, c.Batch, c.LR, c.Momentum)
	}
	return nil
}

// beta is the worker momentum coefficient: Momentum, or 0 when negative.
func (c *Config) beta() float64 { return max(c.Momentum, 0) }

// Train runs cfg with the workers as ranks of the local backend and
// returns rank 0's result.
func Train(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	if err := CheckRule(cfg); err != nil {
		return Result{}, err
	}
	var res Result
	err := local.Run(ctx, cfg.N, func(ctx context.Context, c collectives.Comm) error {
		r, err := RunRank(ctx, c, cfg)
		if c.Rank() == 0 {
			res = r
		}
		return err
	})
	return res, err
}

// CheckRule builds cfg's rule and runs it once on random vectors, so a
// rule that cannot run at cfg.N, cfg.F fails before training starts (with
// an error wrapping robust.ErrTooFew) instead of at the first step.
func CheckRule(cfg Config) error {
	rule, err := robust.ByName(cfg.Rule, cfg.N, cfg.F, cfg.RuleOpts)
	if err != nil {
		return err
	}
	if cc, ok := rule.(*robust.CenteredClipping); ok && !(cc.Tau > 0) {
		return fmt.Errorf("trainer: centered clipping needs tau > 0")
	}
	_, err = rule.Aggregate(tensor.NewGenerator(1).Normal(0, 1, tensor.Float32, cfg.N, 3))
	return err
}

// shards splits the training set among the workers (the same on every rank).
func shards(cfg Config, train *data.ArrayDataset) ([][]int, error) {
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5a17))
	if cfg.Alpha == 0 || math.IsInf(cfg.Alpha, 1) {
		return attack.SplitIID(train.Len(), cfg.N, rng)
	}
	return attack.SplitDirichlet(train.Y, data.DigitsClasses, cfg.N, cfg.Alpha, 2, rng)
}

// newMLP is the quickstart model: Flatten, Linear+ReLU, Linear.
func newMLP(seed uint64, hidden int) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	return nn.NewSequential(nn.NewFlatten(),
		nn.NewLinear(g, 64, hidden, true), nn.NewReLU(),
		nn.NewLinear(g, hidden, data.DigitsClasses, true))
}

// RunRank is rank c.Rank()'s training loop; every rank of c must call it
// with the same cfg (c.Size() must equal cfg.N). Rank 0 is the server and
// returns the result; the other ranks return a zero Result.
func RunRank(ctx context.Context, c collectives.Comm, cfg Config) (Result, error) {
	if err := cfg.defaults(); err != nil {
		return Result{}, err
	}
	if c.Size() != cfg.N {
		return Result{}, fmt.Errorf("trainer: communicator of %d ranks for n=%d", c.Size(), cfg.N)
	}
	rank := c.Rank()
	byz := rank >= cfg.N-cfg.F
	train, test := data.DigitsSplit()
	sh, err := shards(cfg, train)
	if err != nil {
		return Result{}, err
	}
	mine := train.Subset(sh[rank])
	xAll, yAll := mine.Tensors()
	if la, ok := cfg.Attack.(attack.LabelAttack); ok && byz {
		ys := yAll.Int64s()
		for i, y := range ys {
			ys[i] = la.Label(y, data.DigitsClasses)
		}
		yAll = tensor.FromSlice(ys, len(ys))
	}
	model := newMLP(cfg.Seed, cfg.Hidden)
	params := nn.Params(model)
	d := 0
	for _, p := range params {
		d += p.Value().NumElements()
	}
	var rule robust.Aggregator
	if rank == 0 {
		ro := cfg.RuleOpts
		if ro.Seed == 0 {
			ro.Seed = cfg.Seed
		}
		if rule, err = robust.ByName(cfg.Rule, cfg.N, cfg.F, ro); err != nil {
			return Result{}, err
		}
	}
	res := Result{Params: d, Attack: cfg.Attack.Name()}
	if rule != nil {
		res.RuleName = rule.Name()
	}
	mom := tensor.Zeros(tensor.Float32, d)
	gathered := tensor.Zeros(tensor.Float32, cfg.N*d)
	aggBuf := tensor.Zeros(tensor.Float32, d)
	brng := rand.New(rand.NewPCG(cfg.Seed, uint64(rank)+1))
	gen := tensor.NewGenerator(cfg.Seed ^ 0xa77ac)
	perm, pos := brng.Perm(mine.Len()), 0
	start := time.Now()
	for step := range cfg.Steps {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		// This worker's minibatch: the next Batch indices of its shuffled shard.
		idx := make([]int64, cfg.Batch)
		for i := range idx {
			if pos == len(perm) {
				perm, pos = brng.Perm(mine.Len()), 0
			}
			idx[i] = int64(perm[pos])
			pos++
		}
		it := tensor.FromSlice(idx, len(idx))
		nn.ZeroGrad(model)
		loss := nn.CrossEntropy(model.Forward(autograd.Constant(tensor.IndexSelect(xAll, 0, it))), tensor.IndexSelect(yAll, 0, it))
		if err := loss.Backward(); err != nil {
			return res, err
		}
		grads := make([]*tensor.Tensor, len(params))
		for i, p := range params {
			grads[i] = p.Grad().Reshape(-1)
		}
		g := tensor.Concat(grads, 0)
		// m ← β·m + (1−β)·g
		b := cfg.beta()
		mom = tensor.Add(tensor.MulScalar(mom, b), tensor.MulScalar(g, 1-b))
		if err := c.AllGather(ctx, gathered, mom); err != nil {
			return res, err
		}
		if rank == 0 {
			x := gathered.Reshape(cfg.N, d)
			h := x.Narrow(0, 0, cfg.N-cfg.F)
			res.Spread += tensor.Mean(tensor.Norm(tensor.Sub(h, tensor.Mean(h, true, 0)), 2, false, 1), false).Item() / float64(cfg.Steps)
			agg, err := serverStep(cfg, rule, x, gen)
			if err != nil {
				c.Abort(err)
				return res, err
			}
			aggBuf.CopyFrom(agg)
		}
		if err := c.Broadcast(ctx, aggBuf, 0); err != nil {
			return res, err
		}
		// w ← w − η·agg, on every replica
		off := 0
		for _, p := range params {
			v := p.Value()
			n := v.NumElements()
			tensor.SubInto(v, v, tensor.MulScalar(aggBuf.Narrow(0, off, n).Reshape(v.Shape()...), cfg.LR))
			off += n
		}
		if rank == 0 && ((step+1)%cfg.EvalEvery == 0 || step+1 == cfg.Steps) {
			acc := evaluate(model, test)
			res.Curve = append(res.Curve, acc)
			res.CurveStep = append(res.CurveStep, step+1)
			if l := loss.Value().Item(); math.IsNaN(l) || math.IsInf(l, 0) || !finite(aggBuf) {
				res.Diverged = true
			}
			if cfg.Progress != nil {
				el := time.Since(start).Seconds()
				fmt.Fprintf(cfg.Progress, "  %s/%s n=%d f=%d step %d/%d loss %.3f test acc %.3f (%.1f s, ETA %.1f s)\n",
					res.RuleName, res.Attack, cfg.N, cfg.F, step+1, cfg.Steps, loss.Value().Item(), acc, el, el/float64(step+1)*float64(cfg.Steps-step-1))
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if rank == 0 {
		res.Accuracy = res.Curve[len(res.Curve)-1]
	}
	return res, nil
}

// serverStep replaces the Byzantine rows with the attacker's vectors and
// aggregates.
func serverStep(cfg Config, rule robust.Aggregator, x *tensor.Tensor, gen *tensor.Generator) (*tensor.Tensor, error) {
	if cfg.F > 0 {
		h := cfg.N - cfg.F
		honest := x.Narrow(0, 0, h).Contiguous()
		own := x.Narrow(0, h, cfg.F).Contiguous()
		forged, err := cfg.Attack.Forge(attack.Input{Honest: honest, Own: own, N: cfg.N, F: cfg.F, Rule: rule, Gen: gen})
		if err != nil {
			return nil, err
		}
		x = tensor.Concat([]*tensor.Tensor{honest, forged.Cast(x.DType())}, 0)
	}
	agg, err := rule.Aggregate(x)
	if err != nil {
		return nil, err
	}
	return agg.Cast(tensor.Float32), nil
}

func finite(t *tensor.Tensor) bool {
	for _, v := range t.Float32s() {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return true
}

// evaluate returns the model's accuracy on ds (NaN logits count as wrong).
func evaluate(model nn.Module, ds *data.ArrayDataset) float64 {
	x, y := ds.Tensors()
	var logits *tensor.Tensor
	autograd.NoGrad(func() { logits = model.Forward(autograd.Constant(x)).Value() })
	pred := tensor.ArgMax(logits, -1, false).Int64s()
	ys := y.Int64s()
	ok := 0
	for i := range ys {
		if pred[i] == ys[i] && !math.IsNaN(logits.At(i, int(pred[i]))) {
			ok++
		}
	}
	return float64(ok) / float64(len(ys))
}

// ErrPrecondition reports whether err is a rule's n-too-small-for-f error.
func ErrPrecondition(err error) bool { return errors.Is(err, robust.ErrTooFew) }
