package tensor

import (
	"fmt"
	"slices"
)

// Reshape returns a tensor with the same elements in a new shape. One
// dimension may be -1 and is inferred. It is a view whenever the strides
// allow (always for contiguous tensors), otherwise a copy.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	shape = inferShape("Tensor.Reshape", shape, t.NumElements(), t.shape)
	if st, ok := viewStrides(t.shape, t.strides, shape); ok {
		return newTensor(t.st, shape, st, t.offset)
	}
	c := t.Clone()
	return newTensor(c.st, shape, ContiguousStrides(shape), 0)
}

// View is Reshape that never copies: it panics when the strides do not allow a view.
func (t *Tensor) ViewAs(shape ...int) *Tensor {
	shape = inferShape("Tensor.ViewAs", shape, t.NumElements(), t.shape)
	st, ok := viewStrides(t.shape, t.strides, shape)
	if !ok {
		fail("Tensor.ViewAs", "shape %v with strides %v cannot be viewed as %v; use Reshape", Shape(t.shape), t.strides, Shape(shape))
	}
	return newTensor(t.st, shape, st, t.offset)
}

func inferShape(op string, shape []int, n int, from []int) []int {
	shape = slices.Clone(shape)
	infer := -1
	for i, d := range shape {
		switch {
		case d == -1 && infer < 0:
			infer = i
		case d < 0:
			fail(op, "bad shape %v", Shape(shape))
		}
	}
	known := 1
	if infer >= 0 {
		shape[infer] = 1
		known = checkShape(op, shape) // the other dimensions, without overflow
		shape[infer] = -1
	} else {
		known = checkShape(op, shape)
	}
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			fail(op, "cannot reshape %v into %v", Shape(from), Shape(shape))
		}
		shape[infer] = n / known
	} else if known != n {
		fail(op, "cannot reshape %v (%d elements) into %v", Shape(from), n, Shape(shape))
	}
	return shape
}

// viewStrides computes strides for viewing (shape, strides) as newShape
// without moving data, following PyTorch's computeStride.
func viewStrides(shape, strides, newShape []int) ([]int, bool) {
	out := make([]int, len(newShape))
	if Shape(shape).NumElements() == 0 {
		return ContiguousStrides(newShape), true
	}
	if len(shape) == 0 { // a 0-d tensor: any shape of one element is a view
		for i := range out {
			out[i] = 1
		}
		return out, true
	}
	viewD := len(newShape) - 1
	chunkBase := 0
	if len(strides) > 0 {
		chunkBase = strides[len(strides)-1]
	}
	tensorNumel := 1
	viewNumel := 1
	for d := len(shape) - 1; d >= 0; d-- {
		tensorNumel *= shape[d]
		if d == 0 || (shape[d-1] != 1 && strides[d-1] != tensorNumel*chunkBase) {
			for viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1) {
				out[viewD] = viewNumel * chunkBase
				viewNumel *= newShape[viewD]
				viewD--
			}
			if viewNumel != tensorNumel {
				return nil, false
			}
			if d > 0 {
				chunkBase = strides[d-1]
				tensorNumel = 1
				viewNumel = 1
			}
		}
	}
	if viewD != -1 {
		return nil, false
	}
	return out, true
}

// Flatten merges axes start..end (inclusive; negative counts from the end).
func (t *Tensor) Flatten(start, end int) *Tensor {
	if len(t.shape) == 0 {
		return t.Reshape(1)
	}
	start = NormAxis("Tensor.Flatten", start, t.shape)
	end = NormAxis("Tensor.Flatten", end, t.shape)
	if start > end {
		fail("Tensor.Flatten", "start axis %d after end axis %d of shape %v", start, end, Shape(t.shape))
	}
	shape := slices.Clone(t.shape[:start])
	shape = append(shape, Shape(t.shape[start:end+1]).NumElements())
	shape = append(shape, t.shape[end+1:]...)
	return t.Reshape(shape...)
}

// Permute reorders the axes: axis i of the result is axis perm[i] of t. A view.
func (t *Tensor) Permute(perm ...int) *Tensor {
	nd := len(t.shape)
	if len(perm) != nd {
		fail("Tensor.Permute", "permutation %v for shape %v", slices.Clone(perm), Shape(t.shape)) // a copy: see shapeCopy
	}
	seen := make([]bool, nd)
	shape := make([]int, nd)
	strides := make([]int, nd)
	for i, p := range perm {
		p = NormAxis("Tensor.Permute", p, t.shape)
		if seen[p] {
			fail("Tensor.Permute", "axis %d repeated in %v for shape %v", p, slices.Clone(perm), Shape(t.shape))
		}
		seen[p] = true
		shape[i], strides[i] = t.shape[p], t.strides[p]
	}
	return newTensor(t.st, shape, strides, t.offset)
}

// Transpose swaps axes a and b. A view.
func (t *Tensor) Transpose(a, b int) *Tensor {
	nd := len(t.shape)
	a, b = NormAxis("Tensor.Transpose", a, t.shape), NormAxis("Tensor.Transpose", b, t.shape)
	shape := make([]int, nd) // on the stack for small ranks: newTensor copies
	strides := make([]int, nd)
	copy(shape, t.shape)
	copy(strides, t.strides)
	shape[a], shape[b] = shape[b], shape[a]
	strides[a], strides[b] = strides[b], strides[a]
	return newTensor(t.st, shape, strides, t.offset)
}

