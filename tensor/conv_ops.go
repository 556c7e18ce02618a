package tensor

import "math"

// ConvDevice is an optional Device capability: direct 2-D convolution
// kernels (on the CPU, im2col into a small per-worker buffer and one GEMM
// per image, with the bias and the bias gradient fused). Conv2d,
// Conv2dBackwardInput and Conv2dBackwardWeight call it for tensors on such a
// device; a kernel returns false when it cannot handle the operands (a dtype
// it lacks, say), and the op is then composed from Im2Col, MatMul and
// Col2Im, which every device has.
//
// The tensor layer has checked the shapes (see Conv2d) and passes: p with
// KH and KW set and zero strides/dilations normalised to 1; destinations
// freshly allocated and contiguous, dx, dw and db zeroed, dst possibly not
// (a recycled CPU buffer: the kernel writes every element); w and gy
// contiguous; x with any strides. b or db with a nil Storage means no bias.
type ConvDevice interface {
	Conv2d(dst, x, w, b View, p ConvParams, groups int) bool
	Conv2dBackwardInput(dx, gy, w View, p ConvParams, groups int) bool
	Conv2dBackwardWeight(dw, db, x, gy View, p ConvParams, groups int) bool
}

// PoolDevice is an optional Device capability: direct 2-D pooling kernels.
// MaxPool2d writes the maximum of each window and its Int32 index into the
// input plane (h*W + w, as PyTorch's indices); MaxPool2dBackward adds each
// output gradient at its index. AvgPool2d averages each window counting
// padding as zeros; AvgPool2dBackward spreads each output gradient over its
// window, dividing by the divisor of avgDivisors (the kernel size unless
// p.ExcludePad or a ceil-mode window reaches past the padding). p comes
// normalised: strides set (a zero stride of a pooling is the kernel size),
// CeilMode only where it changes the output size, which dst and gy have.
// Destinations are fresh and contiguous; dx is zeroed, the forward
// outputs possibly not (the kernels write every element); gy and idx are
// contiguous; x may have any strides. A kernel returns false to fall back
// to the composed implementation.
type PoolDevice interface {
	MaxPool2d(dst, idx, x View, p ConvParams) bool
	MaxPool2dBackward(dx, gy, idx View) bool
	AvgPool2d(dst, x View, p ConvParams) bool
	AvgPool2dBackward(dx, gy View, p ConvParams) bool
}

// convShapes checks x [N, C, H, W] against w [O, C/groups, KH, KW] and
// returns the normalised window (KH, KW from w) and the output size.
func convShapes(op string, xs, ws []int, p ConvParams, groups int) (ConvParams, int, int) {
	if groups <= 0 {
		fail(op, "groups %d must be positive", groups)
	}
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1]*groups || ws[0]%groups != 0 {
		fail(op, "input shape %v, weight shape %v and %d groups do not match", Shape(xs), Shape(ws), groups)
	}
	p.KH, p.KW = ws[2], ws[3]
	return convGeometry(op, xs, p)
}

// Conv2d convolves x [N, C, H, W] with w [O, C/groups, KH, KW] (the kernel
// size of p is taken from w) and adds b [O] when b is not nil, returning
// [N, O, OH, OW] (cross-correlation, as torch.nn.functional.conv2d). w and
// b are converted to x's dtype.
func Conv2d(x, w, b *Tensor, p ConvParams, groups int) *Tensor {
	const op = "tensor.Conv2d"
	if b != nil {
		sameDevice(op, x, w, b)
	} else {
		sameDevice(op, x, w)
	}
	p, oh, ow := convShapes(op, x.shape, w.shape, p, groups)
	o := w.shape[0]
	if b != nil && (b.NDim() != 1 || b.shape[0] != o) {
		fail(op, "bias shape %v for weight shape %v", Shape(b.shape), Shape(w.shape))
	}
	dt := x.DType()
	w = w.Cast(dt).Contiguous()
	var bv View
	if b != nil {
		b = b.Cast(dt).Contiguous()
		bv = b.View()
	}
	out := allocDirty(op, x.Device(), dt, []int{x.shape[0], o, oh, ow})
	if d, ok := x.Device().(ConvDevice); ok && d.Conv2d(out.View(), x.View(), w.View(), bv, p, groups) {
		return out
	}
	// Composed: im2col, one batched product over the groups, NCHW order.
	n, k := x.shape[0], w.shape[1]*p.KH*p.KW
	cols := Im2Col(x, p).Reshape(groups, k, n*oh*ow)
	y := MatMul(w.Reshape(groups, o/groups, k), cols).Reshape(o, n, oh, ow).Permute(1, 0, 2, 3)
	if b != nil {
		return AddInto(out, y, b.Reshape(1, o, 1, 1))
	}
	return out.CopyFrom(y)
}

