package tensor

import (
	"errors"
	"fmt"
	"slices"
)

// Tensor is an n-dimensional strided view over a device's storage. Views
// (Reshape, Permute, Slice, Expand, ...) share storage with their base: a
// write through one is seen by the other. Ops return new tensors unless
// their name says otherwise (the ...Into and In-place forms).
type Tensor struct {
	st      Storage
	shape   []int
	strides []int
	offset  int
	// inl backs shape and strides for ranks up to inlineRank, so that a
	// small tensor is one allocation rather than three (see newTensorInl).
	inl [2 * inlineRank]int
}

// inlineRank is the largest rank whose shape and strides live inside the
// Tensor itself.
const inlineRank = 4

// Error is the panic value of a tensor op that was misused or that failed on
// its device; Try turns such panics back into errors.
type Error struct {
	Op  string
	Msg string
	Err error // the device error, if any (errors.Is works through it)
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Op + ": " + e.Msg + ": " + e.Err.Error()
	}
	return e.Op + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns the *Error reporting a misuse of op (a programming error:
// a bad shape, dtype, axis or argument). Tessera's packages panic with it,
// so that Try and errors.As recover misuse as the same type everywhere:
//
//	panic(tensor.Errorf("nn.NewLinear", "%d input features", in))
//
// Error() reads "op: message".
func Errorf(op, format string, args ...any) *Error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}

func fail(op, format string, args ...any) { panic(Errorf(op, format, args...)) }

// Try runs f and returns the *Error that a tensor op panicked with, or nil.
// Other panics propagate.
func Try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			var te *Error
			if e, ok := r.(error); ok && errors.As(e, &te) {
				err = te
				return
			}
			panic(r)
		}
	}()
	f()
	return nil
}

// newTensor returns a tensor with copies of shape and strides (held inside
// the Tensor up to inlineRank), so that callers may build them in scratch
// that stays on the stack.
func newTensor(st Storage, shape, strides []int, offset int) *Tensor {
	return newTensorInl(st, shape, strides, offset)
}

// newTensorInl is newTensor with shape and strides copied (into the
// Tensor itself when the rank allows).
func newTensorInl(st Storage, shape, strides []int, offset int) *Tensor {
	t := &Tensor{st: st, offset: offset}
	t.setLayout(shape, strides)
	return t
}

// setLayout sets t's shape and strides to copies of shape and strides
// (nil strides: contiguous), inside t when the rank is at most inlineRank.
func (t *Tensor) setLayout(shape, strides []int) {
	nd := len(shape)
	if nd > inlineRank {
		t.shape = slices.Clone(shape)
		if strides == nil {
			t.strides = ContiguousStrides(shape)
		} else {
			t.strides = slices.Clone(strides)
		}
		return
	}
	t.shape = t.inl[:nd:nd]
	t.strides = t.inl[inlineRank : inlineRank+nd : inlineRank+nd]
	copy(t.shape, shape)
	if strides != nil {
		copy(t.strides, strides)
		return
	}
	acc := 1
	for i := nd - 1; i >= 0; i-- {
		t.strides[i] = acc
		acc *= shape[i]
	}
}

// alloc makes a new contiguous tensor on dev.
func alloc(op string, dev Device, dt DType, shape []int) *Tensor {
	n := checkAlloc(op, dt, shape)
	if _, ok := dev.(cpuDevice); ok {
		dt.check("cpu.Alloc")
		if err := hostAllocErr(n, dt.Size()); err != nil {
			panic(&Error{Op: op, Msg: fmt.Sprintf("allocating %s%v on %s", dt, shapeCopy(shape), dev.Name()), Err: err})
		}
		return newCPUTensor(dt, newHostBuf(dt, n), shape)
	}
	st, err := dev.Alloc(dt, n)
	if err != nil {
		panic(&Error{Op: op, Msg: fmt.Sprintf("allocating %s%v on %s", dt, shapeCopy(shape), dev.Name()), Err: err})
	}
	return newTensorInl(st, shape, nil, 0)
}

// Empty returns an uninitialised-by-contract (zeroed in practice) tensor on the CPU.
func Empty(dt DType, shape ...int) *Tensor { return alloc("tensor.Empty", CPU, dt, shape) }

// EmptyOn is Empty on a given device.
func EmptyOn(dev Device, dt DType, shape ...int) *Tensor {
	return alloc("tensor.EmptyOn", dev, dt, shape)
}

// EmptyLike returns a new contiguous tensor with t's dtype, shape and device.
func EmptyLike(t *Tensor) *Tensor { return alloc("tensor.EmptyLike", t.Device(), t.DType(), t.shape) }

