package tensor

import (
	"fmt"
	"slices"
)

// CPU is the host device. Its kernels are pure Go and use every core for
// large tensors; they run synchronously.
var CPU Device = cpuDevice{}

type cpuDevice struct{}

func (cpuDevice) Name() string { return "cpu" }

func (cpuDevice) Alloc(dt DType, n int) (Storage, error) {
	if n < 0 {
		return nil, fmt.Errorf("tensor: negative allocation of %d elements", n)
	}
	dt.check("cpu.Alloc")
	if err := hostAllocErr(n, dt.Size()); err != nil {
		return nil, err
	}
	return newCPUStorage(dt, n), nil
}

func (cpuDevice) ToHost(s Storage) (Storage, error) {
	c := s.(*cpuStorage)
	out := newCPUStorage(c.dt, c.Len())
	copyRaw(out, c)
	return out, nil
}

func (d cpuDevice) FromHost(s Storage) (Storage, error) { return d.ToHost(s) }

func copyRaw(dst, src *cpuStorage) {
	switch d := dst.buf.(type) {
	case []float32:
		copy(d, src.buf.([]float32))
	case []float64:
		copy(d, src.buf.([]float64))
	case []uint16:
		copy(d, src.buf.([]uint16))
	case []int32:
		copy(d, src.buf.([]int32))
	case []int64:
		copy(d, src.buf.([]int64))
	case []bool:
		copy(d, src.buf.([]bool))
	}
}

func cpuView(op string, v View) {
	if _, ok := v.Storage.(*cpuStorage); !ok {
		panic(Errorf("tensor", "%s on the CPU device got storage of %s", op, v.Storage.Device().Name()))
	}
}

func (cpuDevice) Fill(dst View, v float64) {
	cpuView("Fill", dst)
	if fillDense(dst, v) {
		return
	}
	switch dst.DType().computeDType() {
	case Float32:
		if dst.DType() != Float32 {
			fillTyped(dst, roundToOdd32(v)) // rounded once, into the 16-bit type
			return
		}
		fillTyped(dst, float32(v))
	case Float64:
		fillTyped(dst, v)
	case Int32:
		fillTyped(dst, int32(v))
	case Int64:
		fillTyped(dst, int64(v))
	case Bool:
		fillTyped(dst, v != 0)
	}
}

// fillDense fills a small contiguous float32 or float64 view in one loop
// (no loop plan or closure) and reports whether it did.
func fillDense(dst View, v float64) bool {
	n, ok := smallFlat(dst.Shape, 1)
	if !ok || !denseIn(dst.Shape, dst) {
		return false
	}
	if d, ok := flat[float32](dst, n); ok && dst.DType() == Float32 {
		fillSlice(d, float32(v))
		return true
	}
	if d, ok := flat[float64](dst, n); ok {
		fillSlice(d, v)
		return true
	}
	return false
}

// fillSlice sets every element of d to v.
func fillSlice[T computeT](d []T, v T) {
	for i := range d {
		d[i] = v
	}
}

func fillTyped[T computeT](dst View, v T) {
	l := makeLoop(dst.Shape, dst)
	s0 := l.inner(0)
	l.run(1, func() func([]int, int) {
		w := newWriter[T](dst, s0)
		return func(offs []int, n int) {
			chunked(n, w.isDirect(), func(i, m int) {
				d := w.get(offs[0]+i*s0, m)
				fillSlice(d, v)
				w.put(offs[0]+i*s0, d)
			})
		}
	})
}

func (cpuDevice) Copy(dst, src View) {
	cpuView("Copy", dst)
	cpuView("Copy", src)
	dt, st := dst.DType(), src.DType()
	if dt == st {
		if copyRows(dst, src) {
			return
		}
		if copyTransposed(dst, src) {
			return
		}
		switch dt {
		case Float32:
			mapUnary(1, dst, src, copyKernel[float32])
		case Float64:
			mapUnary(1, dst, src, copyKernel[float64])
		case Int32:
			mapUnary(1, dst, src, copyKernel[int32])
		case Int64:
			mapUnary(1, dst, src, copyKernel[int64])
		case Bool:
			mapUnary(1, dst, src, copyKernel[bool])
		case BFloat16, Float16:
			copy16(dst, src)
		}
		return
	}
	switch {
	case dt == Bool || st == Bool:
		mapUnary(1, dst, src, copyKernel[float64])
	case dt.IsInt() && st.IsInt():
		mapUnary(1, dst, src, copyKernel[int64])
	case st == Int64:
		// through float64 an int64 beyond 2^53 would be rounded twice
		mapUnary(1, dst, src, copyKernel[int64])
	case dt.computeDType() == Float32 && st.computeDType() == Float32:
		mapUnary(1, dst, src, copyKernel[float32])
	default:
		mapUnary(1, dst, src, copyKernel[float64])
	}
}

