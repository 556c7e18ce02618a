package tensor

// MatMulAdder is an optional Device capability: dst += a @ b in one pass
// (GEMM with beta = 1). Devices without it get Add(dst, MatMul(a, b)).
type MatMulAdder interface {
	MatMulAdd(dst, a, b View)
}

// AddMatMul returns c + a @ b for 2-D or batched a and b, with c broadcast to
// the product's shape (a bias row, for example). On devices with the
// MatMulAdder capability the sum is formed inside the GEMM.
func AddMatMul(c, a, b *Tensor) *Tensor {
	const op = "tensor.AddMatMul"
	sameDevice(op, c, a, b)
	if a.NDim() < 2 || b.NDim() < 2 {
		fail(op, "needs matrices, have %v and %v", Shape(a.shape), Shape(b.shape))
	}
	prodShape := matmulShape(op, a, b)
	out := alloc(op, a.Device(), promote(promote(a.DType(), b.DType()), c.DType()), prodShape)
	out.CopyFrom(c)
	return MatMulAddInto(out, a, b)
}

// MatMulAddInto accumulates a @ b into dst (dst += a @ b) and returns dst.
// a and b broadcast over batch axes to dst's shape.
func MatMulAddInto(dst, a, b *Tensor) *Tensor {
	const op = "tensor.MatMulAddInto"
	sameDevice(op, dst, a, b)
	if a.NDim() < 2 || b.NDim() < 2 {
		fail(op, "needs matrices, have %v and %v", Shape(a.shape), Shape(b.shape))
	}
	shape := matmulShape(op, a, b)
	if !Shape(shape).Equal(dst.shape) {
		fail(op, "product shape %v does not match destination %v", Shape(shape), Shape(dst.shape))
	}
	nd := len(shape)
	m, n, k := shape[nd-2], shape[nd-1], a.shape[a.NDim()-1]
	batch := shape[:nd-2]
	va := a.Cast(dst.DType()).broadcastTo(op, append(append([]int{}, batch...), m, k))
	vb := b.Cast(dst.DType()).broadcastTo(op, append(append([]int{}, batch...), k, n))
	if d, ok := dst.Device().(MatMulAdder); ok {
		d.MatMulAdd(dst.View(), va.View(), vb.View())
		return dst
	}
	return AddInto(dst, dst, MatMul(va, vb))
}

func matmulShape(op string, a, b *Tensor) []int {
	m, k := a.shape[a.NDim()-2], a.shape[a.NDim()-1]
	k2, n := b.shape[b.NDim()-2], b.shape[b.NDim()-1]
	if k != k2 {
		fail(op, "shapes %v and %v: inner dimensions %d and %d differ", Shape(a.shape), Shape(b.shape), k, k2)
	}
	batch, err := BroadcastShapes(a.shape[:a.NDim()-2], b.shape[:b.NDim()-2])
	if err != nil {
		fail(op, "batch dimensions of %v and %v do not broadcast", Shape(a.shape), Shape(b.shape))
	}
	return append(batch, m, n)
}
