package tensor

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// Float64-reference tests of the float32 fast paths: transposed copies,
// sums over rows and columns, softmax and log-softmax, on random data with
// odd sizes, tails and non-contiguous views.

func TestTransposedCopyFloat32(t *testing.T) {
	g := NewGenerator(7)
	for _, sh := range [][2]int{{64, 128}, {67, 129}, {9, 1000}, {1000, 9}, {33, 41}} {
		x := g.Uniform(-1, 1, Float32, sh[0]+3, sh[1]+5).Slice(0, 1, 1+sh[0], 1).Slice(1, 2, 2+sh[1], 1)
		y := x.T().Contiguous()
		xs, ys := x.Float32s(), y.Float32s()
		for i := range sh[1] {
			for j := range sh[0] {
				require.Equal(t, xs[j*sh[1]+i], ys[i*sh[0]+j], "shape %v (%d,%d)", sh, i, j)
			}
		}
	}
}

func TestSumFloat32Reference(t *testing.T) {
	g := NewGenerator(8)
	for _, sh := range [][2]int{{40000, 33}, {5, 70001}, {20000, 40}, {3, 7}, {129, 1031}} {
		x := g.Uniform(-1, 1, Float32, sh[0], sh[1]+1).Slice(1, 1, 1+sh[1], 1) // rows not contiguous
		xs := x.Float32s()
		rows, cols := sh[0], sh[1]
		colRef := make([]float64, cols)
		rowRef := make([]float64, rows)
		all := 0.0
		for i := range rows {
			for j := range cols {
				v := float64(xs[i*cols+j])
				colRef[j] += v
				rowRef[i] += v
				all += v
			}
		}
		// float32 data summed in float64: the result is the float64 sum
		// rounded to float32 (a float32 ulp, far above float64 summation error).
		tol := func(v float64) float64 { return 1.2e-7*math.Abs(v) + 1e-12*float64(rows*cols) }
		cs := Sum(x, false, 0).Float32s()
		for j, v := range colRef {
			require.InDelta(t, v, float64(cs[j]), tol(v), "cols %v j=%d", sh, j)
		}
		rs := Sum(x, false, 1).Float32s()
		for i, v := range rowRef {
			require.InDelta(t, v, float64(rs[i]), tol(v), "rows %v i=%d", sh, i)
		}
		require.InDelta(t, all, Sum(x, false).Item(), tol(all), "all %v", sh)
	}
}

func TestSoftmaxFloat32Reference(t *testing.T) {
	g := NewGenerator(9)
	for _, L := range []int{1, 7, 10, 33, 1024, 1031} {
		x := MulScalar(g.Uniform(-1, 1, Float32, 5, L), 30)
		xs := x.Float32s()
		xs[0] = 1e4 // a large logit
		if L > 3 {
			xs[L+2] = float32(math.Inf(-1))
		}
		x = FromSlice(xs, 5, L)
		p, lp := Softmax(x, 1).Float32s(), LogSoftmax(x, 1).Float32s()
		for r := range 5 {
			row := xs[r*L : (r+1)*L]
			m := math.Inf(-1)
			for _, v := range row {
				m = math.Max(m, float64(v))
			}
			s := 0.0
			for _, v := range row {
				s += math.Exp(float64(v) - m)
			}
			for i, v := range row {
				want := math.Exp(float64(v)-m) / s
				// float32 rounding of v-m is amplified by |v-m| in exp
				tol := (1e-6 + 1.2e-7*math.Abs(float64(v)-m)) * want
				require.InDelta(t, want, float64(p[r*L+i]), tol+1e-38, "softmax L=%d (%d,%d)", L, r, i)
				wl := float64(v) - m - math.Log(s)
				if math.IsInf(wl, -1) {
					require.True(t, math.IsInf(float64(lp[r*L+i]), -1))
					continue
				}
				require.InDelta(t, wl, float64(lp[r*L+i]), 1e-6*math.Abs(wl)+1e-6, "log-softmax L=%d (%d,%d)", L, r, i)
			}
		}
	}
}

func TestReLUGrad(t *testing.T) {
	gen := NewGenerator(10)
	for _, n := range []int{1, 7, 8, 33, 100003} {
		g, y := gen.Uniform(-1, 1, Float32, n), gen.Uniform(-1, 1, Float32, n)
		want := Mul(g, UnaryInto(OpStep, EmptyLike(y), y, 0, 0)).Float32s()
		require.Equal(t, want, ReLUGrad(g, y).Float32s(), "n=%d", n)
		g64, y64 := g.Cast(Float64), y.Cast(Float64)
		got64 := ReLUGrad(g64, y64).Float64s()
		for i := range want {
			require.Equal(t, float64(want[i]), got64[i])
		}
	}
	// non-contiguous: composed path
	g, y := gen.Uniform(-1, 1, Float32, 6, 5), gen.Uniform(-1, 1, Float32, 5, 6)
	require.Equal(t, Mul(g, UnaryInto(OpStep, EmptyLike(y), y, 0, 0).T()).Float32s(), ReLUGrad(g, y.T()).Float32s())
}

func TestSoftmaxInto(t *testing.T) {
	x := NewGenerator(11).Uniform(-3, 3, Float32, 4, 9)
	require.Equal(t, Softmax(x, 0).Float32s(), SoftmaxInto(EmptyLike(x), x, 0).Float32s())
	require.Equal(t, LogSoftmax(x, -1).Float32s(), LogSoftmaxInto(EmptyLike(x), x, -1).Float32s())
	require.Panics(t, func() { SoftmaxInto(Empty(Float32, 9, 4), x, 1) })
}