func copyKernel[T computeT](d, x []T) { copy(d, x) }

// copy16 copies 16-bit float bit patterns without converting.
func copy16(dst, src View) {
	l := makeLoop(dst.Shape, dst, src)
	s0, s1 := l.inner(0), l.inner(1)
	d, s := dst.Storage.(*cpuStorage).buf.([]uint16), src.Storage.(*cpuStorage).buf.([]uint16)
	l.run(1, func() func([]int, int) {
		return func(offs []int, n int) {
			if s0 == 1 && s1 == 1 {
				copy(d[offs[0]:offs[0]+n], s[offs[1]:offs[1]+n])
				return
			}
			for i := range n {
				d[offs[0]+i*s0] = s[offs[1]+i*s1]
			}
		}
	})
}

func (cpuDevice) Unary(op UnaryOp, dst, x View, p0, p1 float64) {
	cpuView("Unary", dst)
	cpuView("Unary", x)
	switch x.DType().computeDType() {
	case Float32:
		unaryTyped[float32](op, dst, x, p0, p1)
	case Float64:
		unaryTyped[float64](op, dst, x, p0, p1)
	case Int32:
		unaryTyped[int32](op, dst, x, p0, p1)
	case Int64:
		unaryTyped[int64](op, dst, x, p0, p1)
	case Bool:
		if op != OpNot {
			panic(Errorf("tensor", "unary op %d on bool", op))
		}
		mapUnary(1, dst, x, func(d, x []bool) {
			for i := range d {
				d[i] = !x[i]
			}
		})
	}
}

func (cpuDevice) Binary(op BinaryOp, dst, a, b View) {
	cpuView("Binary", dst)
	cpuView("Binary", a)
	cpuView("Binary", b)
	switch a.DType().computeDType() {
	case Float32:
		if k := float32BinaryKernel(op); k != nil {
			mapBinary(1, dst, a, b, k)
			return
		}
		binaryTyped[float32](op, dst, a, b)
	case Float64:
		if k := float64BinaryKernel(op); k != nil {
			mapBinary(1, dst, a, b, k)
			return
		}
		binaryTyped[float64](op, dst, a, b)
	case Int32:
		binaryTyped[int32](op, dst, a, b)
	case Int64:
		binaryTyped[int64](op, dst, a, b)
	case Bool:
		mapBinary(1, dst, a, b, logicalKernel(op))
	}
}

func (cpuDevice) Where(dst, cond, a, b View) {
	switch dst.DType().computeDType() {
	case Float32:
		mapWhere[float32](dst, cond, a, b)
	case Float64:
		mapWhere[float64](dst, cond, a, b)
	case Int32:
		mapWhere[int32](dst, cond, a, b)
	case Int64:
		mapWhere[int64](dst, cond, a, b)
	case Bool:
		mapWhere[bool](dst, cond, a, b)
	}
}

// splitView separates the outer (kept) and reduced axes of a view.
func splitView(src View, nred int) (outer, red View) {
	k := len(src.Shape) - nred
	outer = View{Storage: src.Storage, Shape: src.Shape[:k], Strides: src.Strides[:k], Offset: src.Offset}
	red = View{Storage: src.Storage, Shape: src.Shape[k:], Strides: src.Strides[k:], Offset: 0}
	return outer, red
}

func withShape(v View, shape, strides []int, off int) View {
	return View{Storage: v.Storage, Shape: shape, Strides: strides, Offset: off}
}

func sliceClone(s []int) []int { return slices.Clone(s) }

// copyRows copies a small same-dtype operand whose iteration is at most
// two merged axes with unit inner strides (a dense block, or rows repeated
// or spaced out: a broadcast bias, a slice of a matrix) as one copy per row
// on the calling goroutine, without the general loop's closures.
func copyRows(dst, src View) bool {
	n := Shape(dst.Shape).NumElements()
	if n == 0 || workers(n, 1) != 1 {
		return false
	}
	switch d := dst.Storage.(*cpuStorage).buf.(type) {
	case []float32:
		return copyRowsT(d, src.Storage.(*cpuStorage).buf.([]float32), dst, src)
	case []float64:
		return copyRowsT(d, src.Storage.(*cpuStorage).buf.([]float64), dst, src)
	}
	return false
}

