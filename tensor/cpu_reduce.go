package tensor

// Reductions compute in float64 for floating-point dtypes and in int64 for
// integer and bool dtypes, and store the result in dst's dtype.

func (cpuDevice) Reduce(op ReduceOp, dst, src View, nred int) {
	cpuView("Reduce", dst)
	cpuView("Reduce", src)
	if src.DType().IsFloat() {
		reduceTyped[float64](op, dst, src, nred)
	} else {
		reduceTyped[int64](op, dst, src, nred)
	}
}

type reducer[T float64 | int64] struct {
	op  ReduceOp
	acc T
	idx int64 // for arg reductions: index of the best so far
	pos int64 // elements seen
	nan bool
}

func (r *reducer[T]) init() {
	r.pos, r.idx, r.nan = 0, 0, false
	switch r.op {
	case ReduceSum:
		r.acc = 0
	case ReduceProd:
		r.acc = 1
	}
}

func (r *reducer[T]) add(x []T) {
	switch r.op {
	case ReduceSum:
		// four partial sums: faster and a little more accurate than one
		var s0, s1, s2, s3 T
		i := 0
		for ; i+4 <= len(x); i += 4 {
			s0 += x[i]
			s1 += x[i+1]
			s2 += x[i+2]
			s3 += x[i+3]
		}
		for ; i < len(x); i++ {
			s0 += x[i]
		}
		r.acc += (s0 + s1) + (s2 + s3)
	case ReduceProd:
		for _, v := range x {
			r.acc *= v
		}
	case ReduceMax, ReduceArgMax:
		for i, v := range x {
			if r.nan {
				break
			}
			if v != v {
				r.nan, r.acc, r.idx = true, v, r.pos+int64(i)
				break
			}
			if (r.pos == 0 && i == 0) || v > r.acc {
				r.acc, r.idx = v, r.pos+int64(i)
			}
		}
	case ReduceMin, ReduceArgMin:
		for i, v := range x {
			if r.nan {
				break
			}
			if v != v {
				r.nan, r.acc, r.idx = true, v, r.pos+int64(i)
				break
			}
			if (r.pos == 0 && i == 0) || v < r.acc {
				r.acc, r.idx = v, r.pos+int64(i)
			}
		}
	}
	r.pos += int64(len(x))
}

// addF32 sums float32 values into a float64 accumulator.
func (r *reducer[T]) addF32(x []float32) {
	r.acc += T(sumF32(x))
	r.pos += int64(len(x))
}

// merge folds a partial result computed over a later range into r.
func (r *reducer[T]) merge(o *reducer[T]) {
	if o.pos == 0 {
		return
	}
	if r.pos == 0 {
		*r = *o
		return
	}
	switch r.op {
	case ReduceSum:
		r.acc += o.acc
	case ReduceProd:
		r.acc *= o.acc
	case ReduceMax, ReduceArgMax:
		if !r.nan && (o.nan || o.acc > r.acc) {
			r.acc, r.idx, r.nan = o.acc, o.idx, o.nan
		}
	case ReduceMin, ReduceArgMin:
		if !r.nan && (o.nan || o.acc < r.acc) {
			r.acc, r.idx, r.nan = o.acc, o.idx, o.nan
		}
	}
	r.pos += o.pos
}

func (r *reducer[T]) result() T {
	if r.op == ReduceArgMax || r.op == ReduceArgMin {
		return T(r.idx)
	}
	return r.acc
}

