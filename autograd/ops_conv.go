package autograd

import (
	"fmt"
	"math"

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
// [N, O, OH, OW]. It is im2col followed by one batched matrix product over
// the groups.
func Conv2d(x, w, b *Var, p tensor.ConvParams, groups int) *Var {
	xs, ws := x.value.Shape(), w.value.Shape()
	if groups <= 0 {
		groups = 1
	}
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1]*groups || ws[0]%groups != 0 {
		panic(fmt.Sprintf("autograd.Conv2d: input shape %v, weight shape %v and %d groups do not match", xs, ws, groups))
	}
	if b != nil && (b.NDim() != 1 || b.Dim(0) != ws[0]) {
		panic(fmt.Sprintf("autograd.Conv2d: bias shape %v for weight shape %v", b.Shape(), ws))
	}
	p.KH, p.KW = ws[2], ws[3]
	n, o := xs[0], ws[0]
	oh, ow := p.OutSize(xs[2], xs[3])
	k := ws[1] * ws[2] * ws[3]
	cols := Reshape(Im2Col(x, p), groups, k, n*oh*ow)
	wm := Reshape(w, groups, o/groups, k)
	y := Permute(Reshape(MatMul(wm, cols), o, n, oh, ow), 1, 0, 2, 3)
	if b != nil {
		y = Add(y, Reshape(b, 1, o, 1, 1))
	}
	return y
}

// windows returns the pooling windows of x as [C, KH*KW, N, OH, OW].
func windows(op string, x *Var, p tensor.ConvParams, padValue float64) (*Var, int, int) {
	xs := x.value.Shape()
	if len(xs) != 4 {
		panic(fmt.Sprintf("%s: input shape %v, want [N, C, H, W]", op, xs))
	}
	oh, ow := p.OutSize(xs[2], xs[3])
	if p.PadH > 0 || p.PadW > 0 {
		x = Pad(x, []int{p.PadW, p.PadW, p.PadH, p.PadH}, padValue)
		p.PadH, p.PadW = 0, 0
	}
	cols := Im2Col(x, p)
	return Reshape(cols, xs[1], p.KH*p.KW, xs[0], oh, ow), oh, ow
}

// MaxPool2d takes the maximum over each window of x [N, C, H, W] (padding
// counts as -Inf). The gradient goes to the maximum (split among ties).
func MaxPool2d(x *Var, p tensor.ConvParams) *Var {
	w, _, _ := windows("autograd.MaxPool2d", x, p, math.Inf(-1))
	return Permute(Max(w, false, 1), 1, 0, 2, 3)
}

// AvgPool2d averages each window of x [N, C, H, W] (zero padding is
// included in the count, as PyTorch's default).
func AvgPool2d(x *Var, p tensor.ConvParams) *Var {
	w, _, _ := windows("autograd.AvgPool2d", x, p, 0)
	return Permute(Mean(w, false, 1), 1, 0, 2, 3)
}
