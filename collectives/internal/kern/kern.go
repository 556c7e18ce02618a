// Package kern holds the reduction kernels that the in-process backend
// uses: a blocked fold of n ranks' buffers in the canonical order.
//
// Canonical order: the reduction of ranks [lo, hi) is x_lo when hi-lo == 1,
// and R(lo, mid) ⊕ R(mid, hi) with mid = lo + (hi-lo+1)/2 otherwise (a
// balanced binary tree over the ranks in rank order; the left half is the
// larger one). Float16 and BFloat16 are widened to float32, folded in
// float32 and rounded once. Avg is the Sum divided by n once at the end
// (integer division for integers). Bool is folded as 0/1 bytes: Sum and
// Max are OR, Prod and Min are AND.
package kern

import (
	"fmt"
	"unsafe"

	"github.com/tessera-ml/tessera/tensor"
)

// Op mirrors collectives.RedOp (kept separate to avoid an import cycle).
type Op uint8

// The operators, in collectives.RedOp order.
const (
	Sum Op = iota
	Avg
	Prod
	Min
	Max
)

// BlockElems is the number of elements folded per block: small enough
// that the scratch rows stay in L1/L2 cache.
const BlockElems = 4096

type num interface {
	~float32 | ~float64 | ~int32 | ~int64 | ~uint8
}

// Reducer folds blocks of n equally long buffers of one dtype.
type Reducer interface {
	// Block folds elements [i0, i0+m) (m <= BlockElems) of every srcs[k]
	// and writes the result to the same elements of every dst. A dst may
	// alias a src: all reads of the block happen before the first write.
	Block(srcs, dsts [][]byte, i0, m int)
}

// New returns a reducer for n ranks. It allocates its scratch once.
func New(dt tensor.DType, op Op, n int) Reducer {
	if n < 1 {
		panic("kern.New: n < 1")
	}
	switch dt {
	case tensor.Float32:
		return newFolder[float32](op, n)
	case tensor.Float64:
		return newFolder[float64](op, n)
	case tensor.Int32:
		return newFolder[int32](op, n)
	case tensor.Int64:
		return newFolder[int64](op, n)
	case tensor.Bool:
		switch op {
		case Sum, Max:
			op = Max
		case Prod, Min:
			op = Min
		default:
			panic("kern.New: avg of bool")
		}
		return newFolder[uint8](op, n)
	case tensor.Float16, tensor.BFloat16:
		h := &half{f: newFolder[float32](op, n), bf: dt == tensor.BFloat16, conv: make([][]float32, n)}
		for k := range h.conv {
			h.conv[k] = make([]float32, BlockElems)
		}
		h.out = make([]uint16, BlockElems)
		return h
	}
	panic(fmt.Sprintf("kern.New: dtype %v", dt))
}

