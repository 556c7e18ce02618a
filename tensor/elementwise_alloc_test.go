package tensor

import (
	"math"
	"testing"
)

// The elementwise outputs that take recycled buffers (unary, binary, Where,
// Cast, Clone, ReLUGrad) overwrite every element: with the recycler full of
// NaN the results match float64 references, for contiguous, strided and
// broadcast operands.
func TestDirtyElementwiseOutputs(t *testing.T) {
	g := NewGenerator(11)
	const r, c = 300, 257 // 77100 elements: above the recycling threshold
	n := r * c
	x := g.Normal(0, 1, Float32, r, c)
	y := g.Normal(0, 1, Float32, r, c)
	row := g.Normal(0, 1, Float32, 1, c)
	xt := g.Normal(0, 1, Float32, c, r).Transpose(0, 1) // strided
	xs, ys, rs, xts := x.Float64s(), y.Float64s(), row.Float64s(), xt.Float64s()
	ref := func(f func(i int) float64) []float64 {
		w := make([]float64, n)
		for i := range w {
			w[i] = f(i)
		}
		return w
	}
	relu := func(v float64) float64 { return max(v, 0) }
	for _, dt := range []DType{Float32, Float64} {
		X, Y, R, XT := x.Cast(dt), y.Cast(dt), row.Cast(dt), xt.Cast(dt)
		poison(t, dt, n)
		poison(t, Int32, n)
		requireClose(t, ref(func(i int) float64 { return relu(xs[i]) }), ReLU(X), 1e-6, "relu")
		requireClose(t, ref(func(i int) float64 { return relu(xts[i]) }), ReLU(XT), 1e-6, "relu strided")
		requireClose(t, ref(func(i int) float64 { return math.Exp(xs[i]) }), Exp(X), 1e-5, "exp")
		requireClose(t, ref(func(i int) float64 { return xs[i] + ys[i] }), Add(X, Y), 1e-6, "add")
		requireClose(t, ref(func(i int) float64 { return xs[i] * rs[i%c] }), Mul(X, R), 1e-6, "mul broadcast")
		requireClose(t, ref(func(i int) float64 { return xts[i] - ys[i] }), Sub(XT, Y), 1e-6, "sub strided")
		requireClose(t, ref(func(i int) float64 {
			if xs[i] > ys[i] {
				return xs[i]
			}
			return rs[i%c]
		}), Where(Gt(X, Y), X, R), 1e-6, "where")
		requireClose(t, xts, XT.Clone(), 1e-6, "clone")
		requireClose(t, xts, XT.Contiguous(), 1e-6, "contiguous")
		requireClose(t, ref(func(i int) float64 {
			if ys[i] > 0 {
				return xs[i]
			}
			return 0
		}), ReLUGrad(X, Y), 1e-6, "relu grad")
	}
	poison(t, Float32, n)
	requireClose(t, ref(func(i int) float64 { return float64(int32(xs[i] * 10)) }), MulScalar(x, 10).Cast(Int32).Cast(Float32), 1e-6, "cast")
}