// Conv2dBackwardInput returns the gradient of Conv2d with respect to its
// input of shape xShape, given the output gradient gy [N, O, OH, OW] and the
// weight w: the transposed convolution col2im(wᵀ·gy).
func Conv2dBackwardInput(gy, w *Tensor, xShape []int, p ConvParams, groups int) *Tensor {
	const op = "tensor.Conv2dBackwardInput"
	sameDevice(op, gy, w)
	p, oh, ow := convShapes(op, xShape, w.shape, p, groups)
	n, o := xShape[0], w.shape[0]
	if !Shape(gy.shape).Equal(Shape{n, o, oh, ow}) {
		fail(op, "output gradient shape %v, want %v", Shape(gy.shape), Shape{n, o, oh, ow})
	}
	dt := gy.DType()
	w = w.Cast(dt).Contiguous()
	gy = gy.Contiguous()
	dx := allocZeroed(op, gy.Device(), dt, xShape)
	if d, ok := gy.Device().(ConvDevice); ok && d.Conv2dBackwardInput(dx.View(), gy.View(), w.View(), p, groups) {
		return dx
	}
	k := w.shape[1] * p.KH * p.KW
	g3 := gy.Permute(1, 0, 2, 3).Reshape(groups, o/groups, n*oh*ow)
	cols := MatMul(w.Reshape(groups, o/groups, k).Transpose(1, 2), g3)
	return dx.CopyFrom(Col2Im(cols.Reshape(groups*k, n*oh*ow), xShape, p))
}

// Conv2dBackwardWeight returns the gradient of Conv2d with respect to its
// weight of shape wShape, given the input x and the output gradient gy; with
// bias it also returns the bias gradient (gy summed over N, OH and OW),
// otherwise db is nil.
func Conv2dBackwardWeight(x, gy *Tensor, wShape []int, p ConvParams, groups int, bias bool) (dw, db *Tensor) {
	const op = "tensor.Conv2dBackwardWeight"
	sameDevice(op, x, gy)
	p, oh, ow := convShapes(op, x.shape, wShape, p, groups)
	n, o := x.shape[0], wShape[0]
	if !Shape(gy.shape).Equal(Shape{n, o, oh, ow}) {
		fail(op, "output gradient shape %v, want %v", Shape(gy.shape), Shape{n, o, oh, ow})
	}
	dt := x.DType()
	gy = gy.Cast(dt).Contiguous()
	dw = alloc(op, x.Device(), dt, wShape)
	var dbv View
	if bias {
		db = alloc(op, x.Device(), dt, []int{o})
		dbv = db.View()
	}
	if d, ok := x.Device().(ConvDevice); ok && d.Conv2dBackwardWeight(dw.View(), dbv, x.View(), gy.View(), p, groups) {
		return dw, db
	}
	k := wShape[1] * p.KH * p.KW
	cols := Im2Col(x, p).Reshape(groups, k, n*oh*ow)
	g3 := gy.Permute(1, 0, 2, 3).Reshape(groups, o/groups, n*oh*ow)
	dw.CopyFrom(MatMul(g3, cols.Transpose(1, 2)).Reshape(wShape...))
	if bias {
		db.CopyFrom(Sum(gy, false, 0, 2, 3))
	}
	return dw, db
}

