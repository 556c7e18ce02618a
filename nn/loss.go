package nn

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// Reduction says how a loss combines its per-element values.
type Reduction int

// The reductions. Mean (the default) averages over the elements that count
// (for CrossEntropy and NLLLoss, the targets that are not ignored).
const (
	Mean Reduction = iota
	Sum
	None
)

// LossOption configures a loss.
type LossOption func(*lossConfig)

type lossConfig struct {
	reduction      Reduction
	ignoreIndex    int64
	labelSmoothing float64
}

// WithReduction selects the reduction (default Mean); it panics with a
// *tensor.Error for a value that is not one of Mean, Sum and None.
func WithReduction(r Reduction) LossOption {
	if r < Mean || r > None {
		panic(tensor.Errorf("nn.WithReduction", "unknown reduction %d", r))
	}
	return func(c *lossConfig) { c.reduction = r }
}

// IgnoreIndex sets the target value that contributes neither loss nor
// gradient (default -100, as in PyTorch).
func IgnoreIndex(i int64) LossOption { return func(c *lossConfig) { c.ignoreIndex = i } }

// LabelSmoothing mixes the one-hot target with the uniform distribution:
// the target becomes (1-eps)·onehot + eps/C. eps must lie in [0, 1] (as
// PyTorch requires); otherwise it panics with a *tensor.Error.
func LabelSmoothing(eps float64) LossOption {
	if !(eps >= 0 && eps <= 1) {
		panic(tensor.Errorf("nn.LabelSmoothing", "smoothing %v outside [0, 1]", eps))
	}
	return func(c *lossConfig) { c.labelSmoothing = eps }
}

