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
	var ps [2]int
	prodShape := matmulShape(op, a, b, &ps)
	out := alloc(op, a.Device(), promote(promote(a.DType(), b.DType()), c.DType()), prodShape)
	if !copyBiasRows(out, c) {
		out.CopyFrom(c)
	}
	return MatMulAddInto(out, a, b)
}

// copyBiasRows copies a contiguous 1-D c (a bias of length n, or one
// element) into every row of out, a new contiguous [m, n] CPU tensor of
// c's float dtype, below the parallel threshold, and reports whether it
// did (CopyFrom does the rest).
func copyBiasRows(out, c *Tensor) bool {
	if out.Device() != CPU || len(out.shape) != 2 || len(c.shape) != 1 || c.DType() != out.DType() || c.strides[0] != 1 {
		return false
	}
	m, n := out.shape[0], out.shape[1]
	if (c.shape[0] != n && c.shape[0] != 1) || workers(m*n, 1) != 1 {
		return false // large outputs keep CopyFrom's parallel copy
	}
	switch d := out.st.(*cpuStorage).buf.(type) {
	case []float32:
		copyRowsOf(d[:m*n], c.st.(*cpuStorage).buf.([]float32)[c.offset:c.offset+c.shape[0]], n)
	case []float64:
		copyRowsOf(d[:m*n], c.st.(*cpuStorage).buf.([]float64)[c.offset:c.offset+c.shape[0]], n)
	default:
		return false
	}
	return true
}

func copyRowsOf[T float32 | float64](d, row []T, n int) {
	if len(row) == 1 {
		fillSlice(d, row[0])
		return
	}
	for i := 0; i < len(d); i += n {
		copy(d[i:i+n], row)
	}
}

// MatMulAddInto accumulates a @ b into dst (dst += a @ b) and returns dst.
// a and b broadcast over batch axes to dst's shape.
func MatMulAddInto(dst, a, b *Tensor) *Tensor {
	const op = "tensor.MatMulAddInto"
	sameDevice(op, dst, a, b)
	if a.NDim() < 2 || b.NDim() < 2 {
		fail(op, "needs matrices, have %v and %v", Shape(a.shape), Shape(b.shape))
	}
	var ps [2]int
	shape := matmulShape(op, a, b, &ps)
	if !Shape(shape).Equal(dst.shape) {
		fail(op, "product shape %v does not match destination %v", shapeCopy(shape), Shape(dst.shape))
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

// matmulShape returns the shape of a @ b, the batch axes broadcast; for
// 2-D operands (the common case) it is buf, which the caller keeps on its
// stack, so nothing is allocated.
func matmulShape(op string, a, b *Tensor, buf *[2]int) []int {
	m, k := a.shape[a.NDim()-2], a.shape[a.NDim()-1]
	k2, n := b.shape[b.NDim()-2], b.shape[b.NDim()-1]
	if k != k2 {
		fail(op, "shapes %v and %v: inner dimensions %d and %d differ", Shape(a.shape), Shape(b.shape), k, k2)
	}
	if a.NDim() == 2 && b.NDim() == 2 {
		*buf = [2]int{m, n}
		return buf[:]
	}
	batch, err := BroadcastShapes(a.shape[:a.NDim()-2], b.shape[:b.NDim()-2])
	if err != nil {
		fail(op, "batch dimensions of %v and %v do not broadcast", Shape(a.shape), Shape(b.shape))
	}
	return append(batch, m, n)
}