// Conv2dMaxPool2d returns MaxPool2d(Conv2d(x, w, b, p, groups), pp): the
// pooled output and the indices of its maxima in the convolution's output
// planes; with relu, the pooled output goes through ReLU (which equals
// pooling the ReLU of the convolution, except for NaNs and for the indices
// of windows with no positive value, where the gradient is zero anyway).
// On the CPU, except for 1x1 direct geometries, each image's (or block of
// images') output is pooled while in cache and never stored whole.
func Conv2dMaxPool2d(x, w, b *Tensor, p ConvParams, groups int, pp ConvParams, relu bool) (y, idx *Tensor) {
	const op = "tensor.Conv2dMaxPool2d"
	if _, ok := x.Device().(cpuDevice); ok && (x.DType() == Float32 || x.DType() == Float64) && groups > 0 {
		if b != nil {
			sameDevice(op, x, w, b)
		} else {
			sameDevice(op, x, w)
		}
		cp, oh, ow := convShapes(op, x.shape, w.shape, p, groups)
		n, o := x.shape[0], w.shape[0]
		if b != nil && (b.NDim() != 1 || b.shape[0] != o) {
			fail(op, "bias shape %v for weight shape %v", Shape(b.shape), Shape(w.shape))
		}
		qp, ph, pw := poolShapes(op, []int{n, o, oh, ow}, pp, true)
		if oh*ow <= math.MaxInt32 {
			dt := x.DType()
			wc := w.Cast(dt).Contiguous()
			var bv View
			if b != nil {
				bv = b.Cast(dt).Contiguous().View()
			}
			y = allocDirty(op, x.Device(), dt, []int{n, o, ph, pw})
			idx = allocDirty(op, x.Device(), Int32, []int{n, o, ph, pw})
			if conv2dMaxPool(y.View(), idx.View(), x.View(), wc.View(), bv, cp, groups, qp, relu) {
				return y, idx
			}
		}
	}
	y, idx = MaxPool2d(Conv2d(x, w, b, p, groups), pp)
	if relu {
		y = ReLU(y)
	}
	return y, idx
}

// Conv2dMaxPoolBackwardWeight returns the weight (and, with bias, bias)
// gradients of a convolution of x whose output y was max-pooled with pp:
// Conv2dBackwardWeight(x, MaxPool2dBackward(gp, idx, y's shape, pp), ...)
// for the pooled gradient gp and the indices idx of MaxPool2d(y, pp). On the
// CPU, except for 1x1 direct geometries, the output gradient is never
// materialised: each image's (or block's) planes are scattered into a small
// buffer just before its products.
//
// With mask not nil (of gp's shape: the output of a ReLU of the pooling),
// gp counts only where mask > 0, the gradient of that ReLU.
func Conv2dMaxPoolBackwardWeight(x, gp, idx, mask *Tensor, wShape []int, p ConvParams, groups int, bias bool, pp ConvParams) (dw, db *Tensor) {
	const op = "tensor.Conv2dMaxPoolBackwardWeight"
	sameDevice(op, x, gp, idx)
	if !idx.DType().IsInt() {
		fail(op, "index dtype %v, want int32 or int64", idx.DType())
	}
	p, oh, ow := convShapes(op, x.shape, wShape, p, groups)
	n, o := x.shape[0], wShape[0]
	yShape := []int{n, o, oh, ow}
	_, ph, pw := poolShapes(op, yShape, pp, true)
	want := Shape{n, o, ph, pw}
	if !Shape(gp.shape).Equal(want) || !Shape(idx.shape).Equal(want) {
		fail(op, "pooled gradient shape %v and index shape %v, want %v", Shape(gp.shape), Shape(idx.shape), want)
	}
	if mask != nil {
		sameDevice(op, x, mask)
		if !Shape(mask.shape).Equal(want) {
			fail(op, "mask shape %v, want %v", Shape(mask.shape), want)
		}
	}
	if _, ok := x.Device().(cpuDevice); ok && (x.DType() == Float32 || x.DType() == Float64) {
		dt := x.DType()
		gpc, idc := gp.Cast(dt).Contiguous(), idx.Cast(Int32).Contiguous()
		dw = alloc(op, x.Device(), dt, wShape)
		var dbv View
		if bias {
			db = alloc(op, x.Device(), dt, []int{o})
			dbv = db.View()
		}
		if conv2dMaxPoolBackward(View{}, dw.View(), dbv, x.View(), gpc.View(), idc.View(), maskView(mask, dt), View{}, p, groups) {
			return dw, db
		}
	}
	if mask != nil {
		gp = ReLUGrad(gp, mask.Cast(gp.DType()))
	}
	gy := MaxPool2dBackward(gp, idx, yShape, pp)
	return Conv2dBackwardWeight(x, gy, wShape, p, groups, bias)
}

