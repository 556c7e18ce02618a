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
	weight         *tensor.Tensor
	classAxis      int // 0: from the shapes; 1 or -1: forced
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

// ClassWeights gives CrossEntropy and NLLLoss a weight per class, w [C]
// (PyTorch's weight argument): each target's loss is multiplied by the
// weight of its class, and the Mean reduction divides by the sum of the
// weights of the targets that are not ignored, Σ w[y]·loss / Σ w[y]. With
// label smoothing, the smoothing term of a row is Σ_c w[c]·(-log p_c)·eps/C,
// as in PyTorch. w is converted to the logits' dtype.
func ClassWeights(w *tensor.Tensor) LossOption {
	if w == nil || w.NDim() != 1 || !w.DType().IsFloat() {
		panic(tensor.Errorf("nn.ClassWeights", "weights %v; want a 1-D floating-point tensor [C]", describe(w)))
	}
	return func(c *lossConfig) { c.weight = w }
}

// ClassAxis says where CrossEntropy and NLLLoss find the classes of logits
// of three or more axes: 1 (PyTorch's layout, logits [N, C, d1, ...] with
// targets [N, d1, ...]) or -1 (the last axis, logits [..., C] with targets
// [...]). Without it the layout follows from the targets' shape, and shapes
// that fit both (logits [N, C, C] with targets [N, C], say) panic.
func ClassAxis(axis int) LossOption {
	if axis != 1 && axis != -1 {
		panic(tensor.Errorf("nn.ClassAxis", "axis %d; want 1 or -1", axis))
	}
	return func(c *lossConfig) { c.classAxis = axis }
}

func describe(t *tensor.Tensor) string {
	if t == nil {
		return "nil"
	}
	return t.DType().String() + " " + t.Shape().String()
}

