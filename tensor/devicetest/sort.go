package devicetest

import (
	"math"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// The order statistics (Sort, TopK, KthValue, Median) and the norms are
// checked against O(n²) rank counting and plain float64 loops. Inputs are
// small integers (many ties) with some NaN for the float dtypes, so
// stability and NaN placement are exercised.

// refLess orders a before b with NaN largest; equal values return false.
func refLess(a, b float64) bool {
	if math.IsNaN(a) {
		return false
	}
	return math.IsNaN(b) || a < b
}

func refEqual(a, b float64) bool { return sameValue(a, b) }

// refArgSort is the stable order of row: element i goes to position
// #{j: row[j] before row[i]} + #{j < i: row[j] == row[i]}.
func refArgSort(row []float64, descending bool) []int {
	out := make([]int, len(row))
	for i, v := range row {
		pos := 0
		for j, w := range row {
			before := refLess(w, v)
			if descending {
				before = refLess(v, w)
			}
			if before || (j < i && refEqual(w, v)) {
				pos++
			}
		}
		out[pos] = i
	}
	return out
}

// rowsAlong returns, for x of shape, the flat indices of each 1-D fibre
// along axis (in the row-major order of the other axes).
func rowsAlong(shape []int, axis int) [][]int {
	strides := tensor.ContiguousStrides(shape)
	outer := make([]int, 0, len(shape))
	outer = append(outer, shape[:axis]...)
	outer = append(outer, shape[axis+1:]...)
	var rows [][]int
	forEach(outer, func(idx []int) {
		base := 0
		k := 0
		for a := range shape {
			if a == axis {
				continue
			}
			base += idx[k] * strides[a]
			k++
		}
		row := make([]int, shape[axis])
		for i := range row {
			row[i] = base + i*strides[axis]
		}
		rows = append(rows, row)
	})
	return rows
}

func (e *env) tiesData(dt tensor.DType, n int, nan bool) []float64 {
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = float64(e.rng.IntN(7) - 3)
		if dt == tensor.Bool {
			vals[i] = float64(e.rng.IntN(2))
		}
		if nan && e.rng.IntN(11) == 0 {
			vals[i] = math.NaN()
		}
	}
	return vals
}

// onDevice returns vals as a tensor of dt and shape on the device under test;
// when transposed, it is a non-contiguous view (axes 0 and last swapped) with
// the given logical shape.
func (e *env) onDevice(dt tensor.DType, vals []float64, shape []int, transposed bool) *tensor.Tensor {
	x := tensor.FromSlice(vals, shape...).Cast(dt)
	if transposed && len(shape) > 1 {
		x = x.Transpose(0, len(shape)-1).Contiguous().Transpose(0, len(shape)-1)
	}
	x = x.To(e.dev)
	require.Equal(e.t, e.dev.Name(), x.Device().Name())
	return x
}

func toHost64(t *tensor.Tensor) []float64 {
	return t.To(tensor.CPU).Contiguous().Cast(tensor.Float64).Float64s()
}

func testSort(e *env) {
	shape := []int{4, 6, 9}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16, tensor.Float16, tensor.Int32, tensor.Int64, tensor.Bool} {
		for _, transposed := range []bool{false, true} {
			vals := e.tiesData(dt, numel(shape), dt.IsFloat())
			x := e.onDevice(dt, vals, shape, transposed)
			for axis := range shape {
				rows := rowsAlong(shape, axis)
				n := shape[axis]
				for _, desc := range []bool{false, true} {
					v, idx := tensor.Sort(x, axis, desc)
					require.Equal(e.t, dt, v.DType())
					require.Equal(e.t, tensor.Int64, idx.DType())
					gv, gi := toHost64(v), idx.To(tensor.CPU).Contiguous().Int64s()
					for _, row := range rows {
						rv := make([]float64, n)
						for i, f := range row {
							rv[i] = vals[f]
						}
						want := refArgSort(rv, desc)
						for p, f := range row {
							require.Equal(e.t, int64(want[p]), gi[f], "%s transposed=%v axis=%d desc=%v row %v", dt, transposed, axis, desc, rv)
							require.True(e.t, sameValue(rv[want[p]], gv[f]), "%s value", dt)
						}
					}
				}
				// TopK, both directions, k < n.
				k := n/2 + 1
				for _, largest := range []bool{true, false} {
					v, idx := tensor.TopK(x, k, axis, largest)
					require.Equal(e.t, k, v.Dim(axis))
					gv, gi := toHost64(v), idx.To(tensor.CPU).Contiguous().Int64s()
					kshape := append([]int(nil), shape...)
					kshape[axis] = k
					krows := rowsAlong(kshape, axis)
					for r, row := range rows {
						rv := make([]float64, n)
						for i, f := range row {
							rv[i] = vals[f]
						}
						want := refArgSort(rv, largest)
						for p := range k {
							f := krows[r][p]
							require.Equal(e.t, int64(want[p]), gi[f], "TopK %s axis=%d largest=%v row %v", dt, axis, largest, rv)
							require.True(e.t, sameValue(rv[want[p]], gv[f]))
						}
					}
				}
				// KthValue and Median (keepDim false: the axis is dropped).
				kth := 2
				kv, ki := tensor.KthValue(x, kth, axis, false)
				mv, mi := tensor.Median(x, axis, false)
				gkv, gki, gmv, gmi := toHost64(kv), ki.To(tensor.CPU).Int64s(), toHost64(mv), mi.To(tensor.CPU).Int64s()
				for r, row := range rows {
					rv := make([]float64, n)
					for i, f := range row {
						rv[i] = vals[f]
					}
					asc := refArgSort(rv, false)
					require.Equal(e.t, int64(asc[kth-1]), gki[r], "KthValue %s axis=%d row %v", dt, axis, rv)
					require.True(e.t, sameValue(rv[asc[kth-1]], gkv[r]))
					med := asc[(n-1)/2]
					for _, i := range asc { // the first NaN in sorted order
						if math.IsNaN(rv[i]) {
							med = i
							break
						}
					}
					require.Equal(e.t, int64(med), gmi[r], "Median %s axis=%d row %v", dt, axis, rv)
					require.True(e.t, sameValue(rv[med], gmv[r]), "Median %s value", dt)
				}
			}
		}
	}
	// keepDim keeps a size-1 axis; bad k panics with a *tensor.Error.
	x := e.onDevice(tensor.Float32, e.tiesData(tensor.Float32, 12, false), []int{3, 4}, false)
	v, _ := tensor.Median(x, 1, true)
	require.Equal(e.t, tensor.Shape{3, 1}, v.Shape())
	require.Error(e.t, tensor.Try(func() { tensor.TopK(x, 5, 1, true) }))
	require.Error(e.t, tensor.Try(func() { tensor.KthValue(x, 0, 1, false) }))
}