// Conv2dMaxPoolBackward is Conv2dBackward for a convolution whose output
// was max-pooled with pp, from the pooled gradient gp and the indices idx
// of the pooling: the input, weight and (with bias) bias gradients. On the
// CPU, for convolutions processed in image blocks, the output gradient is
// never materialised (see Conv2dMaxPoolBackwardWeight).
// A mask not nil is as for Conv2dMaxPoolBackwardWeight.
func Conv2dMaxPoolBackward(x, gp, idx, mask, w *Tensor, p ConvParams, groups int, bias bool, pp ConvParams) (dx, dw, db *Tensor) {
	const op = "tensor.Conv2dMaxPoolBackward"
	sameDevice(op, x, gp, idx, w)
	if !idx.DType().IsInt() {
		fail(op, "index dtype %v, want int32 or int64", idx.DType())
	}
	p, oh, ow := convShapes(op, x.shape, w.shape, p, groups)
	n, o := x.shape[0], w.shape[0]
	yShape := []int{n, o, oh, ow}
	_, ph, pw := poolShapes(op, yShape, pp, true)
	want := Shape{n, o, ph, pw}
	if !Shape(gp.shape).Equal(want) || !Shape(idx.shape).Equal(want) {
		fail(op, "pooled gradient shape %v and index shape %v, want %v", Shape(gp.shape), Shape(idx.shape), want)
	}
	if mask != nil {
		sameDevice(op, x, mask)
		if !Shape(mask.shape).Equal(want) {
			fail(op, "mask shape %v, want %v", Shape(mask.shape), want)
		}
	}
	if _, ok := x.Device().(cpuDevice); ok && (x.DType() == Float32 || x.DType() == Float64) {
		dt := x.DType()
		gpc, idc, wc := gp.Cast(dt).Contiguous(), idx.Cast(Int32).Contiguous(), w.Cast(dt).Contiguous()
		dx = allocZeroed(op, x.Device(), dt, x.shape)
		dw = alloc(op, x.Device(), dt, w.shape)
		var dbv View
		if bias {
			db = alloc(op, x.Device(), dt, []int{o})
			dbv = db.View()
		}
		if conv2dMaxPoolBackward(dx.View(), dw.View(), dbv, x.View(), gpc.View(), idc.View(), maskView(mask, dt), wc.View(), p, groups) {
			return dx, dw, db
		}
	}
	if mask != nil {
		gp = ReLUGrad(gp, mask.Cast(gp.DType()))
	}
	return Conv2dBackward(x, MaxPool2dBackward(gp, idx, yShape, pp), w, p, groups, bias)
}

// maskView is the contiguous view of mask in dtype dt, or an empty view
// for a nil mask.
func maskView(mask *Tensor, dt DType) View {
	if mask == nil {
		return View{}
	}
	return mask.Cast(dt).Contiguous().View()
}

// ConvBackwarder is an optional Device capability: the input, weight and
// bias gradients of a convolution in one pass over the output gradient.
// Conv2dBackward calls it with dx, dw and db (nil Storage: no bias) fresh,
// contiguous and zeroed, gy and w contiguous, x with any strides; the
// kernel returns false to have the gradients computed one at a time.
type ConvBackwarder interface {
	Conv2dBackward(dx, dw, db, x, gy, w View, p ConvParams, groups int) bool
}

