package tensor

// Conversions between CPU storage and the slices kernels compute on.

// number is the set of compute types of the CPU kernels.
type number interface {
	float32 | float64 | int32 | int64
}

type computeT interface {
	number | bool
}

// direct returns storage s's elements [off, off+n) as a []T without copying
// when s holds T and the stride is 1; ok is false otherwise.
func direct[T computeT](s *cpuStorage, off, stride, n int) ([]T, bool) {
	if stride != 1 {
		return nil, false
	}
	if b, ok := s.buf.([]T); ok {
		return b[off : off+n : off+n], true
	}
	return nil, false
}

// load fills dst[i] = s[off + i*stride], converted to T.
func load[T computeT](dst []T, s *cpuStorage, off, stride int) {
	switch src := s.buf.(type) {
	case []float32:
		loadNum(dst, src, off, stride)
	case []float64:
		loadNum(dst, src, off, stride)
	case []int32:
		loadNum(dst, src, off, stride)
	case []int64:
		loadNum(dst, src, off, stride)
	case []uint16:
		if d, ok := any(dst).([]float32); ok {
			load16F32(d, src, off, stride, s.dt)
			return
		}
		conv := Float16ToFloat32
		if s.dt == BFloat16 {
			conv = BFloat16ToFloat32
		}
		switch d := any(dst).(type) {
		case []bool:
			for i := range d {
				d[i] = conv(src[off+i*stride]) != 0
			}
		case []float32:
			for i := range d {
				d[i] = conv(src[off+i*stride])
			}
		case []float64:
			for i := range d {
				d[i] = float64(conv(src[off+i*stride]))
			}
		case []int32:
			for i := range d {
				d[i] = int32(conv(src[off+i*stride]))
			}
		case []int64:
			for i := range d {
				d[i] = int64(conv(src[off+i*stride]))
			}
		}
	case []bool:
		switch d := any(dst).(type) {
		case []bool:
			for i := range d {
				d[i] = src[off+i*stride]
			}
		case []float32:
			loadBool(d, src, off, stride)
		case []float64:
			loadBool(d, src, off, stride)
		case []int32:
			loadBool(d, src, off, stride)
		case []int64:
			loadBool(d, src, off, stride)
		}
	}
}

func loadBool[T number](d []T, src []bool, off, stride int) {
	for i := range d {
		if src[off+i*stride] {
			d[i] = 1
		} else {
			d[i] = 0
		}
	}
}

func loadNum[T computeT, S number](dst []T, src []S, off, stride int) {
	switch d := any(dst).(type) {
	case []bool:
		for i := range d {
			d[i] = src[off+i*stride] != 0
		}
	case []float32:
		gatherConv(d, src, off, stride)
	case []float64:
		gatherConv(d, src, off, stride)
	case []int32:
		gatherConv(d, src, off, stride)
	case []int64:
		gatherConv(d, src, off, stride)
	}
}

func gatherConv[T, S number](d []T, src []S, off, stride int) {
	if stride == 1 {
		src = src[off : off+len(d)]
		for i, v := range src {
			d[i] = T(v)
		}
		return
	}
	for i := range d {
		d[i] = T(src[off+i*stride])
	}
}

