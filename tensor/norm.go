package tensor

import "math"

// Norm returns the vector ord-norm of x over axes (all axes when none are
// given), like torch.linalg.vector_norm, for ord 1 (Σ|x|), 2 (√Σx²) and
// math.Inf(1) (max|x|). It is built from device primitives (Unary,
// Reduce), so it runs on every device. x must be floating point.
func Norm(x *Tensor, ord float64, keepDim bool, axes ...int) *Tensor {
	const op = "tensor.Norm"
	if !x.DType().IsFloat() {
		fail(op, "needs a floating-point tensor, got %s%v", x.DType(), Shape(x.shape))
	}
	switch {
	case ord == 1:
		return Sum(Abs(x), keepDim, axes...)
	case ord == 2:
		return Sqrt(Sum(Square(x), keepDim, axes...))
	case math.IsInf(ord, 1):
		if x.NumElements() == 0 {
			return Sum(x, keepDim, axes...) // 0 over empty axes, as PyTorch
		}
		return Max(Abs(x), keepDim, axes...)
	}
	fail(op, "ord %g not supported (1, 2 or +Inf)", ord)
	return nil
}

// PairwiseSqDist returns the squared Euclidean distances between the rows
// of a [..., m, d] and b [..., n, d] as [..., m, n], like torch.cdist(a, b)²
// with compute_mode="use_mm_for_euclid_dist": ‖a_i‖² + ‖b_j‖² − 2·a_i·b_j
// through one batched GEMM, clamped at 0 (cancellation can make the
// expansion slightly negative). Cost: O(m·n·d) in the GEMM. The expansion
// loses relative accuracy when distances are small next to the norms; use
// Float64 where that matters.
func PairwiseSqDist(a, b *Tensor) *Tensor {
	const op = "tensor.PairwiseSqDist"
	if a.NDim() < 2 || a.NDim() != b.NDim() || a.shape[a.NDim()-1] != b.shape[b.NDim()-1] {
		fail(op, "shapes %v and %v are not [..., m, d] and [..., n, d]", Shape(a.shape), Shape(b.shape))
	}
	if !a.DType().IsFloat() || a.DType() != b.DType() {
		fail(op, "needs one floating-point dtype, got %s and %s", a.DType(), b.DType())
	}
	nd := a.NDim()
	an := Sum(Square(a), true, nd-1)                       // [..., m, 1]
	bn := Sum(Square(b), true, nd-1).Transpose(nd-2, nd-1) // [..., 1, n]
	ab := MatMul(a, b.Transpose(nd-2, nd-1))               // [..., m, n]
	return MaximumScalar(Add(Add(an, bn), Affine(ab, -2, 0)), 0)
}
