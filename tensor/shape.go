package tensor

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// Shape is a tensor's size along each axis.
type Shape []int

// NumElements returns the product of the dimensions (1 for a scalar).
func (s Shape) NumElements() int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Equal reports whether s and o have the same dimensions.
func (s Shape) Equal(o Shape) bool {
	if len(s) != len(o) {
		return false
	}
	for i := range s {
		if s[i] != o[i] {
			return false
		}
	}
	return true
}

// Clone returns a copy of s.
func (s Shape) Clone() Shape { return append(Shape(nil), s...) }

func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprint(&b, d)
	}
	b.WriteByte(']')
	return b.String()
}

// checkShape returns the number of elements of shape, panicking with a
// *Error naming op when a dimension is negative or when the product of the
// dimensions overflows an int. Like PyTorch, the product of the non-zero
// dimensions must fit even when a zero dimension makes the count 0 (so the
// strides of every tensor fit too). Every tensor whose shape comes from a
// caller is checked here.
func checkShape(op string, shape []int) int {
	n, zero := 1, false
	for _, d := range shape {
		if d < 0 {
			fail(op, "negative dimension in shape %v", shapeCopy(shape))
		}
		if d == 0 {
			zero = true
			continue
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt {
			fail(op, "shape %v has more elements than an int holds", shapeCopy(shape))
		}
		n = int(lo)
	}
	if zero {
		return 0
	}
	return n
}

// shapeCopy is Shape(shape) for an error message: a copy, so that a shape
// slice that reaches a failing check does not have to live on the heap
// (escape analysis would move every caller's shape there).
func shapeCopy(shape []int) Shape { return slices.Clone(shape) }

// checkAlloc is checkShape for a new contiguous tensor of dtype dt: its
// size in bytes must fit in an int too. It returns the element count.
func checkAlloc(op string, dt DType, shape []int) int {
	n := checkShape(op, shape)
	if size := dt.Size(); size > 0 && n > math.MaxInt/size {
		panic(&Error{Op: op, Msg: fmt.Sprintf("allocating %s%v", dt, shapeCopy(shape)), Err: hostAllocErr(n, size)})
	}
	return n
}

// ContiguousStrides returns the row-major (C-order) strides of shape, in
// elements: the strides of a contiguous tensor of that shape. It is the one
// copy of this computation; the CUDA device, the conformance suite and the
// safetensors codec use it too.
func ContiguousStrides(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

// BroadcastShapes returns the NumPy broadcast of the shapes, or an error.
func BroadcastShapes(shapes ...[]int) ([]int, error) {
	nd := 0
	for _, s := range shapes {
		nd = max(nd, len(s))
	}
	out := make([]int, nd)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := nd - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case o == d || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %s do not broadcast", joinShapes(shapes))
			}
		}
	}
	return out, nil
}

func joinShapes(shapes [][]int) string {
	parts := make([]string, len(shapes))
	for i, s := range shapes {
		parts[i] = Shape(s).String()
	}
	return strings.Join(parts, " and ")
}

// NormAxis resolves a possibly negative axis (counted from the end) of a
// tensor of the given shape, panicking with a *Error that names op and the
// shape when it is out of range. Packages built on tensor use it (and
// NormAxes) so that every op reports a bad axis the same way.
func NormAxis(op string, axis int, shape []int) int {
	return resolveAxis(op, "axis", axis, len(shape), shape)
}

// normNewAxis resolves the position of an axis inserted into shape (in the
// result, so -1 and len(shape) both mean last).
func normNewAxis(op string, axis int, shape []int) int {
	return resolveAxis(op, "new axis", axis, len(shape)+1, shape)
}

// resolveAxis maps axis into [0, ndim), counting negative axes from the end.
func resolveAxis(op, what string, axis, ndim int, shape []int) int {
	a := axis
	if a < 0 {
		a += ndim
	}
	if a < 0 || a >= ndim {
		fail(op, "%s %d out of range for shape %v", what, axis, shapeCopy(shape))
	}
	return a
}

// NormAxes resolves axes of shape (nil or empty means all, negative ones
// count from the end), sorted, without duplicates; an axis out of range or
// given twice panics with a *Error naming op and the shape.
func NormAxes(op string, axes []int, shape []int) []int {
	ndim := len(shape)
	if len(axes) == 0 {
		all := make([]int, ndim)
		for i := range all {
			all[i] = i
		}
		return all
	}
	seen := make([]bool, ndim)
	for _, a := range axes {
		a = NormAxis(op, a, shape)
		if seen[a] {
			fail(op, "axis %d repeated in %v for shape %v", a, slices.Clone(axes), shapeCopy(shape)) // copies: see shapeCopy
		}
		seen[a] = true
	}
	out := make([]int, 0, len(axes))
	for i, s := range seen {
		if s {
			out = append(out, i)
		}
	}
	return out
}
