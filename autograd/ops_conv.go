package autograd

import (
	"github.com/tessera-ml/tessera/tensor"
)

// Im2Col unfolds the sliding windows of x [N, C, H, W] into
// [C*KH*KW, N*OH*OW] (see tensor.Im2Col); its gradient is Col2Im.
func Im2Col(x *Var, p tensor.ConvParams) *Var {
	xs := x.value.Shape()
	return unaryOp("autograd.Im2Col", x, tensor.Im2Col(x.value, p),
		func(_ *Ctx, g *Var) *Var { return Col2Im(g, xs, p) })
}

// Col2Im folds columns back into an image of shape [N, C, H, W], adding
// overlapping entries (see tensor.Col2Im); its gradient is Im2Col.
func Col2Im(cols *Var, shape []int, p tensor.ConvParams) *Var {
	return unaryOp("autograd.Col2Im", cols, tensor.Col2Im(cols.value, shape, p),
		func(_ *Ctx, g *Var) *Var { return Im2Col(g, p) })
}

// Conv2d convolves x [N, C, H, W] with w [O, C/groups, KH, KW] (KH and KW
// of p are taken from w) and adds b [O] when it is not nil, returning
// [N, O, OH, OW] (see tensor.Conv2d). The backward rules are themselves
// convolutions (Conv2dBackwardInput/Weight), so the gradient can be
// differentiated again.
func Conv2d(x, w, b *Var, p tensor.ConvParams, groups int) *Var {
	x, w, b = autocast3("autograd.Conv2d", x, w, b)
	inputs, bt, p, groups := convArgs("autograd.Conv2d", x, w, b, p, groups)
	xs, ws := x.value.Shape(), w.value.Shape()
	y := tensor.Conv2d(x.value, w.value, bt, p, groups)
	return Record("autograd.Conv2d", y, inputs, func(c *Ctx, g *Var) []*Var {
		return conv2dBackward(c, g, len(inputs), xs, ws, p, groups)
	})
}

// Conv2dMaxPool2d is MaxPool2d(Conv2d(x, w, b, p, groups), pp) as one
// operation: the convolution output is pooled as it is computed
// (tensor.Conv2dMaxPool2d), and the first-order gradients come from the
// pooled gradient directly (tensor.Conv2dMaxPoolBackwardWeight, or
// Conv2dMaxPoolBackward when x needs one too), without the full-size
// gradient of the convolution output. Other cases compose the backward
// rules, so the gradient can be differentiated again.
func Conv2dMaxPool2d(x, w, b *Var, p tensor.ConvParams, groups int, pp tensor.ConvParams) *Var {
	return conv2dMaxPool(x, w, b, p, groups, pp, false)
}

// Conv2dReLUMaxPool2d is MaxPool2d(ReLU(Conv2d(x, w, b, p, groups)), pp),
// computed as ReLU of the pooling (equal: max is monotone) in one operation
// like Conv2dMaxPool2d.
func Conv2dReLUMaxPool2d(x, w, b *Var, p tensor.ConvParams, groups int, pp tensor.ConvParams) *Var {
	return conv2dMaxPool(x, w, b, p, groups, pp, true)
}

