package tensor

// ConvParams is the geometry of a 2-D sliding window (convolution or
// pooling): kernel size, stride, zero padding and dilation per axis. A zero
// dilation means 1; a zero stride means 1 for a convolution (and Im2Col,
// Col2Im, OutSize) and the kernel size for a pooling (MaxPool2d,
// AvgPool2d and the pooling of Conv2dMaxPool2d), PyTorch's defaults.
type ConvParams struct {
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	DilH, DilW       int
	// CeilMode (pooling only) rounds the output size up, as PyTorch's
	// ceil_mode=True: a last, partial window is kept when it starts inside
	// the input or its left/top padding, and dropped when it would start in
	// the right/bottom padding.
	CeilMode bool
	// ExcludePad (AvgPool2d only) divides each window's sum by the number
	// of input elements in it, not counting padding: PyTorch's
	// count_include_pad=False. Without it the divisor counts the padding
	// too (PyTorch's default), clipped to the padded input in ceil mode.
	ExcludePad bool
}

func (p ConvParams) norm(op string) ConvParams {
	if p.StrideH == 0 {
		p.StrideH = 1
	}
	if p.StrideW == 0 {
		p.StrideW = 1
	}
	if p.DilH == 0 {
		p.DilH = 1
	}
	if p.DilW == 0 {
		p.DilW = 1
	}
	if p.KH <= 0 || p.KW <= 0 || p.StrideH < 0 || p.StrideW < 0 || p.PadH < 0 || p.PadW < 0 || p.DilH < 0 || p.DilW < 0 {
		fail(op, "bad window %+v", p)
	}
	return p
}

// OutSize returns the output height and width of the window over an h×w
// input (zero or negative when the window does not fit), with PyTorch's
// rule: floor((size + 2·pad - dil·(k-1) - 1)/stride) + 1, rounded up instead
// with CeilMode, less one when the last window would then start in the
// right padding. A zero stride reads as 1 here, as for a convolution.
func (p ConvParams) OutSize(h, w int) (oh, ow int) {
	p = p.norm("ConvParams.OutSize")
	return outLen(h, p.KH, p.StrideH, p.PadH, p.DilH, p.CeilMode), outLen(w, p.KW, p.StrideW, p.PadW, p.DilW, p.CeilMode)
}

// outLen is the output length of one axis (see OutSize).
func outLen(size, k, s, pad, d int, ceil bool) int {
	span := size + 2*pad - d*(k-1) - 1
	if span < 0 {
		return 0
	}
	if !ceil {
		return span/s + 1
	}
	o := (span+s-1)/s + 1
	if (o-1)*s >= size+pad {
		o--
	}
	return o
}

// poolParams reads a pooling window's zero strides as its kernel size.
func poolParams(p ConvParams) ConvParams {
	if p.StrideH == 0 {
		p.StrideH = p.KH
	}
	if p.StrideW == 0 {
		p.StrideW = p.KW
	}
	return p
}

// convGeometry checks a convolution's (or Im2Col's) window over shape
// [N, C, H, W] and returns it normalised with the output size.
func convGeometry(op string, shape []int, p ConvParams) (ConvParams, int, int) {
	if p.CeilMode || p.ExcludePad {
		fail(op, "window %+v: CeilMode and ExcludePad are pooling options", p)
	}
	return windowGeometry(op, shape, p)
}

func windowGeometry(op string, shape []int, p ConvParams) (ConvParams, int, int) {
	p = p.norm(op)
	if len(shape) != 4 {
		fail(op, "input shape %v, want [N, C, H, W]", Shape(shape))
	}
	oh, ow := p.OutSize(shape[2], shape[3])
	if oh <= 0 || ow <= 0 {
		fail(op, "window %+v does not fit input shape %v", p, Shape(shape))
	}
	return p, oh, ow
}

// Im2Col unfolds the sliding windows of x [N, C, H, W] into a matrix of
// shape [C*KH*KW, N*OH*OW]: row (c, i, j) holds input channel c at kernel
// offset (i, j) for every output position of every image. A convolution
// is then one matrix product weight[O, C*KH*KW] @ cols. The windows are read
// through a strided view of the (padded) input and copied once.
func Im2Col(x *Tensor, p ConvParams) *Tensor {
	const op = "tensor.Im2Col"
	p, oh, ow := convGeometry(op, x.shape, p)
	n, c := x.shape[0], x.shape[1]
	xp := x
	if p.PadH > 0 || p.PadW > 0 {
		xp = Pad(x, []int{p.PadW, p.PadW, p.PadH, p.PadH}, 0)
	}
	s := xp.strides
	win := newTensor(xp.st,
		[]int{c, p.KH, p.KW, n, oh, ow},
		[]int{s[1], p.DilH * s[2], p.DilW * s[3], s[0], p.StrideH * s[2], p.StrideW * s[3]},
		xp.offset)
	out := alloc(op, x.Device(), x.DType(), []int{c, p.KH, p.KW, n, oh, ow})
	x.Device().Copy(out.View(), win.View())
	return out.Reshape(c*p.KH*p.KW, n*oh*ow)
}

// Col2Im is the adjoint of Im2Col: it adds every entry of cols
// [C*KH*KW, N*OH*OW] back to the input position it was read from, giving a
// tensor of shape [N, C, H, W] (overlapping windows accumulate). It is the
// gradient of Im2Col.
func Col2Im(cols *Tensor, shape []int, p ConvParams) *Tensor {
	const op = "tensor.Col2Im"
	p, oh, ow := convGeometry(op, shape, p)
	n, c, h, w := shape[0], shape[1], shape[2], shape[3]
	if cols.NDim() != 2 || cols.shape[0] != c*p.KH*p.KW || cols.shape[1] != n*oh*ow {
		fail(op, "columns shape %v for input shape %v and window %+v, want [%d %d]", Shape(cols.shape), Shape(shape), p, c*p.KH*p.KW, n*oh*ow)
	}
	hp, wp := h+2*p.PadH, w+2*p.PadW
	out := alloc(op, cols.Device(), cols.DType(), []int{n, c, hp, wp})
	s := out.strides
	c6 := cols.Reshape(c, p.KH, p.KW, n, oh, ow)
	for i := range p.KH {
		for j := range p.KW {
			dst := newTensor(out.st, []int{c, n, oh, ow},
				[]int{s[1], s[0], p.StrideH * s[2], p.StrideW * s[3]},
				i*p.DilH*s[2]+j*p.DilW*s[3])
			src := c6.Select(1, i).Select(1, j)
			cols.Device().Binary(OpAdd, dst.View(), dst.View(), src.View())
		}
	}
	if p.PadH == 0 && p.PadW == 0 {
		return out
	}
	return out.Narrow(2, p.PadH, h).Narrow(3, p.PadW, w).Contiguous()
}
