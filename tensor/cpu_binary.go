package tensor

import "unsafe"

// ntMinElems is the length from which binF32 stores non-temporally (amd64):
// 4 MiB of output in one call, more than a core's share of the caches, so
// the result would be evicted before anyone reads it anyway.
const ntMinElems = 1 << 20

// binF32Go is the portable float32 add/sub/mul/div loop (op 0..3).
func binF32Go(op int, d, a, b []float32) {
	a, b = a[:len(d)], b[:len(d)]
	switch op {
	case 0:
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case 1:
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case 2:
		for i := range d {
			d[i] = a[i] * b[i]
		}
	default:
		for i := range d {
			d[i] = a[i] / b[i]
		}
	}
}

// float32BinaryKernel returns the vector kernel of a float32 arithmetic op
// (add, sub, mul, div), or nil. T must be float32.
func float32BinaryKernel[T number](op BinaryOp) func(d, a, b []T) {
	var code int
	switch op {
	case OpAdd:
		code = 0
	case OpSub:
		code = 1
	case OpMul:
		code = 2
	case OpDiv:
		code = 3
	default:
		return nil
	}
	f32 := func(s []T) []float32 { return *(*[]float32)(unsafe.Pointer(&s)) }
	return func(d, a, b []T) { binF32(code, f32(d), f32(a), f32(b)) }
}
