package tensor

// ReLUGrad returns g where y > 0 and 0 elsewhere: the gradient of ReLU from
// its output (or input) y and the output gradient g, which must share shape,
// dtype and device. On the CPU with contiguous float32 operands it is one
// vectorised pass; otherwise it is composed as g · step(y), so it works on
// every device.
func ReLUGrad(g, y *Tensor) *Tensor {
	const op = "tensor.ReLUGrad"
	sameDevice(op, g, y)
	checkReLUGrad(op, g, y)
	if g.Device() == CPU && g.DType() == Float32 && g.IsContiguous() && y.IsContiguous() {
		n := g.NumElements()
		out := allocDirty(op, CPU, Float32, g.shape) // written in full below
		reluGradCPU(hostSlice[float32](out, n), hostSlice[float32](g, n), hostSlice[float32](y, n))
		return out
	}
	return Mul(g, UnaryInto(OpStep, EmptyLike(y), y, 0, 0))
}

// ReLUGradInto writes ReLUGrad(g, y) into dst (shape, dtype and device of
// g) and returns dst; dst may be g itself (in place).
func ReLUGradInto(dst, g, y *Tensor) *Tensor {
	const op = "tensor.ReLUGradInto"
	sameDevice(op, dst, g, y)
	checkReLUGrad(op, g, y)
	if !Shape(dst.shape).Equal(g.shape) || dst.DType() != g.DType() {
		fail(op, "destination %s for gradient %s", dst.describe(), g.describe())
	}
	if g.Device() == CPU && g.DType() == Float32 && g.IsContiguous() && y.IsContiguous() && dst.IsContiguous() {
		n := g.NumElements()
		reluGradCPU(hostSlice[float32](dst, n), hostSlice[float32](g, n), hostSlice[float32](y, n))
		return dst
	}
	return MulInto(dst, g, UnaryInto(OpStep, EmptyLike(y), y, 0, 0))
}

// checkReLUGrad fails unless g and y share shape and dtype.
func checkReLUGrad(op string, g, y *Tensor) {
	if !Shape(g.shape).Equal(y.shape) || g.DType() != y.DType() {
		fail(op, "gradient %v%v and output %v%v must share shape and dtype", g.DType(), Shape(g.shape), y.DType(), Shape(y.shape))
	}
}

// reluGradCPU runs the ReLUGrad kernel, on one goroutine (and without a
// closure) below the parallel threshold.
func reluGradCPU(d, g, y []float32) {
	n := len(d)
	w := workers(n, 1)
	if w <= 1 {
		reluGradF32(d, g, y)
		return
	}
	parallelFor(n, w, func(lo, hi int) { reluGradF32(d[lo:hi], g[lo:hi], y[lo:hi]) })
}
