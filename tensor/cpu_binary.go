package tensor

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
// (add, sub, mul, div), or nil. They are plain functions: a closure (or a
// generic function value) would be allocated on every call.
func float32BinaryKernel(op BinaryOp) func(d, a, b []float32) {
	switch op {
	case OpAdd:
		return arithAddF32
	case OpSub:
		return arithSubF32
	case OpMul:
		return arithMulF32
	case OpDiv:
		return arithDivF32
	}
	return nil
}

func arithAddF32(d, a, b []float32) { binF32(0, d, a, b) }
func arithSubF32(d, a, b []float32) { binF32(1, d, a, b) }
func arithMulF32(d, a, b []float32) { binF32(2, d, a, b) }
func arithDivF32(d, a, b []float32) { binF32(3, d, a, b) }

// float64BinaryKernel is float32BinaryKernel for float64 (portable loops).
func float64BinaryKernel(op BinaryOp) func(d, a, b []float64) {
	switch op {
	case OpAdd:
		return arithAddF64
	case OpSub:
		return arithSubF64
	case OpMul:
		return arithMulF64
	case OpDiv:
		return arithDivF64
	}
	return nil
}

func arithAddF64(d, a, b []float64) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] + b[i]
	}
}

func arithSubF64(d, a, b []float64) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] - b[i]
	}
}

func arithMulF64(d, a, b []float64) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] * b[i]
	}
}

func arithDivF64(d, a, b []float64) {
	a, b = a[:len(d)], b[:len(d)]
	for i := range d {
		d[i] = a[i] / b[i]
	}
}
