package tensor

import "math"

// FromSlice wraps data as a CPU tensor of the given shape without copying (a
// scalar when shape is empty and len(data) == 1). The tensor aliases data.
func FromSlice[T Elem](data []T, shape ...int) *Tensor {
	if len(shape) == 0 && len(data) != 1 {
		shape = []int{len(data)}
	}
	if n := checkShape("tensor.FromSlice", shape); n != len(data) {
		fail("tensor.FromSlice", "%d elements do not fill shape %v (%d)", len(data), Shape(shape), n)
	}
	return newTensor(&cpuStorage{dt: DTypeOf[T](), buf: data}, append([]int(nil), shape...), ContiguousStrides(shape), 0)
}

// Scalar returns a 0-dimensional CPU tensor holding v, converted to dt.
func Scalar(v float64, dt DType) *Tensor { return Full(v, dt) }

// Zeros returns a CPU tensor of zeros.
func Zeros(dt DType, shape ...int) *Tensor { return alloc("tensor.Zeros", CPU, dt, shape) }

// Ones returns a CPU tensor of ones.
func Ones(dt DType, shape ...int) *Tensor { return Full(1, dt, shape...) }

// Full returns a CPU tensor filled with v.
func Full(v float64, dt DType, shape ...int) *Tensor {
	t := alloc("tensor.Full", CPU, dt, shape)
	CPU.Fill(t.View(), v)
	return t
}

// ZerosLike returns zeros with t's dtype, shape and device.
func ZerosLike(t *Tensor) *Tensor { return EmptyLike(t) }

// OnesLike returns ones with t's dtype, shape and device.
func OnesLike(t *Tensor) *Tensor { return FullLike(t, 1) }

// FullLike returns a tensor of v with t's dtype, shape and device.
func FullLike(t *Tensor, v float64) *Tensor {
	out := EmptyLike(t)
	out.Device().Fill(out.View(), v)
	return out
}

// Arange returns [start, start+step, ...) below stop (above, for a negative step).
func Arange(start, stop, step float64, dt DType) *Tensor {
	if step == 0 || math.IsNaN(start+stop+step) {
		fail("tensor.Arange", "bad range start=%g stop=%g step=%g", start, stop, step)
	}
	c := math.Ceil((stop - start) / step)
	if !(c <= 1<<62) { // +Inf, or NaN from infinite bounds
		fail("tensor.Arange", "range start=%g stop=%g step=%g has %g elements", start, stop, step, c)
	}
	n := max(int(c), 0)
	t := alloc("tensor.Arange", CPU, Float64, []int{n})
	vals := HostData(t.st).([]float64)
	for i := range vals {
		vals[i] = start + float64(i)*step
	}
	return t.Cast(dt)
}

// Linspace returns n evenly spaced values from start to stop inclusive.
func Linspace(start, stop float64, n int, dt DType) *Tensor {
	if n < 0 {
		fail("tensor.Linspace", "negative count %d", n)
	}
	t := alloc("tensor.Linspace", CPU, Float64, []int{n})
	vals := HostData(t.st).([]float64)
	for i := range vals {
		if n == 1 {
			vals[i] = start
		} else {
			vals[i] = start + (stop-start)*float64(i)/float64(n-1)
		}
	}
	return t.Cast(dt)
}

// Eye returns the n×n identity matrix.
func Eye(n int, dt DType) *Tensor {
	t := Zeros(dt, n, n)
	diag := newTensor(t.st, []int{n}, []int{n + 1}, 0)
	CPU.Fill(diag.View(), 1)
	return t
}

// ToSlice returns t's elements in row-major order as a new []T, converting
// from t's dtype and copying from its device if needed.
func ToSlice[T Elem](t *Tensor) []T {
	dt := DTypeOf[T]()
	c := t.To(CPU)
	out := Empty(dt, c.shape...)
	CPU.Copy(out.View(), c.View())
	return out.st.(*cpuStorage).buf.([]T)
}

// Float32s returns t's elements as float32 in row-major order (a copy).
func (t *Tensor) Float32s() []float32 { return ToSlice[float32](t) }

// Float64s returns t's elements as float64 in row-major order (a copy).
func (t *Tensor) Float64s() []float64 { return ToSlice[float64](t) }

// Int64s returns t's elements as int64 in row-major order (a copy).
func (t *Tensor) Int64s() []int64 { return ToSlice[int64](t) }

// Bools returns t's elements as bool in row-major order (a copy).
func (t *Tensor) Bools() []bool { return ToSlice[bool](t) }

// Item returns the value of a one-element tensor as float64.
func (t *Tensor) Item() float64 {
	if t.NumElements() != 1 {
		fail("Tensor.Item", "tensor of shape %v has %d elements, not 1", Shape(t.shape), t.NumElements())
	}
	return ToSlice[float64](t)[0]
}

// At returns the element at the given index as float64 (slow; for tests and printing).
func (t *Tensor) At(idx ...int) float64 {
	off := t.elemOffset("Tensor.At", idx)
	return FromView(View{Storage: t.st, Shape: nil, Strides: nil, Offset: off}).Item()
}

// Set writes v (converted to t's dtype) at the given index.
func (t *Tensor) Set(v float64, idx ...int) {
	off := t.elemOffset("Tensor.Set", idx)
	t.Device().Fill(View{Storage: t.st, Offset: off}, v)
}

func (t *Tensor) elemOffset(op string, idx []int) int {
	if len(idx) != len(t.shape) {
		fail(op, "index %v for shape %v", idx, Shape(t.shape))
	}
	off := t.offset
	for i, x := range idx {
		if x < 0 {
			x += t.shape[i]
		}
		if x < 0 || x >= t.shape[i] {
			fail(op, "index %v out of range for shape %v", idx, Shape(t.shape))
		}
		off += x * t.strides[i]
	}
	return off
}