func lossOpts(opts []LossOption) lossConfig {
	c := lossConfig{ignoreIndex: -100}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// classRows is the input of a class loss as rows: logits (or
// log-probabilities) with the classes last, flattened to [m, c].
type classRows struct {
	x     *autograd.Var  // [..., C]: the input, its class axis moved last
	m, c  int            // rows and classes
	safe  *tensor.Tensor // [m] Int64 targets, ignored ones replaced by 0
	valid *tensor.Tensor // [m] Bool: the target is not ignored
	wy    *tensor.Tensor // [m] weight of each row's target, 0 where ignored
	cw    *tensor.Tensor // [C] class weights, nil without
}

// classTargets checks the input [..., C] or [N, C, d1, ...] against Int64
// targets [...] or [N, d1, ...] (see ClassAxis) and returns its rows.
func classTargets(op string, x *autograd.Var, targets *tensor.Tensor, cfg lossConfig) classRows {
	ls, ts := x.Shape(), targets.Shape()
	nd := len(ls)
	last := nd >= 1 && ts.Equal(ls[:nd-1])
	second := nd >= 3 && ts.Equal(append(tensor.Shape{ls[0]}, ls[2:]...))
	switch cfg.classAxis {
	case -1:
		second = false
	case 1:
		last = last && nd <= 2
	}
	if targets.DType() != tensor.Int64 || !(last || second) {
		panic(tensor.Errorf(op, "logits %v with %v targets %v; want logits [..., C] and int64 targets [...], or logits [N, C, d1, ...] and targets [N, d1, ...]", ls, targets.DType(), ts))
	}
	if last && second {
		panic(tensor.Errorf(op, "logits %v with targets %v fit classes on axis 1 and on the last axis; say which with nn.ClassAxis(1) (PyTorch) or nn.ClassAxis(-1)", ls, ts))
	}
	if second {
		perm := []int{0}
		for i := 2; i < nd; i++ {
			perm = append(perm, i)
		}
		x = autograd.Permute(x, append(perm, 1)...)
	}
	c := ls[1]
	if !second {
		c = ls[nd-1]
	}
	m := ls.NumElements() / max(c, 1)
	t := targets.Reshape(m)
	valid := tensor.CompareScalar(tensor.OpNe, t, float64(cfg.ignoreIndex))
	safe := tensor.Where(valid, t, tensor.EmptyOn(t.Device(), tensor.Int64))
	dt := x.DType()
	zero := tensor.EmptyOn(t.Device(), dt)
	r := classRows{x: x, m: m, c: c, safe: safe, valid: valid}
	if cfg.weight != nil {
		if cfg.weight.NDim() != 1 || cfg.weight.Dim(0) != c {
			panic(tensor.Errorf(op, "class weights %v for %d classes", cfg.weight.Shape(), c))
		}
		r.cw = cfg.weight.Cast(dt).To(t.Device())
		r.wy = tensor.Where(valid, tensor.IndexSelect(r.cw, 0, safe), zero)
	} else {
		r.wy = valid.Cast(dt)
	}
	return r
}

// reduceRows applies the reduction to per-row losses [M] and returns the
// loss and the weight each valid row's gradient gets (a 0-d tensor, so no
// value has to come back to the host): Mean divides by the sum of the rows'
// target weights wy.
func reduceRows(op string, per, wy *tensor.Tensor, r Reduction, shape tensor.Shape) (*tensor.Tensor, *tensor.Tensor) {
	one := tensor.EmptyOn(per.Device(), per.DType())
	one.Device().Fill(one.View(), 1)
	switch r {
	case Mean:
		inv := tensor.Reciprocal(tensor.Sum(wy, false))
		return tensor.Mul(tensor.Sum(per, false), inv), inv
	case Sum:
		return tensor.Sum(per, false), one
	case None:
		return per.Reshape(shape...), one
	}
	panic(tensor.Errorf(op, "unknown reduction %d", r))
}

// CrossEntropy is the softmax cross-entropy of logits against Int64 class
// targets, as PyTorch's F.cross_entropy with class-index targets: logits
// [N, C, d1, ...] with targets [N, d1, ...] (PyTorch's layout; [N, C] with
// [N] is the common case) or logits [..., C] with targets [...] (classes
// last, as a language model's [B, T, V]); see ClassAxis for shapes that fit
// both. Options: the reduction, an ignored target value (IgnoreIndex,
// default -100), class weights (ClassWeights; Mean then divides by the sum
// of the targets' weights) and label smoothing. The forward pass is fused:
// one log-softmax, a gather and the smoothing term, never materialising the
// softmax twice; the gradient is (softmax·a - q)·scale for each row, with
// q the weighted, smoothed target distribution and a its sum, itself
// written with autograd ops so it can be differentiated again.
func CrossEntropy(logits *autograd.Var, targets *tensor.Tensor, opts ...LossOption) *autograd.Var {
	const op = "nn.CrossEntropy"
	logits = autograd.AutocastInputs(op, logits)[0]
	cfg := lossOpts(opts)
	r := classTargets(op, logits, targets, cfg)
	m, c, safe, valid, wy, cw := r.m, r.c, r.safe, r.valid, r.wy, r.cw
	xv := r.x
	dt := xv.DType()
	x := xv.Value().Reshape(m, c)
	logp := tensor.LogSoftmax(x, -1)
	eps := cfg.labelSmoothing
	per := tensor.Mul(tensor.Neg(tensor.Gather(logp, 1, safe.Reshape(m, 1)).Reshape(m)), wy)
	if eps != 0 {
		lw := logp
		if cw != nil {
			lw = tensor.Mul(logp, cw.Reshape(1, c))
		}
		smooth := tensor.MulScalar(tensor.Sum(lw, false, 1), -1/float64(c))
		per = tensor.Add(tensor.MulScalar(per, 1-eps), tensor.MulScalar(smooth, eps))
	}
	per = tensor.Where(valid, per, tensor.EmptyOn(x.Device(), dt))
	loss, scale := reduceRows(op, per, wy, cfg.reduction, targets.Shape())
	xs := xv.Shape()
	red := cfg.reduction
	// The sum of the class weights (C without weights), for a.
	wsum := float64(c)
	if cw != nil {
		wsum = tensor.Sum(cw, false).Item()
	}
	return autograd.Record(op, loss, []*autograd.Var{xv}, func(ctx *autograd.Ctx, g *autograd.Var) []*autograd.Var {
		if !ctx.CreateGraph() && x.Device() == tensor.CPU && (dt == tensor.Float32 || dt == tensor.Float64) {
			// One pass over the saved log-probabilities.
			gv := g.Value()
			if red == None {
				gv = gv.Reshape(m)
			}
			var gr *tensor.Tensor
			if dt == tensor.Float32 {
				gr = crossEntropyGradCPU[float32](logp, safe, valid, wy, cw, scale, gv, eps, wsum)
			} else {
				gr = crossEntropyGradCPU[float64](logp, safe, valid, wy, cw, scale, gv, eps, wsum)
			}
			return []*autograd.Var{autograd.Constant(gr.Reshape(xs...))}
		}
		classes := tensor.Arange(0, float64(c), 1, tensor.Int64).To(x.Device())
		onehot := tensor.Eq(safe.Reshape(m, 1), classes.Reshape(1, c)).Cast(dt)
		q := tensor.Mul(onehot, tensor.MulScalar(wy, 1-eps).Reshape(m, 1))
		a := tensor.MulScalar(wy, 1-eps)
		if eps != 0 {
			cwr := tensor.Full(eps/float64(c), dt, 1, c).To(x.Device())
			if cw != nil {
				cwr = tensor.MulScalar(cw.Reshape(1, c), eps/float64(c))
			}
			q = tensor.Add(q, cwr)
			a = tensor.AddScalar(a, eps*wsum/float64(c))
		}
		p := autograd.Softmax(autograd.Reshape(ctx.Input(0), m, c), -1)
		gr := autograd.Sub(autograd.Mul(p, autograd.Constant(a.Reshape(m, 1))), autograd.Constant(q))
		gr = autograd.Mul(gr, autograd.Constant(scale))
		// Ignored rows get exactly zero (not NaN·0 from non-finite logits).
		gr = autograd.Where(valid.Reshape(m, 1), gr, autograd.Constant(tensor.EmptyOn(x.Device(), dt)))
		if red == None {
			gr = autograd.Mul(gr, autograd.Reshape(g, m, 1))
		} else {
			gr = autograd.Mul(gr, g)
		}
		return []*autograd.Var{autograd.Reshape(gr, xs...)}
	})
}

// crossEntropyGradCPU returns the gradient of CrossEntropy with respect to
// the logits row by row, (exp(logp)·a - q)·scale·g with a = (1-eps)·wy +
// eps·wsum/C and q = (1-eps)·wy·onehot + eps·cw/C (cw all ones when nil);
// rows with an ignored target get exactly zero. g is the output gradient:
// one element, or one per row (Reduction None).
func crossEntropyGradCPU[T float32 | float64](logp, safe, valid, wy, cw, scale, g *tensor.Tensor, eps, wsum float64) *tensor.Tensor {
	m, c := logp.Dim(0), logp.Dim(1)
	lp := tensor.ToSlice[T](logp)
	ts, ok := tensor.ToSlice[int64](safe), tensor.ToSlice[bool](valid)
	ws := tensor.ToSlice[T](wy)
	var cws []T
	if cw != nil {
		cws = tensor.ToSlice[T](cw)
	}
	gs := tensor.ToSlice[T](g)
	sc := T(scale.Item())
	out := tensor.Empty(logp.DType(), m, c)
	d := tensor.HostData(out.Storage()).([]T)
	off := T(eps / float64(c))
	for i := range m {
		row, dr := lp[i*c:(i+1)*c], d[i*c:(i+1)*c]
		if !ok[i] {
			clear(dr)
			continue
		}
		s := sc * gs[min(i, len(gs)-1)]
		a := T(1-eps)*ws[i] + T(eps*wsum/float64(c))
		if cws == nil {
			for j, v := range row {
				dr[j] = (T(math.Exp(float64(v)))*a - off) * s
			}
		} else {
			for j, v := range row {
				dr[j] = (T(math.Exp(float64(v)))*a - off*cws[j]) * s
			}
		}
		dr[ts[i]] -= T(1-eps) * ws[i] * s
	}
	return out
}

// NLLLoss is the negative log-likelihood of log-probabilities logp at Int64
// targets, as PyTorch's F.nll_loss: logp [N, C, d1, ...] with targets
// [N, d1, ...] or [..., C] with [...] (see CrossEntropy and ClassAxis),
// with an ignored target value and class weights (label smoothing does not
// apply).
func NLLLoss(logp *autograd.Var, targets *tensor.Tensor, opts ...LossOption) *autograd.Var {
	const op = "nn.NLLLoss"
	logp = autograd.AutocastInputs(op, logp)[0]
	cfg := lossOpts(opts)
	r := classTargets(op, logp, targets, cfg)
	picked := autograd.Reshape(autograd.Gather(autograd.Reshape(r.x, r.m, r.c), 1, r.safe.Reshape(r.m, 1)), r.m)
	per := autograd.Neg(autograd.Mul(picked, autograd.Constant(r.wy)))
	switch cfg.reduction {
	case Mean:
		inv := tensor.Reciprocal(tensor.Sum(r.wy, false))
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
	c := autograd.AutocastInputs("nn.MSELoss", pred, target)
	pred, target = c[0], c[1]
	sameShape("nn.MSELoss", pred, target)
	return reduceElems("nn.MSELoss", autograd.Square(autograd.Sub(pred, target)), lossOpts(opts).reduction)
}

// BCEWithLogits is the binary cross-entropy of sigmoid(logits) against
// targets in [0, 1], computed stably as max(x,0) - x·y + log(1+e^-|x|).
func BCEWithLogits(logits, targets *autograd.Var, opts ...LossOption) *autograd.Var {
	c := autograd.AutocastInputs("nn.BCEWithLogits", logits, targets)
	logits, targets = c[0], c[1]
	sameShape("nn.BCEWithLogits", logits, targets)
	x := logits
	per := autograd.Add(autograd.Sub(autograd.ReLU(x), autograd.Mul(x, targets)),
		autograd.Log1p(autograd.Exp(autograd.Neg(autograd.Abs(x)))))
	return reduceElems("nn.BCEWithLogits", per, lossOpts(opts).reduction)
}