// T transposes the last two axes (a matrix transpose). A view.
func (t *Tensor) T() *Tensor {
	if len(t.shape) < 2 {
		fail("Tensor.T", "needs at least 2 dimensions, have shape %v", Shape(t.shape))
	}
	return t.Transpose(-2, -1)
}

// Slice returns the elements start, start+step, ... below end along axis. A
// view. Negative start and end count from the end; they are clamped to the
// axis like Python slices. step must be positive.
func (t *Tensor) Slice(axis, start, end, step int) *Tensor {
	axis = NormAxis("Tensor.Slice", axis, t.shape)
	if step <= 0 {
		fail("Tensor.Slice", "step %d must be positive (axis %d of shape %v)", step, axis, Shape(t.shape))
	}
	n := t.shape[axis]
	clamp := func(i int) int {
		if i < 0 {
			i += n
		}
		return min(max(i, 0), n)
	}
	start, end = clamp(start), clamp(end)
	cnt := 0
	if end > start {
		cnt = (end - start + step - 1) / step
	}
	shape, strides := slices.Clone(t.shape), slices.Clone(t.strides)
	shape[axis] = cnt
	strides[axis] *= step
	off := t.offset
	if cnt > 0 {
		off += start * t.strides[axis]
	}
	return newTensor(t.st, shape, strides, off)
}

// Narrow returns length elements from start along axis. A view.
func (t *Tensor) Narrow(axis, start, length int) *Tensor {
	ax := NormAxis("Tensor.Narrow", axis, t.shape)
	if start < 0 || length < 0 || start+length > t.shape[ax] {
		fail("Tensor.Narrow", "range [%d, %d) out of axis %d of shape %v", start, start+length, ax, Shape(t.shape))
	}
	return t.Slice(ax, start, start+length, 1)
}

// Select returns the slice at index i along axis, with that axis removed. A view.
func (t *Tensor) Select(axis, i int) *Tensor {
	axis = NormAxis("Tensor.Select", axis, t.shape)
	if i < 0 {
		i += t.shape[axis]
	}
	if i < 0 || i >= t.shape[axis] {
		fail("Tensor.Select", "index %d out of range for axis %d of shape %v", i, axis, Shape(t.shape))
	}
	shape := slices.Delete(slices.Clone(t.shape), axis, axis+1)
	strides := slices.Delete(slices.Clone(t.strides), axis, axis+1)
	return newTensor(t.st, shape, strides, t.offset+i*t.strides[axis])
}

// Expand broadcasts t to shape (size-1 axes repeat with stride 0; new
// leading axes may be added; -1 keeps a size). A view.
func (t *Tensor) Expand(shape ...int) *Tensor {
	shape = slices.Clone(shape)
	off := len(shape) - len(t.shape)
	for i := range shape {
		if shape[i] == -1 {
			if i < off {
				fail("Tensor.Expand", "-1 in new leading axis %d of %v", i, Shape(shape))
			}
			shape[i] = t.shape[i-off]
		}
	}
	return t.broadcastTo("Tensor.Expand", shape)
}

// BroadcastTo is Expand with an explicit target shape.
func (t *Tensor) BroadcastTo(shape ...int) *Tensor { return t.broadcastTo("Tensor.BroadcastTo", shape) }

func (t *Tensor) broadcastTo(op string, shape []int) *Tensor {
	if Shape(shape).Equal(t.shape) {
		return t
	}
	checkShape(op, shape)
	off := len(shape) - len(t.shape)
	if off < 0 {
		fail(op, "cannot broadcast shape %v to %v", Shape(t.shape), shapeCopy(shape))
	}
	strides := make([]int, len(shape))
	for i := range shape {
		if i < off {
			continue
		}
		d := t.shape[i-off]
		switch {
		case d == shape[i]:
			strides[i] = t.strides[i-off]
		case d == 1:
			strides[i] = 0
		default:
			fail(op, "cannot broadcast shape %v to %v", Shape(t.shape), shapeCopy(shape))
		}
	}
	return newTensor(t.st, shape, strides, t.offset)
}

// Squeeze removes the given size-1 axes, or all size-1 axes when none are given. A view.
func (t *Tensor) Squeeze(axes ...int) *Tensor {
	drop := make([]bool, len(t.shape))
	if len(axes) == 0 {
		for i, d := range t.shape {
			drop[i] = d == 1
		}
	}
	for _, a := range axes {
		a = NormAxis("Tensor.Squeeze", a, t.shape)
		if t.shape[a] != 1 {
			fail("Tensor.Squeeze", "axis %d of shape %v has size %d, not 1", a, Shape(t.shape), t.shape[a])
		}
		drop[a] = true
	}
	var shape, strides []int
	for i := range t.shape {
		if !drop[i] {
			shape = append(shape, t.shape[i])
			strides = append(strides, t.strides[i])
		}
	}
	return newTensor(t.st, shape, strides, t.offset)
}

// Unsqueeze inserts a size-1 axis at position axis (in the result). A view.
func (t *Tensor) Unsqueeze(axis int) *Tensor {
	axis = normNewAxis("Tensor.Unsqueeze", axis, t.shape)
	st := 1
	if axis < len(t.shape) {
		st = t.strides[axis] * t.shape[axis]
	}
	shape := slices.Insert(slices.Clone(t.shape), axis, 1)
	strides := slices.Insert(slices.Clone(t.strides), axis, st)
	return newTensor(t.st, shape, strides, t.offset)
}

func (t *Tensor) describe() string {
	return fmt.Sprintf("%s%v", t.DType(), Shape(t.shape))
}
