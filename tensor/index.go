package tensor

import "slices"

func checkIndex(op string, index *Tensor) {
	if index.DType() != Int64 {
		fail(op, "index dtype %v, want int64", index.DType())
	}
}

// IndexSelect returns the entries of x at the Int64 indices idx (1-D) along axis.
func IndexSelect(x *Tensor, axis int, idx *Tensor) *Tensor {
	const op = "tensor.IndexSelect"
	checkIndex(op, idx)
	sameDevice(op, x, idx)
	if idx.NDim() != 1 {
		fail(op, "index must be 1-D, have shape %v", Shape(idx.shape))
	}
	axis = NormAxis(op, axis, x.shape)
	shape := slices.Clone(x.shape)
	shape[axis] = idx.shape[0]
	view := make([]int, x.NDim())
	for i := range view {
		view[i] = 1
	}
	view[axis] = idx.shape[0]
	out := alloc(op, x.Device(), x.DType(), shape)
	x.Device().Gather(out.View(), x.View(), idx.Reshape(view...).broadcastTo(op, shape).View(), axis)
	return out
}

// Gather returns out[i][j][k] = x[i][index[i][j][k]][k] along axis (for
// axis 1 of a 3-D tensor), like torch.gather. index is Int64, with x's rank
// and sizes no larger than x's off the axis.
func Gather(x *Tensor, axis int, index *Tensor) *Tensor {
	const op = "tensor.Gather"
	checkIndex(op, index)
	sameDevice(op, x, index)
	axis = NormAxis(op, axis, x.shape)
	checkScatterShapes(op, x, index, axis)
	out := alloc(op, x.Device(), x.DType(), index.shape)
	x.Device().Gather(out.View(), x.View(), index.View(), axis)
	return out
}

func checkScatterShapes(op string, x, index *Tensor, axis int) {
	if index.NDim() != x.NDim() {
		fail(op, "index shape %v and tensor shape %v differ in rank", Shape(index.shape), Shape(x.shape))
	}
	for i := range x.shape {
		if i != axis && index.shape[i] > x.shape[i] {
			fail(op, "index shape %v exceeds tensor shape %v off axis %d", Shape(index.shape), Shape(x.shape), axis)
		}
	}
}

// ScatterAdd returns a copy of x with src[i][j][k] added at
// [i][index[i][j][k]][k] (for axis 1), like torch.scatter_add.
func ScatterAdd(x *Tensor, axis int, index, src *Tensor) *Tensor {
	return ScatterAddInto(x.Clone(), axis, index, src)
}

// ScatterAddInto is ScatterAdd in place on x.
func ScatterAddInto(x *Tensor, axis int, index, src *Tensor) *Tensor {
	const op = "tensor.ScatterAdd"
	checkIndex(op, index)
	sameDevice(op, x, index, src)
	axis = NormAxis(op, axis, x.shape)
	checkScatterShapes(op, x, index, axis)
	if !Shape(index.shape).Equal(src.shape) {
		if src.NDim() != index.NDim() {
			fail(op, "index shape %v and source shape %v differ", Shape(index.shape), Shape(src.shape))
		}
		for i := range src.shape {
			if index.shape[i] > src.shape[i] {
				fail(op, "index shape %v exceeds source shape %v", Shape(index.shape), Shape(src.shape))
			}
			src = src.Narrow(i, 0, index.shape[i])
		}
	}
	x.Device().ScatterAdd(x.View(), index.View(), src.Cast(x.DType()).View(), axis)
	return x
}

// OneHot returns the Float32 one-hot encoding of Int64 labels with n classes
// (a new last axis).
func OneHot(labels *Tensor, n int) *Tensor {
	const op = "tensor.OneHot"
	checkIndex(op, labels)
	classes := Arange(0, float64(n), 1, Int64).To(labels.Device())
	bad := LogicalOr(CompareScalar(OpLt, labels, 0), CompareScalar(OpGe, labels, float64(n)))
	if Any(bad, false).Item() != 0 {
		fail(op, "labels of shape %v outside [0, %d)", Shape(labels.shape), n)
	}
	return Eq(labels.Unsqueeze(-1), classes).Cast(Float32)
}

// Concat joins tensors along axis; all other dimensions must match.
func Concat(ts []*Tensor, axis int) *Tensor {
	const op = "tensor.Concat"
	if len(ts) == 0 {
		fail(op, "no tensors")
	}
	first := ts[0]
	axis = NormAxis(op, axis, first.shape)
	shape := slices.Clone(first.shape)
	shape[axis] = 0
	dt := first.DType()
	for _, t := range ts {
		sameDevice(op, first, t)
		if t.NDim() != first.NDim() {
			fail(op, "shapes %v and %v differ in rank", Shape(first.shape), Shape(t.shape))
		}
		for i := range t.shape {
			if i != axis && t.shape[i] != first.shape[i] {
				fail(op, "shapes %v and %v differ off axis %d", Shape(first.shape), Shape(t.shape), axis)
			}
		}
		shape[axis] += t.shape[axis]
		dt = promote(dt, t.DType())
	}
	out := alloc(op, first.Device(), dt, shape)
	at := 0
	for _, t := range ts {
		n := t.shape[axis]
		if n > 0 {
			out.Narrow(axis, at, n).CopyFrom(t)
		}
		at += n
	}
	return out
}