func copyRowsT[T float32 | float64](d, s []T, dst, src View) bool {
	l := makeLoop(dst.Shape, dst, src)
	nd := len(l.shape)
	if nd > 2 || l.inner(0) != 1 || l.inner(1) != 1 {
		return false
	}
	cols := l.shape[nd-1]
	rows, rd, rs := 1, 0, 0
	if nd == 2 {
		rows, rd, rs = l.shape[0], l.strides[0][0], l.strides[1][0]
	}
	for i := range rows {
		od, os := l.base[0]+i*rd, l.base[1]+i*rs
		copy(d[od:od+cols], s[os:os+cols])
	}
	return true
}

// copyTransposed copies a transposed 2-D layout (src column-major, dst
// row-major) tile by tile, so both sides stay in cache.
func copyTransposed(dst, src View) bool {
	l := makeLoop(dst.Shape, dst, src)
	if len(l.shape) != 2 || l.strides[0][1] != 1 || l.strides[1][0] != 1 || l.strides[1][1] == 1 || l.numel < 4096 {
		return false
	}
	switch d := dst.Storage.(*cpuStorage).buf.(type) {
	case []float32:
		if transpose8 {
			transposeBlocks32(d, src.Storage.(*cpuStorage).buf.([]float32), l)
			return true
		}
		transposeTiles(d, src.Storage.(*cpuStorage).buf.([]float32), l)
	case []float64:
		transposeTiles(d, src.Storage.(*cpuStorage).buf.([]float64), l)
	default:
		return false
	}
	return true
}

func transposeTiles[T float32 | float64](d, s []T, l *loop) {
	const tile = 32
	rows, cols := l.shape[0], l.shape[1]
	dRow, sCol := l.strides[0][0], l.strides[1][1]
	db, sb := l.base[0], l.base[1]
	tilesR := (rows + tile - 1) / tile
	parallelFor(tilesR, workers(l.numel, 2), func(lo, hi int) {
		for ti := lo; ti < hi; ti++ {
			i0, i1 := ti*tile, min(ti*tile+tile, rows)
			for j0 := 0; j0 < cols; j0 += tile {
				j1 := min(j0+tile, cols)
				for i := i0; i < i1; i++ {
					drow := d[db+i*dRow+j0 : db+i*dRow+j1]
					so := sb + i + j0*sCol
					for j := range drow {
						drow[j] = s[so+j*sCol]
					}
				}
			}
		}
	})
}

// transposeBlocks32 is transposeTiles for float32 with 8×8 register
// transposes. A tile of tile×tile elements is transposed into a small
// contiguous buffer and then copied out row by row, so the destination gets
// whole cache lines written in sequence: transposing straight into a
// destination whose row stride is a power of two makes every row of a tile
// land in the same cache set and thrash. Goroutines take ranges of source
// rows; each sweeps along them, so the source is read as a few sequential
// streams. Ragged edges go element by element.
func transposeBlocks32(d, s []float32, l *loop) {
	const tile = 64
	rows, cols := l.shape[0], l.shape[1]
	dRow, sCol := l.strides[0][0], l.strides[1][1]
	db, sb := l.base[0], l.base[1]
	tilesC := (cols + tile - 1) / tile
	parallelFor(tilesC, workers(l.numel, 2), func(lo, hi int) {
		buf := make([]float32, tile*tile)
		for tj := lo; tj < hi; tj++ {
			j0, j1 := tj*tile, min(tj*tile+tile, cols)
			for i0 := 0; i0 < rows; i0 += tile {
				i1 := min(i0+tile, rows)
				if i1-i0 == tile && j1-j0 == tile {
					for j := 0; j < tile; j += 8 {
						for i := 0; i < tile; i += 8 {
							transpose8x8(buf[i*tile+j:], tile, s[sb+i0+i+(j0+j)*sCol:], sCol)
						}
					}
					for i := range tile {
						copy(d[db+(i0+i)*dRow+j0:db+(i0+i)*dRow+j1], buf[i*tile:i*tile+tile])
					}
					continue
				}
				for i := i0; i < i1; i++ {
					drow := d[db+i*dRow+j0 : db+i*dRow+j1]
					for j := range drow {
						drow[j] = s[sb+i+(j0+j)*sCol]
					}
				}
			}
		}
	})
}