// Conv2dBackward returns the gradients of Conv2d with respect to its input
// x, its weight w and, with bias, its bias, for the output gradient gy: the
// results of Conv2dBackwardInput and Conv2dBackwardWeight, computed in one
// pass where the device can (db is nil without bias).
func Conv2dBackward(x, gy, w *Tensor, p ConvParams, groups int, bias bool) (dx, dw, db *Tensor) {
	const op = "tensor.Conv2dBackward"
	sameDevice(op, x, gy, w)
	p, oh, ow := convShapes(op, x.shape, w.shape, p, groups)
	n, o := x.shape[0], w.shape[0]
	if !Shape(gy.shape).Equal(Shape{n, o, oh, ow}) {
		fail(op, "output gradient shape %v, want %v", Shape(gy.shape), Shape{n, o, oh, ow})
	}
	if d, ok := x.Device().(ConvBackwarder); ok {
		dt := x.DType()
		gyc, wc := gy.Cast(dt).Contiguous(), w.Cast(dt).Contiguous()
		dx = allocZeroed(op, x.Device(), dt, x.shape)
		dw = alloc(op, x.Device(), dt, w.shape)
		var dbv View
		if bias {
			db = alloc(op, x.Device(), dt, []int{o})
			dbv = db.View()
		}
		if d.Conv2dBackward(dx.View(), dw.View(), dbv, x.View(), gyc.View(), wc.View(), p, groups) {
			return dx, dw, db
		}
	}
	dx = Conv2dBackwardInput(gy, w, x.shape, p, groups)
	dw, db = Conv2dBackwardWeight(x, gy, w.shape, p, groups, bias)
	return dx, dw, db
}