// Stack joins same-shaped tensors along a new axis.
func Stack(ts []*Tensor, axis int) *Tensor {
	if len(ts) == 0 {
		fail("tensor.Stack", "no tensors")
	}
	axis = normNewAxis("tensor.Stack", axis, ts[0].shape)
	us := make([]*Tensor, len(ts))
	for i, t := range ts {
		if !Shape(t.shape).Equal(ts[0].shape) {
			fail("tensor.Stack", "shapes %v and %v differ", Shape(ts[0].shape), Shape(t.shape))
		}
		us[i] = t.Unsqueeze(axis)
	}
	return Concat(us, axis)
}

// Split cuts x along axis into views of the given sizes (which must add up
// to the axis length).
func Split(x *Tensor, sizes []int, axis int) []*Tensor {
	axis = NormAxis("tensor.Split", axis, x.shape)
	total := 0
	for _, s := range sizes {
		if s < 0 {
			fail("tensor.Split", "negative size in %v for shape %v", sizes, Shape(x.shape))
		}
		total += s
	}
	if total != x.shape[axis] {
		fail("tensor.Split", "sizes %v do not add up to %d (axis %d of %v)", sizes, x.shape[axis], axis, Shape(x.shape))
	}
	out := make([]*Tensor, len(sizes))
	at := 0
	for i, s := range sizes {
		out[i] = x.Narrow(axis, at, s)
		at += s
	}
	return out
}

// Chunk cuts x along axis into n views of nearly equal size (the last may be
// smaller, and fewer than n come back when the axis is short), like torch.chunk.
func Chunk(x *Tensor, n int, axis int) []*Tensor {
	if n <= 0 {
		fail("tensor.Chunk", "chunk count %d must be positive (shape %v)", n, Shape(x.shape))
	}
	axis = NormAxis("tensor.Chunk", axis, x.shape)
	L := x.shape[axis]
	size := (L + n - 1) / n
	var sizes []int
	for at := 0; at < L; at += size {
		sizes = append(sizes, min(size, L-at))
	}
	if L == 0 {
		sizes = []int{0}
	}
	return Split(x, sizes, axis)
}

// Pad adds constant padding: pads holds (before, after) pairs starting with
// the LAST axis, as in torch.nn.functional.pad.
func Pad(x *Tensor, pads []int, value float64) *Tensor {
	const op = "tensor.Pad"
	if len(pads)%2 != 0 || len(pads)/2 > x.NDim() {
		fail(op, "pads %v for shape %v", pads, Shape(x.shape))
	}
	shape := slices.Clone(x.shape)
	inner := x
	for i := 0; i < len(pads)/2; i++ {
		ax := x.NDim() - 1 - i
		b, a := pads[2*i], pads[2*i+1]
		if b < 0 || a < 0 {
			fail(op, "negative padding %v for shape %v", pads, Shape(x.shape))
		}
		shape[ax] += b + a
	}
	out := alloc(op, x.Device(), x.DType(), shape)
	out.Device().Fill(out.View(), value)
	dst := out
	for i := 0; i < len(pads)/2; i++ {
		ax := x.NDim() - 1 - i
		dst = dst.Narrow(ax, pads[2*i], x.shape[ax])
	}
	if inner.NumElements() > 0 {
		dst.CopyFrom(inner)
	}
	return out
}

// Softmax returns the softmax of x along axis, computed stably.
func Softmax(x *Tensor, axis int) *Tensor { return softmax("tensor.Softmax", x, axis, false) }

// LogSoftmax returns log(softmax(x)) along axis, computed stably.
func LogSoftmax(x *Tensor, axis int) *Tensor { return softmax("tensor.LogSoftmax", x, axis, true) }

// SoftmaxInto writes the softmax of x along axis into dst (same shape and
// dtype as x, a floating dtype) and returns dst.
func SoftmaxInto(dst, x *Tensor, axis int) *Tensor {
	return softmaxInto("tensor.SoftmaxInto", dst, x, axis, false)
}

// LogSoftmaxInto writes the log-softmax of x along axis into dst.
func LogSoftmaxInto(dst, x *Tensor, axis int) *Tensor {
	return softmaxInto("tensor.LogSoftmaxInto", dst, x, axis, true)
}

func softmaxInto(op string, dst, x *Tensor, axis int, log bool) *Tensor {
	sameDevice(op, dst, x)
	if !x.DType().IsFloat() || dst.DType() != x.DType() || !Shape(dst.shape).Equal(x.shape) {
		fail(op, "destination %v%v for input %v%v (want the same floating dtype and shape)", dst.DType(), Shape(dst.shape), x.DType(), Shape(x.shape))
	}
	if x.NDim() == 0 {
		softmaxInto(op, dst.Reshape(1), x.Reshape(1), 0, log)
		return dst
	}
	axis = NormAxis(op, axis, x.shape)
	perm := make([]int, 0, x.NDim())
	for i := range x.NDim() {
		if i != axis {
			perm = append(perm, i)
		}
	}
	perm = append(perm, axis)
	x.Device().Softmax(dst.Permute(perm...).View(), x.Permute(perm...).View(), log)
	return dst
}

func softmax(op string, x *Tensor, axis int, log bool) *Tensor {
	x = floatOf(x)
	if x.NDim() == 0 {
		x = x.Reshape(1)
		return softmax(op, x, 0, log).Reshape()
	}
	axis = NormAxis(op, axis, x.shape)
	perm := make([]int, 0, x.NDim())
	for i := range x.NDim() {
		if i != axis {
			perm = append(perm, i)
		}
	}
	perm = append(perm, axis)
	out := alloc(op, x.Device(), x.DType(), x.shape)
	x.Device().Softmax(out.Permute(perm...).View(), x.Permute(perm...).View(), log)
	return out
}
