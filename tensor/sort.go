package tensor

// Sorting and order statistics along an axis: Sort, ArgSort, TopK,
// KthValue and Median.
//
// The one new primitive is a stable argsort along the last axis. It is an
// optional device capability (ArgSorter) rather than a method of Device, so
// existing backends keep working: a device without it has its input copied
// to the host, sorted by the CPU kernel, and the indices copied back. Values
// are then taken with the device's own Gather, so they are bit-exact on
// every device.

// ArgSorter is an optional Device capability: a stable argsort along the
// last axis. dst is a contiguous Int64 view with src's shape; row by row it
// receives the permutation that sorts src ascending (descending when asked),
// equal elements keeping their order, NaN treated as larger than every
// number (last ascending, first descending), as in PyTorch.
type ArgSorter interface {
	ArgSort(dst, src View, descending bool)
}

// argSortLast returns the stable argsort of x along its last axis, on x's
// device.
func argSortLast(op string, x *Tensor, descending bool) *Tensor {
	dev := x.Device()
	if s, ok := dev.(ArgSorter); ok {
		out := alloc(op, dev, Int64, x.shape)
		s.ArgSort(out.View(), x.View(), descending)
		return out
	}
	h := x.To(CPU)
	out := alloc(op, CPU, Int64, x.shape)
	cpuDevice{}.ArgSort(out.View(), h.View(), descending)
	return out.To(dev)
}

// ArgSort returns the Int64 indices that sort x along axis (stable; NaN
// sorts as the largest value), like torch.argsort(stable=True).
func ArgSort(x *Tensor, axis int, descending bool) *Tensor {
	const op = "tensor.ArgSort"
	if len(x.shape) == 0 {
		return Zeros(Int64).To(x.Device())
	}
	axis = NormAxis(op, axis, x.shape)
	last := len(x.shape) - 1
	if axis == last {
		return argSortLast(op, x, descending)
	}
	return argSortLast(op, x.Transpose(axis, last), descending).Transpose(axis, last).Contiguous()
}

// Sort sorts x along axis and returns the sorted values and their Int64
// indices in x, like torch.sort(stable=True): equal elements keep their
// order and NaN sorts as the largest value. Cost: O(N log n) for N
// elements and n = x.Dim(axis).
func Sort(x *Tensor, axis int, descending bool) (values, indices *Tensor) {
	if len(x.shape) == 0 {
		return x.Clone(), Zeros(Int64).To(x.Device())
	}
	axis = NormAxis("tensor.Sort", axis, x.shape)
	indices = ArgSort(x, axis, descending)
	return Gather(x, axis, indices), indices
}

// TopK returns the k largest (smallest when largest is false) elements of x
// along axis, in sorted order, and their indices, like torch.topk with
// sorted=True. Ties are returned in index order; NaN counts as the largest.
func TopK(x *Tensor, k, axis int, largest bool) (values, indices *Tensor) {
	const op = "tensor.TopK"
	axis = NormAxis(op, axis, x.shape)
	if k < 0 || k > x.shape[axis] {
		fail(op, "k=%d out of range for axis %d of shape %v", k, axis, Shape(x.shape))
	}
	idx := ArgSort(x, axis, largest).Narrow(axis, 0, k).Contiguous()
	return Gather(x, axis, idx), idx
}

// KthValue returns the k-th smallest element (k counts from 1) of x along
// axis and its index, like torch.kthvalue; NaN counts as the largest.
func KthValue(x *Tensor, k, axis int, keepDim bool) (values, indices *Tensor) {
	const op = "tensor.KthValue"
	axis = NormAxis(op, axis, x.shape)
	if k < 1 || k > x.shape[axis] {
		fail(op, "k=%d out of range [1, %d] for axis %d of shape %v", k, x.shape[axis], axis, Shape(x.shape))
	}
	idx := ArgSort(x, axis, false).Narrow(axis, k-1, 1).Contiguous()
	return selectIndexed(x, axis, idx, keepDim)
}

// Median returns the median of x along axis and its index, like
// torch.median(dim): for an even count it is the lower of the two middle
// values, and a row holding NaN has median NaN (the index of its first
// NaN). Cost: a sort of each row, O(N log n).
func Median(x *Tensor, axis int, keepDim bool) (values, indices *Tensor) {
	const op = "tensor.Median"
	axis = NormAxis(op, axis, x.shape)
	n := x.shape[axis]
	if n == 0 {
		fail(op, "median over the empty axis %d of shape %v", axis, Shape(x.shape))
	}
	order := ArgSort(x, axis, false)
	pos := (n - 1) / 2
	idx := order.Narrow(axis, pos, 1).Contiguous()
	if x.DType().IsFloat() {
		// Rows with NaN: the first NaN in sorted order sits at n - #NaN.
		nan := Ne(x, x)
		cnt := Sum(nan, true, axis) // Int64
		if Any(nan, false).Item() != 0 {
			at := Where(Gt(cnt, Zeros(Int64).To(x.Device())), AddScalar(Neg(cnt), float64(n)), FullLike(cnt, float64(pos)))
			idx = Gather(order, axis, at)
		}
	}
	return selectIndexed(x, axis, idx, keepDim)
}

// selectIndexed gathers x at idx (size 1 along axis) and drops the axis
// unless keepDim.
func selectIndexed(x *Tensor, axis int, idx *Tensor, keepDim bool) (*Tensor, *Tensor) {
	v := Gather(x, axis, idx)
	if !keepDim {
		v, idx = v.Squeeze(axis), idx.Squeeze(axis)
	}
	return v, idx
}