func conv2dMaxPool(x, w, b *Var, p tensor.ConvParams, groups int, pp tensor.ConvParams, relu bool) *Var {
	name := "autograd.Conv2dMaxPool2d"
	if relu {
		name = "autograd.Conv2dReLUMaxPool2d"
	}
	x, w, b = autocast3(name, x, w, b)
	inputs, bt, p, groups := convArgs(name, x, w, b, p, groups)
	xs, ws := x.value.Shape(), w.value.Shape()
	oh, ow := p.OutSize(xs[2], xs[3])
	ys := []int{xs[0], ws[0], oh, ow}
	out, idx := tensor.Conv2dMaxPool2d(x.value, w.value, bt, p, groups, pp, relu)
	return Record(name, out, inputs, func(c *Ctx, g *Var) []*Var {
		// The ReLU's gradient is g where the (pooled) output is positive:
		// the first-order kernels take the output as a mask.
		var mask *tensor.Tensor
		if relu {
			mask = out
		}
		needB := len(inputs) == 3 && c.NeedsGrad(2)
		if !c.CreateGraph() && !c.NeedsGrad(0) && c.NeedsGrad(1) {
			dw, db := tensor.Conv2dMaxPoolBackwardWeight(c.Input(0).value, g.value, idx, mask, ws, p, groups, needB, pp)
			res := make([]*Var, len(inputs))
			res[1] = Constant(dw)
			if needB {
				res[2] = Constant(db)
			}
			return res
		}
		if !c.CreateGraph() && c.NeedsGrad(0) && c.NeedsGrad(1) {
			dx, dw, db := tensor.Conv2dMaxPoolBackward(c.Input(0).value, g.value, idx, mask, c.Input(1).value, p, groups, needB, pp)
			res := []*Var{Constant(dx), Constant(dw)}
			if needB {
				res = append(res, Constant(db))
			} else if len(inputs) == 3 {
				res = append(res, nil)
			}
			return res
		}
		if relu {
			if c.CreateGraph() {
				g = Mul(g, step(out))
			} else {
				g = Constant(tensor.ReLUGrad(g.value, out))
			}
		}
		return conv2dBackward(c, maxPoolBackward(g, idx, ys, pp), len(inputs), xs, ws, p, groups)
	})
}

// convArgs checks Conv2d's operands and returns its inputs, the bias
// tensor (nil without), the window with the kernel size of w and groups.
func convArgs(op string, x, w, b *Var, p tensor.ConvParams, groups int) ([]*Var, *tensor.Tensor, tensor.ConvParams, int) {
	xs, ws := x.value.Shape(), w.value.Shape()
	if groups <= 0 {
		groups = 1
	}
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1]*groups || ws[0]%groups != 0 {
		panic(tensor.Errorf(op, "input shape %v, weight shape %v and %d groups do not match", xs, ws, groups))
	}
	if b != nil && (b.NDim() != 1 || b.Dim(0) != ws[0]) {
		panic(tensor.Errorf(op, "bias shape %v for weight shape %v", b.Shape(), ws))
	}
	p.KH, p.KW = ws[2], ws[3]
	inputs := []*Var{x, w}
	var bt *tensor.Tensor
	if b != nil {
		inputs = append(inputs, b)
		bt = b.value
	}
	return inputs, bt, p, groups
}

// conv2dBackward is the backward rule of Conv2d for the output gradient g
// (nin inputs: x, w and possibly b).
func conv2dBackward(c *Ctx, g *Var, nin int, xs, ws []int, p tensor.ConvParams, groups int) []*Var {
	res := make([]*Var, nin)
	needB := nin == 3 && c.NeedsGrad(2)
	if !c.CreateGraph() && c.NeedsGrad(0) && c.NeedsGrad(1) {
		// First order: both gradients in one pass over g.
		dx, dw, db := tensor.Conv2dBackward(c.Input(0).value, g.value, c.Input(1).value, p, groups, needB)
		res[0], res[1] = Constant(dx), Constant(dw)
		if needB {
			res[2] = Constant(db)
		}
		return res
	}
	if c.NeedsGrad(0) {
		res[0] = conv2dInputGrad(g, c.Input(1), xs, p, groups)
	}
	if c.NeedsGrad(1) {
		var db *Var
		res[1], db = conv2dWeightGrad(c.Input(0), g, ws, p, groups, needB)
		if needB {
			res[2] = db
		}
	} else if needB {
		res[2] = Sum(g, false, 0, 2, 3)
	}
	return res
}

