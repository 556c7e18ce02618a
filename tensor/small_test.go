package tensor

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The 40-element float32 Add of issue 21 allocates at most three times: the
// Tensor with its storage, the boxed slice header and the elements. No
// loop planning, broadcast shape or kernel closure is allocated. The race
// detector does not add heap allocations to this path (no sync.Pool), so the
// bound holds under -race too.
func TestSmallAddAllocs(t *testing.T) {
	g := NewGenerator(21)
	a := g.Normal(0, 1, Float32, 40)
	b := g.Normal(0, 1, Float32, 40)
	n := testing.AllocsPerRun(200, func() { Add(a, b) })
	require.LessOrEqual(t, n, 3.0, "allocations per 40-element Add")
	// Rank 2 and float64 take the same path.
	a2, b2 := g.Normal(0, 1, Float64, 10, 4), g.Normal(0, 1, Float64, 10, 4)
	require.LessOrEqual(t, testing.AllocsPerRun(200, func() { Mul(a2, b2) }), 3.0, "allocations per 10x4 float64 Mul")
	require.LessOrEqual(t, testing.AllocsPerRun(200, func() { Exp(a) }), 3.0, "allocations per 40-element Exp")
	d := Empty(Float32, 40)
	require.LessOrEqual(t, testing.AllocsPerRun(200, func() { AddInto(d, a, b) }), 0.0, "allocations per 40-element AddInto")
}

// The small-operand fast paths (one kernel call over dense operands) give
// the same values as the float64 reference for offset views, size-1 axes
// with odd strides, in-place destinations and every float32 arithmetic op.
func TestSmallDenseFastPath(t *testing.T) {
	g := NewGenerator(22)
	base := g.Normal(0, 1, Float32, 3, 40)
	x := base.Slice(0, 1, 2, 1)                        // a dense 1x40 view at offset 40
	y := g.Normal(0, 1, Float32, 40, 1).Reshape(1, 40) // dense
	xs, ys := x.Float64s(), y.Float64s()
	ops := []struct {
		name string
		f    func(a, b *Tensor) *Tensor
		ref  func(a, b float64) float64
	}{
		{"add", Add, func(a, b float64) float64 { return a + b }},
		{"sub", Sub, func(a, b float64) float64 { return a - b }},
		{"mul", Mul, func(a, b float64) float64 { return a * b }},
		{"div", Div, func(a, b float64) float64 { return a / b }},
		{"max", Maximum, math.Max},
	}
	for _, op := range ops {
		got := op.f(x, y)
		require.Equal(t, Shape{1, 40}, got.Shape(), op.name)
		want := make([]float64, 40)
		for i := range want {
			want[i] = op.ref(xs[i], ys[i])
		}
		requireClose(t, want, got, 1e-6, op.name)
	}
	// In place, into the view: the rest of base is untouched.
	before := base.Float64s()
	AddInto(x, x, y)
	after := base.Float64s()
	for i := range after {
		want := before[i]
		if i >= 40 && i < 80 {
			want = before[i] + ys[i-40]
		}
		require.InDelta(t, want, after[i], 1e-6, "element %d", i)
	}
	// Exp through the fast path, on the view (its size-1 axis has stride 40).
	require.Equal(t, []int{40, 1}, x.Strides())
	e := Exp(x)
	want := make([]float64, 40)
	for i := range want {
		want[i] = math.Exp(after[40+i])
	}
	requireClose(t, want, e, 1e-6, "exp")
}

// The small-sum fast path gives the same bits as the general path for
// column sums (the same values as a non-dense view take the general one),
// and whole sums match a float64 reference, float32 and float64.
func TestSmallSumSameBits(t *testing.T) {
	g := NewGenerator(23)
	for _, dt := range []DType{Float32, Float64} {
		x := g.Normal(0, 1, dt, 10, 40)
		// the same values laid out with a gap between rows (a non-dense view)
		wide := g.Normal(0, 1, dt, 10, 48)
		wide.Slice(1, 0, 40, 1).CopyFrom(x)
		xv := wide.Slice(1, 0, 40, 1)
		require.Equal(t, Sum(xv, false, 0).Float64s(), Sum(x, false, 0).Float64s(), "column sums %v", dt)
		require.Equal(t, Sum(xv.T(), false, 1).Float64s(), Sum(x.T(), false, 1).Float64s(), "column sums through a transpose %v", dt)
		want := 0.0
		for _, v := range x.Float64s() {
			want += v
		}
		require.InDelta(t, want, Sum(x, false).Item(), 1e-5*(1+math.Abs(want)), "whole sum %v", dt)
	}
	x := g.Normal(0, 1, Float32, 10, 40)
	// the output's three, the permuted view, the normalised axes and the
	// variadic axes (no loop planning, accumulator or closure)
	require.LessOrEqual(t, testing.AllocsPerRun(100, func() { Sum(x, false, 0) }), 6.0, "allocations per small column sum")
}