// Shape returns a copy of the tensor's dimensions.
func (t *Tensor) Shape() Shape { return slices.Clone(t.shape) }

// SameShape reports whether t and o have the same shape, without copying
// either (Shape returns a copy).
func (t *Tensor) SameShape(o *Tensor) bool { return Shape(t.shape).Equal(o.shape) }

// Dim returns the size of axis i (negative counts from the end).
func (t *Tensor) Dim(i int) int { return t.shape[NormAxis("Tensor.Dim", i, t.shape)] }

// NDim returns the number of dimensions.
func (t *Tensor) NDim() int { return len(t.shape) }

// Strides returns a copy of the strides, in elements.
func (t *Tensor) Strides() []int { return slices.Clone(t.strides) }

// Offset returns the element offset of the first element in the storage.
func (t *Tensor) Offset() int { return t.offset }

// NumElements returns the number of elements.
func (t *Tensor) NumElements() int { return Shape(t.shape).NumElements() }

// DType returns the element type.
func (t *Tensor) DType() DType { return t.st.DType() }

// Device returns the device that holds the storage.
func (t *Tensor) Device() Device { return t.st.Device() }

// Storage returns the underlying storage (shared with every view of it).
func (t *Tensor) Storage() Storage { return t.st }

// View returns the kernel-level description of t.
func (t *Tensor) View() View {
	return View{Storage: t.st, Shape: t.shape, Strides: t.strides, Offset: t.offset}
}

// FromView wraps a kernel-level view as a tensor (no copy).
func FromView(v View) *Tensor {
	return newTensorInl(v.Storage, v.Shape, v.Strides, v.Offset)
}

// IsContiguous reports whether t is laid out row-major without gaps.
func (t *Tensor) IsContiguous() bool {
	acc := 1
	for i := len(t.shape) - 1; i >= 0; i-- {
		if t.shape[i] != 1 && t.strides[i] != acc {
			return false
		}
		acc *= t.shape[i]
	}
	return true
}

// SharesStorage reports whether t and o are views of the same storage.
func (t *Tensor) SharesStorage(o *Tensor) bool { return t.st == o.st }

// Contiguous returns t if it is already contiguous, else a contiguous copy.
func (t *Tensor) Contiguous() *Tensor {
	if t.IsContiguous() {
		return t
	}
	return t.Clone()
}

// Clone returns a contiguous copy of t on the same device.
func (t *Tensor) Clone() *Tensor {
	out := allocDirty("Tensor.Clone", t.Device(), t.DType(), t.shape) // Copy writes every element
	t.Device().Copy(out.View(), t.View())
	return out
}

// CopyFrom copies src (broadcast to t's shape, any dtype) into t in place.
func (t *Tensor) CopyFrom(src *Tensor) *Tensor {
	sameDevice("Tensor.CopyFrom", t, src)
	s := src.broadcastTo("Tensor.CopyFrom", t.shape)
	t.Device().Copy(t.View(), s.View())
	return t
}

// Cast returns t converted to dtype dt (t itself if it already has it).
func (t *Tensor) Cast(dt DType) *Tensor {
	dt.check("Tensor.Cast")
	if t.DType() == dt {
		return t
	}
	out := allocDirty("Tensor.Cast", t.Device(), dt, t.shape)
	t.Device().Copy(out.View(), t.View())
	return out
}

// To returns t on device dev (t itself if it is already there).
func (t *Tensor) To(dev Device) *Tensor {
	if t.Device() == dev {
		return t
	}
	c := t.Contiguous()
	host := c.st
	var err error
	if c.Device() != CPU {
		if host, err = c.Device().ToHost(c.st); err != nil {
			panic(&Error{Op: "Tensor.To", Msg: "copy to host", Err: err})
		}
	}
	st := host
	if dev != CPU {
		if st, err = dev.FromHost(host); err != nil {
			panic(&Error{Op: "Tensor.To", Msg: "copy to " + dev.Name(), Err: err})
		}
	}
	// c may be a view at an offset within a larger storage.
	return newTensor(st, slices.Clone(c.shape), slices.Clone(c.strides), c.offset)
}

func sameDevice(op string, ts ...*Tensor) {
	d := ts[0].Device()
	for _, t := range ts[1:] {
		if t.Device() != d {
			fail(op, "tensors on different devices: %v on %s and %v on %s", ts[0].Shape(), d.Name(), t.Shape(), t.Device().Name())
		}
	}
}