func cast[T any](b []byte) []T {
	var z T
	n := len(b) / int(unsafe.Sizeof(z))
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

type folder[T num] struct {
	op     Op
	n      int
	srcs   [][]T
	levels [][]T
}

func newFolder[T num](op Op, n int) *folder[T] {
	depth := 1
	for s := 1; s < n; s *= 2 {
		depth++
	}
	f := &folder[T]{op: op, n: n, srcs: make([][]T, n), levels: make([][]T, depth)}
	for i := range f.levels {
		f.levels[i] = make([]T, BlockElems)
	}
	return f
}

// fold returns R(lo, hi) of f.srcs (each already cut to the block), using
// levels[d:] as scratch. The result is a source row when hi-lo == 1.
func (f *folder[T]) fold(lo, hi, d, m int) []T {
	if hi-lo == 1 {
		return f.srcs[lo]
	}
	mid := lo + (hi-lo+1)/2
	a := f.fold(lo, mid, d, m)
	var b []T
	if hi-mid == 1 {
		b = f.srcs[mid]
	} else {
		b = f.fold(mid, hi, d+1, m)
	}
	out := f.levels[d][:m]
	combine(f.op, out, a, b)
	return out
}

// result folds the block and applies Avg's division.
func (f *folder[T]) result(m int) []T {
	r := f.fold(0, f.n, 0, m)
	if f.op == Avg && f.n > 1 {
		div := T(f.n)
		for i := range r {
			r[i] /= div
		}
	}
	return r
}

func (f *folder[T]) Block(srcs, dsts [][]byte, i0, m int) {
	if m == 0 {
		return
	}
	for k, s := range srcs {
		f.srcs[k] = cast[T](s)[i0 : i0+m]
	}
	r := f.result(m)
	for _, d := range dsts {
		dd := cast[T](d)[i0 : i0+m]
		if &dd[0] != &r[0] {
			copy(dd, r)
		}
	}
}

func combine[T num](op Op, out, a, b []T) {
	a, b = a[:len(out)], b[:len(out)]
	switch op {
	case Sum, Avg:
		if haveAVX && len(out) > 0 && addVector(out, a, b) {
			return
		}
		for i := range out {
			out[i] = a[i] + b[i]
		}
	case Prod:
		for i := range out {
			out[i] = a[i] * b[i]
		}
	case Min:
		for i := range out {
			x, y := a[i], b[i]
			if y < x || y != y {
				x = y
			}
			out[i] = x
		}
	case Max:
		for i := range out {
			x, y := a[i], b[i]
			if y > x || y != y {
				x = y
			}
			out[i] = x
		}
	default:
		panic(fmt.Sprintf("kern: unknown op %d", op))
	}
}

// addVector is out = a + b with the AVX kernels for float32 and float64: the
// same IEEE additions as the scalar loop (a NaN from a wins over one from
// b, as with ADDSS), so results are bit-identical. It reports false for
// other element types.
func addVector[T num](out, a, b []T) bool {
	switch o := any(out).(type) {
	case []float32:
		x, y := any(a).([]float32), any(b).([]float32)
		addF32AVX(&o[0], &x[0], &y[0], len(o))
		return true
	case []float64:
		x, y := any(a).([]float64), any(b).([]float64)
		addF64AVX(&o[0], &x[0], &y[0], len(o))
		return true
	}
	return false
}

// half folds Float16/BFloat16 blocks in float32.
type half struct {
	f    *folder[float32]
	bf   bool
	conv [][]float32
	out  []uint16
}

func (h *half) Block(srcs, dsts [][]byte, i0, m int) {
	if m == 0 {
		return
	}
	for k, s := range srcs {
		src := cast[uint16](s)[i0 : i0+m]
		c := h.conv[k][:m]
		if h.bf {
			for i, v := range src {
				c[i] = tensor.BFloat16ToFloat32(v)
			}
		} else {
			for i, v := range src {
				c[i] = tensor.Float16ToFloat32(v)
			}
		}
		h.f.srcs[k] = c
	}
	r := h.f.result(m)
	o := h.out[:m]
	if h.bf {
		for i, v := range r {
			o[i] = tensor.Float32ToBFloat16(v)
		}
	} else {
		for i, v := range r {
			o[i] = tensor.Float32ToFloat16(v)
		}
	}
	for _, d := range dsts {
		copy(cast[uint16](d)[i0:i0+m], o)
	}
}

// Divide divides every element of b (count elements of dt) by n in place:
// the Avg step of backends that reduce with Sum. Integers use Go's
// truncating division; 16-bit floats divide in float32 and round once.
func Divide(dt tensor.DType, b []byte, n int) {
	switch dt {
	case tensor.Float32:
		divide(cast[float32](b), float32(n))
	case tensor.Float64:
		divide(cast[float64](b), float64(n))
	case tensor.Int32:
		divide(cast[int32](b), int32(n))
	case tensor.Int64:
		divide(cast[int64](b), int64(n))
	case tensor.Float16:
		for i, v := range cast[uint16](b) {
			cast[uint16](b)[i] = tensor.Float32ToFloat16(tensor.Float16ToFloat32(v) / float32(n))
		}
	case tensor.BFloat16:
		for i, v := range cast[uint16](b) {
			cast[uint16](b)[i] = tensor.Float32ToBFloat16(tensor.BFloat16ToFloat32(v) / float32(n))
		}
	default:
		panic(fmt.Sprintf("kern.Divide: dtype %v", dt))
	}
}

func divide[T num](x []T, n T) {
	for i := range x {
		x[i] /= n
	}
}

// AccType is the dtype partial results of dt are kept in: float32 for
// Float16 and BFloat16 (the canonical order rounds once, at the end), dt
// otherwise.
func AccType(dt tensor.DType) tensor.DType {
	if dt == tensor.Float16 || dt == tensor.BFloat16 {
		return tensor.Float32
	}
	return dt
}

// Widen writes elements [i0, i0+m) of src (dtype dt) to the same elements
// of dst (dtype AccType(dt)).
func Widen(dt tensor.DType, dst, src []byte, i0, m int) {
	switch dt {
	case tensor.Float16:
		d, s := cast[float32](dst)[i0:i0+m], cast[uint16](src)[i0:i0+m]
		for i, v := range s {
			d[i] = tensor.Float16ToFloat32(v)
		}
	case tensor.BFloat16:
		d, s := cast[float32](dst)[i0:i0+m], cast[uint16](src)[i0:i0+m]
		for i, v := range s {
			d[i] = tensor.BFloat16ToFloat32(v)
		}
	default:
		sz := dt.Size()
		copy(dst[i0*sz:(i0+m)*sz], src[i0*sz:(i0+m)*sz])
	}
}

// Narrow is Widen's inverse: elements of src (AccType(dt)) rounded to dt.
func Narrow(dt tensor.DType, dst, src []byte, i0, m int) {
	switch dt {
	case tensor.Float16:
		d, s := cast[uint16](dst)[i0:i0+m], cast[float32](src)[i0:i0+m]
		for i, v := range s {
			d[i] = tensor.Float32ToFloat16(v)
		}
	case tensor.BFloat16:
		d, s := cast[uint16](dst)[i0:i0+m], cast[float32](src)[i0:i0+m]
		for i, v := range s {
			d[i] = tensor.Float32ToBFloat16(v)
		}
	default:
		sz := dt.Size()
		copy(dst[i0*sz:(i0+m)*sz], src[i0*sz:(i0+m)*sz])
	}
}
