package tensor

// ReLUGrad returns g where y > 0 and 0 elsewhere: the gradient of ReLU from
// its output (or input) y and the output gradient g, which must share shape,
// dtype and device. On the CPU with contiguous float32 operands it is one
// vectorised pass; otherwise it is composed as g · step(y), so it works on
// every device.
func ReLUGrad(g, y *Tensor) *Tensor {
	const op = "tensor.ReLUGrad"
	sameDevice(op, g, y)
	if !Shape(g.shape).Equal(y.shape) || g.DType() != y.DType() {
		fail(op, "gradient %v%v and output %v%v must share shape and dtype", g.DType(), Shape(g.shape), y.DType(), Shape(y.shape))
	}
	if g.Device() == CPU && g.DType() == Float32 && g.IsContiguous() && y.IsContiguous() {
		n := g.NumElements()
		out := allocDirty(op, CPU, Float32, g.shape) // written in full below
		d, gs, ys := hostSlice[float32](out, n), hostSlice[float32](g, n), hostSlice[float32](y, n)
		parallelFor(n, workers(n, 1), func(lo, hi int) { reluGradF32(d[lo:hi], gs[lo:hi], ys[lo:hi]) })
		return out
	}
	return Mul(g, UnaryInto(OpStep, EmptyLike(y), y, 0, 0))
}