func reduceTyped[T float64 | int64](op ReduceOp, dst, src View, nred int) {
	outer, red := splitView(src, nred)
	outN := Shape(outer.Shape).NumElements()
	redN := Shape(red.Shape).NumElements()
	if outN == 0 {
		return
	}
	if redN == 0 {
		if op == ReduceMax || op == ReduceMin || op == ReduceArgMax || op == ReduceArgMin {
			panic(&Error{Op: "tensor.Reduce", Msg: "max/min of an empty axis"})
		}
		v := 0.0
		if op == ReduceProd {
			v = 1
		}
		CPU.Fill(dst, v)
		return
	}
	isArg := op == ReduceArgMax || op == ReduceArgMin
	if op == ReduceSum && sumSmall(dst, outer, red, outN, redN) {
		return
	}
	// Reducing leading axes of a row-major tensor: accumulate whole rows.
	if op == ReduceSum && redN > 1 && outerRun(outer) >= 32 && sumRowsFast(dst, outer, red) {
		return
	}
	if !isArg && redN > 1 && redN <= 1<<14 && outerRun(outer) >= 32 {
		reduceRows[T](op, dst, outer, red)
		return
	}
	rl := makeLoop(red.Shape, red)
	sr := rl.inner(0)
	ol := makeLoop(outer.Shape, dst, outer)
	if outN == 1 {
		// One output: split the reduced range across goroutines, then merge in order.
		w := workers(redN, 1)
		parts := make([]reducer[T], w)
		parallelParts(redN, w, func(i, lo, hi int) {
			parts[i] = runReduce[T](op, rl, src.Storage.(*cpuStorage), outer.Offset, sr, lo, hi)
		})
		res := parts[0]
		for i := 1; i < w; i++ {
			res.merge(&parts[i])
		}
		writeOne(dst, dst.Offset, res.result())
		return
	}
	st := src.Storage.(*cpuStorage)
	if op == ReduceSum && sumInnerFast(dst, outer, rl, ol, st) {
		return
	}
	ol.run(redN, func() func([]int, int) {
		w := newRedWalker[T](op, rl, st)
		return func(offs []int, n int) {
			for i := range n {
				v := w.reduce(offs[1] + i*ol.inner(1))
				writeOne(dst, offs[0]+i*ol.inner(0), v)
			}
		}
	})
}

// sumSmallCols bounds the kept elements of sumSmall's column sums (its
// float64 accumulator lives on the stack).
const sumSmallCols = 256

// sumSmall is the float sum of a small operand on the calling goroutine,
// with no loop to plan and nothing to allocate, in the same order as the
// general paths (so the same bits): a dense whole-tensor sum is runReduce's
// one run (float32 summed in float64 by sumF32), and the column sums of a
// matrix whose kept axis is contiguous are sumRowsFast's row-by-row float64
// accumulation. It reports false for anything else.
func sumSmall(dst, outer, red View, outN, redN int) bool {
	if workers(outN*redN, 1) != 1 {
		return false
	}
	src, ok := outer.Storage.(*cpuStorage)
	if !ok {
		return false
	}
	f32, isF32 := src.buf.([]float32)
	f64, isF64 := src.buf.([]float64)
	if !isF32 && !isF64 {
		return false
	}
	if outN == 1 {
		if !denseIn(red.Shape, red) {
			return false
		}
		r := reducer[float64]{op: ReduceSum}
		r.init()
		off := outer.Offset // red's offset is 0; outer's is the start
		if isF32 {
			r.addF32(f32[off : off+redN])
		} else {
			r.add(f64[off : off+redN])
		}
		writeOne(dst, dst.Offset, r.result())
		return true
	}
	// Column sums: one kept axis with unit stride, one reduced axis; from 32
	// columns on (and more than one row), where the general path takes
	// sumRowsFast too.
	if len(outer.Shape) != 1 || outer.Strides[0] != 1 || len(red.Shape) != 1 || outN > sumSmallCols || outN < 32 || redN < 2 ||
		len(dst.Shape) != 1 || (dst.Strides[0] != 1 && outN > 1) {
		return false
	}
	d32, dIs32 := dst.Storage.(*cpuStorage).buf.([]float32)
	d64, dIs64 := dst.Storage.(*cpuStorage).buf.([]float64)
	if !dIs32 && !dIs64 {
		return false
	}
	var buf [sumSmallCols]float64
	acc := buf[:outN]
	rs := red.Strides[0]
	for r := range redN {
		off := outer.Offset + r*rs
		if isF32 {
			accF32F64(acc, f32[off:off+outN])
		} else {
			row := f64[off : off+outN]
			for j, v := range row {
				acc[j] += v
			}
		}
	}
	if dIs32 {
		d := d32[dst.Offset : dst.Offset+outN]
		for j, v := range acc {
			d[j] = float32(v)
		}
	} else {
		copy(d64[dst.Offset:dst.Offset+outN], acc)
	}
	return true
}