// poolShapes checks a pooling input and window (zero strides read as the
// kernel size) and returns the normalised window and the output size. With
// cover (max pooling, and average pooling without counting padding) every
// window must hold at least one input element, so a max has an index and a
// mean a divisor. CeilMode is cleared where it does not change the output
// size (then it changes nothing else either).
func poolShapes(op string, xs []int, p ConvParams, cover bool) (ConvParams, int, int) {
	p, oh, ow := windowGeometry(op, xs, poolParams(p))
	covered := func(out, size, k, s, pad, d int) bool {
		for o := range out {
			ok := false
			for i := range k {
				if v := o*s - pad + i*d; v >= 0 && v < size {
					ok = true
					break
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}
	if cover && (!covered(oh, xs[2], p.KH, p.StrideH, p.PadH, p.DilH) || !covered(ow, xs[3], p.KW, p.StrideW, p.PadW, p.DilW)) {
		fail(op, "window %+v over input shape %v has windows of padding only", p, Shape(xs))
	}
	if p.CeilMode {
		q := p
		q.CeilMode = false
		if fh, fw := q.OutSize(xs[2], xs[3]); fh == oh && fw == ow {
			p.CeilMode = false
		}
	}
	return p, oh, ow
}

// poolExtent is how far the windows of a ceil-mode pooling reach past the
// padded input, below and to the right: the extra padding after which the
// floor-mode geometry has the same output size.
func poolExtent(h, w, oh, ow int, p ConvParams) (eh, ew int) {
	eh = max(0, (oh-1)*p.StrideH+p.DilH*(p.KH-1)+1-(h+2*p.PadH))
	ew = max(0, (ow-1)*p.StrideW+p.DilW*(p.KW-1)+1-(w+2*p.PadW))
	return eh, ew
}

// avgDivisors returns, for average pooling with window p over an h×w
// input, the divisor of each output row and column: the number of window
// positions inside the input (ExcludePad) or inside the padded input
// [-pad, size+pad) (PyTorch's count_include_pad, which differs from the
// kernel size only for ceil-mode windows past the padding). The divisor of
// output (y, x) is dh[y]·dw[x].
func avgDivisors(h, w, oh, ow int, p ConvParams) (dh, dw []int) {
	axis := func(out, size, k, s, pad, d int) []int {
		lo, hi := -pad, size+pad
		if p.ExcludePad {
			lo, hi = 0, size
		}
		cnt := make([]int, out)
		for o := range out {
			for i := range k {
				if v := o*s - pad + i*d; v >= lo && v < hi {
					cnt[o]++
				}
			}
		}
		return cnt
	}
	return axis(oh, h, p.KH, p.StrideH, p.PadH, p.DilH), axis(ow, w, p.KW, p.StrideW, p.PadW, p.DilW)
}

// avgScale is the tensor [oh, ow] of 1/divisor (see avgDivisors) in dtype
// dt on device dev, or nil when every divisor is the kernel size.
func avgScale(h, w, oh, ow int, p ConvParams, dt DType, dev Device) *Tensor {
	dh, dw := avgDivisors(h, w, oh, ow, p)
	kk := p.KH * p.KW
	v := make([]float64, oh*ow)
	same := true
	for y := range oh {
		for x := range ow {
			d := dh[y] * dw[x]
			same = same && d == kk
			v[y*ow+x] = 1 / float64(d)
		}
	}
	if same {
		return nil
	}
	return FromSlice(v, oh, ow).Cast(dt).To(dev)
}

// MaxPool2d returns the maximum over each window of x [N, C, H, W] (padding
// never wins) and, as an Int32 tensor of the output's shape, the index of
// each maximum in its input plane (h*W + w), as torch's max_pool2d with
// return_indices (Cast them to Int64 for Gather or ScatterAdd; Int32 halves
// the memory traffic of the indices). The first maximum of a window wins; a NaN wins over numbers.
func MaxPool2d(x *Tensor, p ConvParams) (y, idx *Tensor) {
	const op = "tensor.MaxPool2d"
	if !x.DType().IsFloat() {
		fail(op, "dtype %v is not floating point", x.DType())
	}
	p, oh, ow := poolShapes(op, x.shape, p, true)
	n, c, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	y = allocDirty(op, x.Device(), x.DType(), []int{n, c, oh, ow})
	if h*w > math.MaxInt32 {
		fail(op, "input planes of %d elements exceed Int32 indices", h*w)
	}
	idx = allocDirty(op, x.Device(), Int32, []int{n, c, oh, ow})
	if d, ok := x.Device().(PoolDevice); ok && d.MaxPool2d(y.View(), idx.View(), x.View(), p) {
		return y, idx
	}
	// Composed: windows of the -Inf padded input, Max and ArgMax over each,
	// and the argmax mapped to input positions through an image of positions.
	eh, ew := poolExtent(h, w, oh, ow, p)
	xp := Pad(x, []int{p.PadW, p.PadW + ew, p.PadH, p.PadH + eh}, math.Inf(-1))
	q := p
	q.PadH, q.PadW, q.CeilMode, q.ExcludePad = 0, 0, false, false
	kk := p.KH * p.KW
	win := Im2Col(xp, q).Reshape(c, kk, n, oh, ow)
	y.CopyFrom(Max(win, false, 1).Permute(1, 0, 2, 3))
	arg := ArgMax(win, 1, false).Permute(1, 0, 2, 3).Reshape(n*c, 1, oh*ow)
	pos := Arange(0, float64(h*w), 1, Int64).To(x.Device()).Reshape(1, 1, h, w)
	pos = Pad(pos, []int{p.PadW, p.PadW + ew, p.PadH, p.PadH + eh}, -1)
	posCols := Im2Col(pos, q).Reshape(1, kk, oh*ow).Expand(n*c, kk, oh*ow)
	idx.CopyFrom(Gather(posCols, 1, arg).Reshape(n, c, oh, ow))
	return y, idx
}

// MaxPool2dBackward returns the gradient of MaxPool2d with respect to its
// input of shape xShape: each element of gy added at its index idx.
func MaxPool2dBackward(gy, idx *Tensor, xShape []int, p ConvParams) *Tensor {
	const op = "tensor.MaxPool2dBackward"
	sameDevice(op, gy, idx)
	if !idx.DType().IsInt() {
		fail(op, "index dtype %v, want int32 or int64", idx.DType())
	}
	_, oh, ow := poolShapes(op, xShape, p, true)
	n, c, h, w := xShape[0], xShape[1], xShape[2], xShape[3]
	want := Shape{n, c, oh, ow}
	if !Shape(gy.shape).Equal(want) || !Shape(idx.shape).Equal(want) {
		fail(op, "gradient shape %v and index shape %v, want %v", Shape(gy.shape), Shape(idx.shape), want)
	}
	gy = gy.Contiguous()
	if _, ok := gy.Device().(cpuDevice); ok && (gy.DType() == Float32 || gy.DType() == Float64) {
		// each plane of dx is cleared just before its scatter, while it is
		// in cache, instead of in a separate pass over all of dx
		dx := allocDirty(op, gy.Device(), gy.DType(), xShape)
		cpuMaxPool2dBackward(dx.View(), gy.View(), idx.Cast(Int32).Contiguous().View(), true)
		return dx
	}
	dx := allocZeroed(op, gy.Device(), gy.DType(), xShape)
	if d, ok := gy.Device().(PoolDevice); ok && d.MaxPool2dBackward(dx.View(), gy.View(), idx.Cast(Int32).Contiguous().View()) {
		return dx
	}
	ScatterAddInto(dx.Reshape(n*c, h*w), 1, idx.Cast(Int64).Reshape(n*c, oh*ow), gy.Reshape(n*c, oh*ow))
	return dx
}

// AvgPool2d returns the mean over each window of x [N, C, H, W]. Padding
// counts as zeros in the divisor (PyTorch's count_include_pad) unless
// p.ExcludePad; see ConvParams for CeilMode.
func AvgPool2d(x *Tensor, p ConvParams) *Tensor {
	const op = "tensor.AvgPool2d"
	if !x.DType().IsFloat() {
		fail(op, "dtype %v is not floating point", x.DType())
	}
	p, oh, ow := poolShapes(op, x.shape, p, p.ExcludePad)
	n, c, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	y := allocDirty(op, x.Device(), x.DType(), []int{n, c, oh, ow})
	if d, ok := x.Device().(PoolDevice); ok && d.AvgPool2d(y.View(), x.View(), p) {
		return y
	}
	// Composed: the windows of x (zero padded past the right and bottom
	// for ceil mode) summed, times 1/divisor.
	eh, ew := poolExtent(h, w, oh, ow, p)
	xp := x
	if eh > 0 || ew > 0 {
		xp = Pad(x, []int{0, ew, 0, eh}, 0)
	}
	q := p
	q.CeilMode, q.ExcludePad = false, false
	win := Im2Col(xp, q).Reshape(c, p.KH*p.KW, n, oh, ow)
	scale := avgScale(h, w, oh, ow, p, x.DType(), x.Device())
	if scale == nil {
		return y.CopyFrom(Mean(win, false, 1).Permute(1, 0, 2, 3))
	}
	return y.CopyFrom(Mul(Sum(win, false, 1).Permute(1, 0, 2, 3), scale))
}

// AvgPool2dBackward returns the gradient of AvgPool2d with respect to its
// input of shape xShape: each element of gy divided by its window's divisor
// and spread over the window's input elements.
func AvgPool2dBackward(gy *Tensor, xShape []int, p ConvParams) *Tensor {
	const op = "tensor.AvgPool2dBackward"
	p, oh, ow := poolShapes(op, xShape, p, p.ExcludePad)
	n, c, h, w := xShape[0], xShape[1], xShape[2], xShape[3]
	if want := (Shape{n, c, oh, ow}); !Shape(gy.shape).Equal(want) {
		fail(op, "gradient shape %v, want %v", Shape(gy.shape), want)
	}
	gy = gy.Contiguous()
	dx := allocZeroed(op, gy.Device(), gy.DType(), xShape)
	if d, ok := gy.Device().(PoolDevice); ok && d.AvgPool2dBackward(dx.View(), gy.View(), p) {
		return dx
	}
	kk := p.KH * p.KW
	var gs *Tensor
	if scale := avgScale(h, w, oh, ow, p, gy.DType(), gy.Device()); scale != nil {
		gs = Mul(gy, scale)
	} else {
		gs = MulScalar(gy, 1/float64(kk))
	}
	cols := gs.Permute(1, 0, 2, 3).Reshape(c, 1, n*oh*ow).Expand(c, kk, n*oh*ow)
	eh, ew := poolExtent(h, w, oh, ow, p)
	q := p
	q.CeilMode, q.ExcludePad = false, false
	full := Col2Im(cols.Reshape(c*kk, n*oh*ow), []int{n, c, h + eh, w + ew}, q)
	if eh > 0 || ew > 0 {
		full = full.Narrow(2, 0, h).Narrow(3, 0, w)
	}
	return dx.CopyFrom(full)
}