func lossOpts(opts []LossOption) lossConfig {
	c := lossConfig{ignoreIndex: -100}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// classTargets checks logits [..., C] against Int64 targets [...] and
// returns the row count, the class count, the flat targets with ignored
// entries replaced by 0 and the Bool validity mask.
func classTargets(op string, logits *autograd.Var, targets *tensor.Tensor, ignore int64) (int, int, *tensor.Tensor, *tensor.Tensor) {
	ls := logits.Shape()
	if len(ls) < 1 || targets.DType() != tensor.Int64 || !targets.Shape().Equal(ls[:len(ls)-1]) {
		panic(tensor.Errorf(op, "logits %v with %v targets %v; want logits [..., C] and int64 targets [...]", ls, targets.DType(), targets.Shape()))
	}
	c := ls[len(ls)-1]
	m := ls.NumElements() / max(c, 1)
	t := targets.Reshape(m)
	valid := tensor.CompareScalar(tensor.OpNe, t, float64(ignore))
	safe := tensor.Where(valid, t, tensor.EmptyOn(t.Device(), tensor.Int64))
	return m, c, safe, valid
}

// reduceRows applies the reduction to per-row losses [M] and returns the
// loss and the weight each valid row's gradient gets (a 0-d tensor, so no
// value has to come back to the host).
func reduceRows(op string, per *tensor.Tensor, valid *tensor.Tensor, r Reduction, shape tensor.Shape) (*tensor.Tensor, *tensor.Tensor) {
	one := tensor.EmptyOn(per.Device(), per.DType())
	one.Device().Fill(one.View(), 1)
	switch r {
	case Mean:
		inv := tensor.Reciprocal(tensor.Sum(valid, false).Cast(per.DType()))
		return tensor.Mul(tensor.Sum(per, false), inv), inv
	case Sum:
		return tensor.Sum(per, false), one
	case None:
		return per.Reshape(shape...), one
	}
	panic(tensor.Errorf(op, "unknown reduction %d", r))
}

// CrossEntropy is the softmax cross-entropy of logits [..., C] (classes on
// the last axis) against Int64 class targets [...], with optional label
// smoothing and an ignored target value. The forward pass is fused: one
// log-softmax, a gather and the smoothing term, never materialising the
// softmax twice; the gradient is (softmax - target distribution) scaled by
// the reduction weight, itself written with autograd ops so it can be
// differentiated again.
func CrossEntropy(logits *autograd.Var, targets *tensor.Tensor, opts ...LossOption) *autograd.Var {
	const op = "nn.CrossEntropy"
	cfg := lossOpts(opts)
	m, c, safe, valid := classTargets(op, logits, targets, cfg.ignoreIndex)
	dt := logits.DType()
	x := logits.Value().Reshape(m, c)
	logp := tensor.LogSoftmax(x, -1)
	eps := cfg.labelSmoothing
	per := tensor.Neg(tensor.Gather(logp, 1, safe.Reshape(m, 1)).Reshape(m))
	if eps != 0 {
		smooth := tensor.MulScalar(tensor.Sum(logp, false, 1), -1/float64(c))
		per = tensor.Add(tensor.MulScalar(per, 1-eps), tensor.MulScalar(smooth, eps))
	}
	per = tensor.Where(valid, per, tensor.EmptyOn(x.Device(), dt))
	loss, scale := reduceRows(op, per, valid, cfg.reduction, targets.Shape())
	ls := logits.Shape()
	red := cfg.reduction
	return autograd.Record(op, loss, []*autograd.Var{logits}, func(ctx *autograd.Ctx, g *autograd.Var) []*autograd.Var {
		if !ctx.CreateGraph() && x.Device() == tensor.CPU && (dt == tensor.Float32 || dt == tensor.Float64) {
			// One pass over the saved log-probabilities: (softmax - target)·weight.
			gv := g.Value()
			if red == None {
				gv = gv.Reshape(m)
			}
			var gr *tensor.Tensor
			if dt == tensor.Float32 {
				gr = crossEntropyGradCPU[float32](logp, safe, valid, scale, gv, eps)
			} else {
				gr = crossEntropyGradCPU[float64](logp, safe, valid, scale, gv, eps)
			}
			return []*autograd.Var{autograd.Constant(gr.Reshape(ls...))}
		}
		classes := tensor.Arange(0, float64(c), 1, tensor.Int64).To(x.Device())
		q := tensor.Eq(safe.Reshape(m, 1), classes.Reshape(1, c)).Cast(dt)
		if eps != 0 {
			q = tensor.Affine(q, 1-eps, eps/float64(c))
		}
		p := autograd.Softmax(autograd.Reshape(ctx.Input(0), m, c), -1)
		gr := autograd.Mul(autograd.Sub(p, autograd.Constant(q)), autograd.Constant(scale))
		// Ignored rows get exactly zero (not NaN·0 from non-finite logits).
		gr = autograd.Where(valid.Reshape(m, 1), gr, autograd.Constant(tensor.EmptyOn(x.Device(), dt)))
		if red == None {
			gr = autograd.Mul(gr, autograd.Reshape(g, m, 1))
		} else {
			gr = autograd.Mul(gr, g)
		}
		return []*autograd.Var{autograd.Reshape(gr, ls...)}
	})
}

// crossEntropyGradCPU returns the gradient of CrossEntropy with respect to
// the logits, (exp(logp) - q)·scale·g row by row, where q is the (smoothed)
// one-hot target; rows with an ignored target get exactly zero. g is the
// output gradient: one element, or one per row (Reduction None).
func crossEntropyGradCPU[T float32 | float64](logp, safe, valid, scale, g *tensor.Tensor, eps float64) *tensor.Tensor {
	m, c := logp.Dim(0), logp.Dim(1)
	lp := tensor.ToSlice[T](logp)
	ts, ok := tensor.ToSlice[int64](safe), tensor.ToSlice[bool](valid)
	gs := tensor.ToSlice[T](g)
	sc := T(scale.Item())
	out := tensor.Empty(logp.DType(), m, c)
	d := tensor.HostData(out.Storage()).([]T)
	off, on := T(eps/float64(c)), T(1-eps+eps/float64(c))
	for i := range m {
		row, dr := lp[i*c:(i+1)*c], d[i*c:(i+1)*c]
		if !ok[i] {
			clear(dr)
			continue
		}
		w := sc * gs[min(i, len(gs)-1)]
		for j, v := range row {
			dr[j] = (T(math.Exp(float64(v))) - off) * w
		}
		t := ts[i]
		dr[t] = (T(math.Exp(float64(row[t]))) - on) * w
	}
	return out
}

// NLLLoss is the negative log-likelihood of log-probabilities logp [..., C]
// (classes on the last axis) at Int64 targets [...], with an ignored target
// value (label smoothing does not apply).
func NLLLoss(logp *autograd.Var, targets *tensor.Tensor, opts ...LossOption) *autograd.Var {
	const op = "nn.NLLLoss"
	cfg := lossOpts(opts)
	m, c, safe, valid := classTargets(op, logp, targets, cfg.ignoreIndex)
	picked := autograd.Reshape(autograd.Gather(autograd.Reshape(logp, m, c), 1, safe.Reshape(m, 1)), m)
	per := autograd.Neg(autograd.Mul(picked, autograd.Constant(valid.Cast(logp.DType()))))
	switch cfg.reduction {
	case Mean:
		inv := tensor.Reciprocal(tensor.Sum(valid, false).Cast(logp.DType()))
		return autograd.Mul(autograd.Sum(per, false), autograd.Constant(inv))
	case Sum:
		return autograd.Sum(per, false)
	case None:
		return autograd.Reshape(per, targets.Shape()...)
	}
	panic(tensor.Errorf(op, "unknown reduction %d", cfg.reduction))
}

func reduceElems(op string, per *autograd.Var, r Reduction) *autograd.Var {
	switch r {
	case Mean:
		return autograd.Mean(per, false)
	case Sum:
		return autograd.Sum(per, false)
	case None:
		return per
	}
	panic(tensor.Errorf(op, "unknown reduction %d", r))
}

func sameShape(op string, a, b *autograd.Var) {
	if !a.Shape().Equal(b.Shape()) {
		panic(tensor.Errorf(op, "prediction shape %v and target shape %v differ", a.Shape(), b.Shape()))
	}
}

// MSELoss is the mean squared error between pred and target (same shapes).
func MSELoss(pred, target *autograd.Var, opts ...LossOption) *autograd.Var {
	sameShape("nn.MSELoss", pred, target)
	return reduceElems("nn.MSELoss", autograd.Square(autograd.Sub(pred, target)), lossOpts(opts).reduction)
}

// BCEWithLogits is the binary cross-entropy of sigmoid(logits) against
// targets in [0, 1], computed stably as max(x,0) - x·y + log(1+e^-|x|).
func BCEWithLogits(logits, targets *autograd.Var, opts ...LossOption) *autograd.Var {
	sameShape("nn.BCEWithLogits", logits, targets)
	x := logits
	per := autograd.Add(autograd.Sub(autograd.ReLU(x), autograd.Mul(x, targets)),
		autograd.Log1p(autograd.Exp(autograd.Neg(autograd.Abs(x)))))
	return reduceElems("nn.BCEWithLogits", per, lossOpts(opts).reduction)
}