// outerRun is the length of the kept axes' innermost contiguous run (0 when
// their innermost stride is not 1).
func outerRun(outer View) int {
	if len(outer.Shape) == 0 {
		return 0
	}
	l := makeLoop(outer.Shape, outer)
	if l.inner(0) != 1 {
		return 0
	}
	return l.shape[len(l.shape)-1]
}

// redWalker reduces one output element at a time without allocating: it owns
// the scratch a goroutine needs.
type redWalker[T float64 | int64] struct {
	op        ReduceOp
	l         loop
	st        *cpuStorage
	f32       []float32
	idx, offs []int
	buf       []T
	fn        func(offs []int, n int)
	r         reducer[T]
}

func newRedWalker[T float64 | int64](op ReduceOp, rl *loop, st *cpuStorage) *redWalker[T] {
	w := &redWalker[T]{op: op, l: *rl, st: st}
	w.l.base = []int{0}
	w.idx = make([]int, len(rl.shape))
	w.offs = make([]int, 1)
	w.buf = make([]T, block)
	w.f32, _ = st.buf.([]float32)
	sr := rl.inner(0)
	sum64 := w.f32 != nil && op == ReduceSum && sr == 1
	w.fn = func(offs []int, n int) {
		if d, ok := direct[T](w.st, offs[0], sr, n); ok {
			w.r.add(d)
			return
		}
		if sum64 {
			any(&w.r).(*reducer[float64]).addF32(w.f32[offs[0] : offs[0]+n])
			return
		}
		for i := 0; i < n; i += block {
			b := w.buf[:min(block, n-i)]
			load(b, w.st, offs[0]+i*sr, sr)
			w.r.add(b)
		}
	}
	return w
}

func (w *redWalker[T]) reduce(base int) T {
	w.r = reducer[T]{op: w.op}
	w.r.init()
	w.l.base[0] = base
	w.l.runRangeWith(0, w.l.numel, w.idx, w.offs, w.fn)
	return w.r.result()
}

// runReduce reduces flat positions [lo, hi) of the reduced loop, whose
// storage offsets are relative to base. Arg indices count from 0 at the
// start of the whole reduced range.
func runReduce[T float64 | int64](op ReduceOp, rl *loop, st *cpuStorage, base, sr, lo, hi int) reducer[T] {
	r := reducer[T]{op: op}
	r.init()
	var buf []T
	l := *rl
	l.base = []int{base}
	f32, isF32 := st.buf.([]float32)
	sum64 := isF32 && op == ReduceSum && sr == 1
	l.runRange(lo, hi, func(offs []int, n int) {
		if d, ok := direct[T](st, offs[0], sr, n); ok {
			r.add(d)
			return
		}
		if sum64 {
			// float32 summed in float64 without a scratch buffer
			any(&r).(*reducer[float64]).addF32(f32[offs[0] : offs[0]+n])
			return
		}
		if buf == nil {
			buf = make([]T, block)
		}
		for i := 0; i < n; i += block {
			b := buf[:min(block, n-i)]
			load(b, st, offs[0]+i*sr, sr)
			r.add(b)
		}
	})
	r.idx += int64(lo)
	return r
}

func writeOne[T float64 | int64](dst View, off int, v T) {
	one := [1]T{v}
	store(dst.Storage.(*cpuStorage), off, 1, one[:])
}

