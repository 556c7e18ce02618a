package tensor

// MatMul returns the matrix product of a and b with NumPy semantics: 1-D
// operands are promoted to a row (a) or column (b) vector and the added axis
// removed afterwards; leading batch axes broadcast. Transposed operands (for
// example b.T()) are read in place without a copy.
func MatMul(a, b *Tensor) *Tensor {
	const op = "tensor.MatMul"
	sameDevice(op, a, b)
	if a.NDim() == 0 || b.NDim() == 0 {
		fail(op, "scalar operands %v and %v", Shape(a.shape), Shape(b.shape))
	}
	va, vb := a, b
	if a.NDim() == 1 {
		va = a.Unsqueeze(0)
	}
	if b.NDim() == 1 {
		vb = b.Unsqueeze(1)
	}
	m, k := va.shape[va.NDim()-2], va.shape[va.NDim()-1]
	k2, n := vb.shape[vb.NDim()-2], vb.shape[vb.NDim()-1]
	if k != k2 {
		fail(op, "shapes %v and %v: inner dimensions %d and %d differ", Shape(a.shape), Shape(b.shape), k, k2)
	}
	batch, err := BroadcastShapes(va.shape[:va.NDim()-2], vb.shape[:vb.NDim()-2])
	if err != nil {
		fail(op, "batch dimensions of %v and %v do not broadcast", Shape(a.shape), Shape(b.shape))
	}
	dt := promote(a.DType(), b.DType())
	va = va.Cast(dt).broadcastTo(op, append(append([]int{}, batch...), m, k))
	vb = vb.Cast(dt).broadcastTo(op, append(append([]int{}, batch...), k, n))
	out := alloc(op, a.Device(), dt, append(append([]int{}, batch...), m, n))
	a.Device().MatMul(out.View(), va.View(), vb.View())
	switch {
	case a.NDim() == 1 && b.NDim() == 1:
		return out.Reshape()
	case a.NDim() == 1:
		return out.Squeeze(-2)
	case b.NDim() == 1:
		return out.Squeeze(-1)
	}
	return out
}

// MatMulInto writes a @ b (both at least 2-D, same batch shape as dst) into dst.
func MatMulInto(dst, a, b *Tensor) *Tensor {
	const op = "tensor.MatMulInto"
	sameDevice(op, dst, a, b)
	if a.NDim() < 2 || a.NDim() != b.NDim() || a.NDim() != dst.NDim() {
		fail(op, "shapes %v @ %v into %v", Shape(a.shape), Shape(b.shape), Shape(dst.shape))
	}
	nd := a.NDim()
	// dst's shape must be a's with the last axis b's (compared in place)
	if a.shape[nd-1] != b.shape[nd-2] || !Shape(a.shape[:nd-1]).Equal(dst.shape[:nd-1]) || b.shape[nd-1] != dst.shape[nd-1] ||
		!Shape(a.shape[:nd-2]).Equal(b.shape[:nd-2]) {
		fail(op, "shapes %v @ %v into %v", Shape(a.shape), Shape(b.shape), Shape(dst.shape))
	}
	if a.DType() != dst.DType() || b.DType() != dst.DType() {
		fail(op, "dtypes %v @ %v into %v", a.DType(), b.DType(), dst.DType())
	}
	a.Device().MatMul(dst.View(), a.View(), b.View())
	return dst
}

// Dot returns the inner product of two 1-D tensors as a scalar tensor.
func Dot(a, b *Tensor) *Tensor {
	if a.NDim() != 1 || b.NDim() != 1 || a.shape[0] != b.shape[0] {
		fail("tensor.Dot", "needs two 1-D tensors of equal length, have %v and %v", Shape(a.shape), Shape(b.shape))
	}
	return MatMul(a, b)
}

// Outer returns the outer product of two 1-D tensors.
func Outer(a, b *Tensor) *Tensor {
	if a.NDim() != 1 || b.NDim() != 1 {
		fail("tensor.Outer", "needs two 1-D tensors, have %v and %v", Shape(a.shape), Shape(b.shape))
	}
	return Mul(a.Unsqueeze(1), b.Unsqueeze(0))
}