// conv2dInputGrad is the gradient of Conv2d with respect to its input
// (shape xs) for the output gradient g and weight w. It is bilinear in g and
// w: its own gradients are a convolution and a weight gradient.
func conv2dInputGrad(g, w *Var, xs []int, p tensor.ConvParams, groups int) *Var {
	ws := w.value.Shape()
	dx := tensor.Conv2dBackwardInput(g.value, w.value, xs, p, groups)
	return Record("autograd.Conv2dBackwardInput", dx, []*Var{g, w}, func(c *Ctx, gx *Var) []*Var {
		res := make([]*Var, 2)
		if c.NeedsGrad(0) {
			res[0] = Conv2d(gx, c.Input(1), nil, p, groups)
		}
		if c.NeedsGrad(1) {
			res[1], _ = conv2dWeightGrad(gx, c.Input(0), ws, p, groups, false)
		}
		return res
	})
}

// conv2dWeightGrad is the gradient of Conv2d with respect to its weight
// (shape ws) and, with bias, its bias, for the input x and output gradient g.
func conv2dWeightGrad(x, g *Var, ws []int, p tensor.ConvParams, groups int, bias bool) (dw, db *Var) {
	xs := x.value.Shape()
	dwt, dbt := tensor.Conv2dBackwardWeight(x.value, g.value, ws, p, groups, bias)
	dw = Record("autograd.Conv2dBackwardWeight", dwt, []*Var{x, g}, func(c *Ctx, gw *Var) []*Var {
		res := make([]*Var, 2)
		if c.NeedsGrad(0) {
			res[0] = conv2dInputGrad(c.Input(1), gw, xs, p, groups)
		}
		if c.NeedsGrad(1) {
			res[1] = Conv2d(c.Input(0), gw, nil, p, groups)
		}
		return res
	})
	if bias {
		gs := g.value.Shape()
		db = Record("autograd.Conv2dBackwardBias", dbt, []*Var{g}, func(_ *Ctx, gb *Var) []*Var {
			return []*Var{Expand(Reshape(gb, 1, gs[1], 1, 1), gs...)}
		})
	}
	return dw, db
}

// MaxPool2d takes the maximum over each window of x [N, C, H, W] (padding
// never wins; see tensor.MaxPool2d), as PyTorch's F.max_pool2d: a zero
// stride is the kernel size, p.CeilMode is ceil_mode. The gradient goes to
// the first maximum of each window, as in PyTorch.
func MaxPool2d(x *Var, p tensor.ConvParams) *Var {
	xs := x.value.Shape()
	y, idx := tensor.MaxPool2d(x.value, p)
	return unaryOp("autograd.MaxPool2d", x, y, func(_ *Ctx, g *Var) *Var { return maxPoolBackward(g, idx, xs, p) })
}

// maxPoolBackward scatters g to the recorded maxima; it is linear in g, and
// its gradient gathers at the same indices.
func maxPoolBackward(g *Var, idx *tensor.Tensor, xs []int, p tensor.ConvParams) *Var {
	gs := g.value.Shape()
	return unaryOp("autograd.MaxPool2dBackward", g, tensor.MaxPool2dBackward(g.value, idx, xs, p), func(_ *Ctx, gg *Var) *Var {
		plane := Reshape(gg, xs[0]*xs[1], xs[2]*xs[3])
		return Reshape(Gather(plane, 1, idx.Cast(tensor.Int64).Reshape(gs[0]*gs[1], gs[2]*gs[3])), gs...)
	})
}

// AvgPool2d averages each window of x [N, C, H, W], as PyTorch's
// F.avg_pool2d: a zero stride is the kernel size, zero padding is included
// in the divisor unless p.ExcludePad (count_include_pad=False), and
// p.CeilMode is ceil_mode.
func AvgPool2d(x *Var, p tensor.ConvParams) *Var {
	xs := x.value.Shape()
	return unaryOp("autograd.AvgPool2d", x, tensor.AvgPool2d(x.value, p), func(_ *Ctx, g *Var) *Var { return avgPoolBackward(g, xs, p) })
}

// avgPoolBackward spreads g over the windows; its gradient is AvgPool2d.
func avgPoolBackward(g *Var, xs []int, p tensor.ConvParams) *Var {
	return unaryOp("autograd.AvgPool2dBackward", g, tensor.AvgPool2dBackward(g.value, xs, p), func(_ *Ctx, gg *Var) *Var { return AvgPool2d(gg, p) })
}