// reduceRows reduces the leading axes by combining whole rows of the outer
// (contiguous) axes into an accumulator.
func reduceRows[T float64 | int64](op ReduceOp, dst, outer, red View) {
	var bop BinaryOp
	switch op {
	case ReduceSum:
		bop = OpAdd
	case ReduceProd:
		bop = OpMul
	case ReduceMax:
		bop = OpMaximum
	case ReduceMin:
		bop = OpMinimum
	}
	if op == ReduceSum && sumRowsFast(dst, outer, red) {
		return
	}
	accDT := Float64
	if _, ok := any(T(0)).(int64); ok {
		accDT = Int64
	}
	acc := newCPUStorage(accDT, Shape(outer.Shape).NumElements())
	accV := View{Storage: acc, Shape: outer.Shape, Strides: ContiguousStrides(outer.Shape)}
	rl := makeLoop(red.Shape, red)
	first := true
	rl.runRange(0, rl.numel, func(offs []int, n int) {
		for i := range n {
			slice := withShape(outer, outer.Shape, outer.Strides, outer.Offset+offs[0]+i*rl.inner(0))
			if first {
				CPU.Copy(accV, slice)
				first = false
				continue
			}
			CPU.Binary(bop, accV, accV, slice)
		}
	})
	CPU.Copy(dst, accV)
}

// sumRowsFast sums rows of a float32 or float64 tensor whose kept axes form
// one contiguous run, accumulating in float64 (exact to float64 rounding
// for float32 input). Wide rows are split by columns across goroutines;
// otherwise each goroutine sums a contiguous range of rows into its own
// accumulator and the partial sums are added in order (deterministic for a
// given GOMAXPROCS).
func sumRowsFast(dst, outer, red View) bool {
	ol := makeLoop(outer.Shape, outer)
	if len(ol.shape) != 1 || ol.inner(0) != 1 {
		return false
	}
	var add func(acc []float64, off int)
	switch src := outer.Storage.(*cpuStorage).buf.(type) {
	case []float32:
		add = func(acc []float64, off int) { accF32F64(acc, src[off:off+len(acc)]) }
	case []float64:
		add = func(acc []float64, off int) {
			row := src[off : off+len(acc)]
			for j, v := range row {
				acc[j] += v
			}
		}
	default:
		return false
	}
	cols := ol.shape[0]
	rl := makeLoop(red.Shape, red)
	rowOffs := make([]int, 0, rl.numel)
	rl.runRange(0, rl.numel, func(offs []int, n int) {
		for i := range n {
			rowOffs = append(rowOffs, outer.Offset+offs[0]+i*rl.inner(0))
		}
	})
	rows := len(rowOffs)
	w := workers(cols*rows, 1)
	acc := make([]float64, cols)
	if w == 1 || cols >= w*4096 || rows < 2*w {
		parallelFor(cols, w, func(lo, hi int) {
			a := acc[lo:hi]
			for _, ro := range rowOffs {
				add(a, ro+lo)
			}
		})
	} else {
		part := make([]float64, (w-1)*cols)
		parallelParts(rows, w, func(p, lo, hi int) {
			a := acc
			if p > 0 {
				a = part[(p-1)*cols : p*cols]
			}
			for _, ro := range rowOffs[lo:hi] {
				add(a, ro)
			}
		})
		for p := 1; p < w; p++ {
			a := part[(p-1)*cols : p*cols]
			for j, v := range a {
				acc[j] += v
			}
		}
	}
	accV := View{Storage: &cpuStorage{dt: Float64, buf: acc}, Shape: outer.Shape, Strides: ContiguousStrides(outer.Shape)}
	CPU.Copy(dst, accV)
	return true
}

// sumInnerFast sums contiguous float32 runs (the reduced axes form one run
// with unit stride) into a float32 destination, one vectorised float64
// accumulation per output element with no per-element dispatch.
func sumInnerFast(dst, outer View, rl, ol *loop, st *cpuStorage) bool {
	src, ok1 := st.buf.([]float32)
	d, ok2 := dst.Storage.(*cpuStorage).buf.([]float32)
	if !ok1 || !ok2 || len(rl.shape) != 1 || rl.inner(0) != 1 {
		return false
	}
	n := rl.shape[0]
	s0, s1 := ol.inner(0), ol.inner(1)
	ol.run(n, func() func([]int, int) {
		return func(offs []int, cnt int) {
			for i := range cnt {
				o := offs[1] + i*s1
				d[offs[0]+i*s0] = float32(sumF32(src[o : o+n]))
			}
		}
	})
	return true
}
