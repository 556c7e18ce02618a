package tensor

import "math"

// reduce reduces x over axes (all when empty) with a device kernel.
func reduce(op string, rop ReduceOp, x *Tensor, keepDim bool, outDT DType, axes []int) *Tensor {
	nd := len(x.shape)
	axes = NormAxes(op, axes, x.shape)
	isRed := make([]bool, nd)
	redN := 1
	for _, a := range axes {
		isRed[a] = true
		redN *= x.shape[a]
	}
	if redN == 0 && rop != ReduceSum && rop != ReduceProd {
		fail(op, "reduction over the empty axes %v of shape %v has no identity", axes, Shape(x.shape))
	}
	perm := make([]int, 0, nd) // both on the stack for small ranks
	kept := make([]int, 0, nd)
	for i := range nd {
		if !isRed[i] {
			perm = append(perm, i)
			kept = append(kept, x.shape[i])
		}
	}
	perm = append(perm, axes...)
	out := alloc(op, x.Device(), outDT, kept)
	x.Device().Reduce(rop, out.View(), x.Permute(perm...).View(), len(axes))
	if keepDim {
		ks := make([]int, nd)
		for i := range nd {
			ks[i] = x.shape[i]
			if isRed[i] {
				ks[i] = 1
			}
		}
		out = out.Reshape(ks...)
	}
	return out
}

func sumDType(d DType) DType {
	if d.IsFloat() {
		return d
	}
	return Int64
}

// Sum adds the elements over axes (all axes when none are given). Integer
// and bool inputs sum to Int64.
func Sum(x *Tensor, keepDim bool, axes ...int) *Tensor {
	return reduce("tensor.Sum", ReduceSum, x, keepDim, sumDType(x.DType()), axes)
}

// Prod multiplies the elements over axes.
func Prod(x *Tensor, keepDim bool, axes ...int) *Tensor {
	return reduce("tensor.Prod", ReduceProd, x, keepDim, sumDType(x.DType()), axes)
}

// Max returns the maximum over axes (NaN propagates).
func Max(x *Tensor, keepDim bool, axes ...int) *Tensor {
	return reduce("tensor.Max", ReduceMax, x, keepDim, x.DType(), axes)
}

// Min returns the minimum over axes.
func Min(x *Tensor, keepDim bool, axes ...int) *Tensor {
	return reduce("tensor.Min", ReduceMin, x, keepDim, x.DType(), axes)
}

// ArgMax returns the Int64 index of the first maximum along axis.
func ArgMax(x *Tensor, axis int, keepDim bool) *Tensor {
	return reduce("tensor.ArgMax", ReduceArgMax, x, keepDim, Int64, []int{axis})
}

// ArgMin returns the Int64 index of the first minimum along axis.
func ArgMin(x *Tensor, axis int, keepDim bool) *Tensor {
	return reduce("tensor.ArgMin", ReduceArgMin, x, keepDim, Int64, []int{axis})
}

// MaxAlong returns the maximum along axis and its index.
func MaxAlong(x *Tensor, axis int, keepDim bool) (values, indices *Tensor) {
	return Max(x, keepDim, axis), ArgMax(x, axis, keepDim)
}

// MinAlong returns the minimum along axis and its index.
func MinAlong(x *Tensor, axis int, keepDim bool) (values, indices *Tensor) {
	return Min(x, keepDim, axis), ArgMin(x, axis, keepDim)
}

func reducedCount(x *Tensor, axes []int) int {
	n := 1
	for _, a := range NormAxes("tensor.reduce", axes, x.shape) {
		n *= x.shape[a]
	}
	return n
}

func floatOf(x *Tensor) *Tensor {
	if x.DType().IsFloat() {
		return x
	}
	return x.Cast(Float32)
}

// Mean averages over axes (integers are averaged in Float32).
func Mean(x *Tensor, keepDim bool, axes ...int) *Tensor {
	x = floatOf(x)
	n := reducedCount(x, axes)
	return MulScalar(Sum(x, keepDim, axes...), 1/float64(n))
}

// Var returns the variance over axes with the given correction (1 for the
// unbiased estimator, 0 for the population variance).
func Var(x *Tensor, correction int, keepDim bool, axes ...int) *Tensor {
	x = floatOf(x)
	n := reducedCount(x, axes)
	d := Sub(x, Mean(x, true, axes...))
	return MulScalar(Sum(Square(d), keepDim, axes...), 1/math.Max(float64(n-correction), 0))
}

// Std is the square root of Var.
func Std(x *Tensor, correction int, keepDim bool, axes ...int) *Tensor {
	return Sqrt(Var(x, correction, keepDim, axes...))
}

// LogSumExp returns log Σ exp(x) over axes, computed stably.
func LogSumExp(x *Tensor, keepDim bool, axes ...int) *Tensor {
	x = floatOf(x)
	m := Max(x, true, axes...)
	// Keep infinities from producing NaN: shift by 0 where the max is infinite.
	finite := CompareScalar(OpLt, Abs(m), math.Inf(1))
	m = Where(finite, m, ZerosLike(m))
	s := Log(Sum(Exp(Sub(x, m)), true, axes...))
	out := Add(s, m)
	if !keepDim {
		out = out.Squeeze(NormAxes("tensor.LogSumExp", axes, x.shape)...)
	}
	return out
}

// All reports, over axes, whether every element is non-zero (Bool result).
func All(x *Tensor, keepDim bool, axes ...int) *Tensor {
	// a product of 0/1 values: true over empty axes, like NumPy's all
	return reduce("tensor.All", ReduceProd, x.Cast(Bool), keepDim, Bool, axes)
}

// Any reports, over axes, whether some element is non-zero (Bool result).
func Any(x *Tensor, keepDim bool, axes ...int) *Tensor {
	// a sum of 0/1 values stored as bool: false over empty axes
	return reduce("tensor.Any", ReduceSum, x.Cast(Bool), keepDim, Bool, axes)
}