// store writes s[off + i*stride] = src[i], converted to the storage's dtype.
func store[T computeT](s *cpuStorage, off, stride int, src []T) {
	switch dst := s.buf.(type) {
	case []float32:
		storeNum(dst, off, stride, src)
	case []float64:
		storeNum(dst, off, stride, src)
	case []int32:
		storeNum(dst, off, stride, src)
	case []int64:
		storeNum(dst, off, stride, src)
	case []uint16:
		if v, ok := any(src).([]float32); ok {
			store16F32(dst, off, stride, v, s.dt)
			return
		}
		conv := Float32ToFloat16
		if s.dt == BFloat16 {
			conv = Float32ToBFloat16
		}
		switch v := any(src).(type) {
		case []bool:
			for i, x := range v {
				f := float32(0)
				if x {
					f = 1
				}
				dst[off+i*stride] = conv(f)
			}
		case []float32:
			for i, x := range v {
				dst[off+i*stride] = conv(x)
			}
		case []float64:
			for i, x := range v {
				dst[off+i*stride] = conv(roundToOdd32(x)) // one rounding, not two
			}
		case []int32:
			for i, x := range v {
				dst[off+i*stride] = conv(int64ToOdd32(int64(x)))
			}
		case []int64:
			for i, x := range v {
				dst[off+i*stride] = conv(int64ToOdd32(x))
			}
		}
	case []bool:
		switch v := any(src).(type) {
		case []bool:
			for i, x := range v {
				dst[off+i*stride] = x
			}
		case []float32:
			storeBool(dst, off, stride, v)
		case []float64:
			storeBool(dst, off, stride, v)
		case []int32:
			storeBool(dst, off, stride, v)
		case []int64:
			storeBool(dst, off, stride, v)
		}
	}
}

func storeBool[T number](dst []bool, off, stride int, v []T) {
	for i, x := range v {
		dst[off+i*stride] = x != 0
	}
}

func storeNum[S number, T computeT](dst []S, off, stride int, src []T) {
	switch v := any(src).(type) {
	case []bool:
		for i, x := range v {
			if x {
				dst[off+i*stride] = 1
			} else {
				dst[off+i*stride] = 0
			}
		}
	case []float32:
		scatterConv(dst, off, stride, v)
	case []float64:
		scatterConv(dst, off, stride, v)
	case []int32:
		scatterConv(dst, off, stride, v)
	case []int64:
		scatterConv(dst, off, stride, v)
	}
}

func scatterConv[S, T number](dst []S, off, stride int, v []T) {
	if stride == 1 {
		d := dst[off : off+len(v)]
		for i, x := range v {
			d[i] = S(x)
		}
		return
	}
	for i, x := range v {
		dst[off+i*stride] = S(x)
	}
}

// block is the number of elements kernels process at a time when operands
// must be gathered into scratch buffers.
const block = 512

// reader yields an operand's elements of an inner run as []T, directly when
// the layout allows and through a scratch buffer otherwise.
type reader[T computeT] struct {
	s      *cpuStorage
	stride int
	buf    []T
}

func newReader[T computeT](v View, stride int) reader[T] {
	return reader[T]{s: v.Storage.(*cpuStorage), stride: stride}
}

// get returns elements [off, off+n) (n <= block unless direct).
func (r *reader[T]) get(off, n int) []T {
	if d, ok := direct[T](r.s, off, r.stride, n); ok {
		return d
	}
	if r.buf == nil {
		r.buf = make([]T, block)
	}
	b := r.buf[:n]
	if r.stride == 0 {
		var one [1]T
		load(one[:], r.s, off, 0)
		for i := range b {
			b[i] = one[0]
		}
		return b
	}
	load(b, r.s, off, r.stride)
	return b
}

// isDirect reports whether get never copies for this operand.
func (r *reader[T]) isDirect() bool {
	_, ok := r.s.buf.([]T)
	return ok && r.stride == 1
}

// writer gives kernels a []T to write an inner run into, and stores it back
// into the storage when it was a scratch buffer.
type writer[T computeT] struct {
	s      *cpuStorage
	stride int
	buf    []T
}

func newWriter[T computeT](v View, stride int) writer[T] {
	return writer[T]{s: v.Storage.(*cpuStorage), stride: stride}
}

func (w *writer[T]) isDirect() bool {
	_, ok := w.s.buf.([]T)
	return ok && w.stride == 1
}

func (w *writer[T]) get(off, n int) []T {
	if d, ok := direct[T](w.s, off, w.stride, n); ok {
		return d
	}
	if w.buf == nil {
		w.buf = make([]T, block)
	}
	return w.buf[:n]
}

func (w *writer[T]) put(off int, d []T) {
	if w.isDirect() {
		return
	}
	store(w.s, off, w.stride, d)
}