func testNorm(e *env) {
	shape := []int{3, 5, 7}
	for _, dt := range floatDTypes {
		for _, transposed := range []bool{false, true} {
			vals := make([]float64, numel(shape))
			gen := e.magnitude(0.1, 4)
			for i := range vals {
				vals[i] = float64(tensor.FromSlice([]float64{gen()}).Cast(dt).Item())
			}
			x := e.onDevice(dt, vals, shape, transposed)
			for _, axes := range [][]int{{0}, {2}, {0, 2}, nil} {
				for _, ord := range []float64{1, 2, math.Inf(1)} {
					got := toHost64(tensor.Norm(x, ord, false, axes...))
					// reference: reduce over a mask of axes with float64 loops
					red := map[int]bool{}
					for _, a := range axes {
						red[a] = true
					}
					if axes == nil {
						red = map[int]bool{0: true, 1: true, 2: true}
					}
					var keptShape []int
					for a, d := range shape {
						if !red[a] {
							keptShape = append(keptShape, d)
						}
					}
					want := make([]float64, max(numel(keptShape), 1))
					cond := make([]float64, len(want))
					ks := tensor.ContiguousStrides(keptShape)
					forEach(shape, func(idx []int) {
						o, k := 0, 0
						for a := range shape {
							if !red[a] {
								o += idx[a] * ks[k]
								k++
							}
						}
						f := 0
						for a, st := range tensor.ContiguousStrides(shape) {
							f += idx[a] * st
						}
						v := math.Abs(vals[f])
						switch ord {
						case 1:
							want[o] += v
						case 2:
							want[o] += v * v
						default:
							want[o] = math.Max(want[o], v)
						}
						cond[o] += v
					})
					if ord == 2 {
						for i := range want {
							want[i] = math.Sqrt(want[i])
						}
					}
					for i := range want {
						tol := rel(dt) * (want[i] + cond[i])
						if ord == 2 { // rounding of Σx² then √: relative
							tol = rel(dt) * 2 * (want[i] + cond[i])
						}
						require.InDelta(e.t, want[i], got[i], tol, "Norm %s ord=%g axes=%v", dt, ord, axes)
					}
				}
			}
		}
	}
	require.Error(e.t, tensor.Try(func() { tensor.Norm(tensor.Ones(tensor.Float32, 3).To(e.dev), 3, false) }))
}

func testPairwiseSqDist(e *env) {
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		m, n, d := 7, 5, 33
		gen := e.magnitude(0.1, 2)
		av, bv := make([]float64, m*d), make([]float64, n*d)
		for i := range av {
			av[i] = gen()
		}
		for i := range bv {
			bv[i] = gen()
		}
		copy(bv[:d], av[d:2*d]) // one pair at distance 0
		a, b := e.onDevice(dt, av, []int{m, d}, false), e.onDevice(dt, bv, []int{n, d}, false)
		got := toHost64(tensor.PairwiseSqDist(a, b))
		for i := range m {
			for j := range n {
				want, cond := 0.0, 0.0
				for k := range d {
					x, y := av[i*d+k], bv[j*d+k]
					want += (x - y) * (x - y)
					cond += x*x + y*y
				}
				r := 8 * rel(dt)
				if dt == tensor.Float32 {
					// the inputs are rounded to float32 before the GEMM
					r = 4e-6 * 8
				}
				require.InDelta(e.t, want, got[i*n+j], r*cond, "PairwiseSqDist %s (%d,%d)", dt, i, j)
				require.GreaterOrEqual(e.t, got[i*n+j], 0.0)
			}
		}
	}
}
