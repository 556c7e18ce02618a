package main

import (
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// TestMeasure checks the row bookkeeping: best rounds, the ratio to the
// anchor, allocations per call, and a failing anchor leaving anchor_ns 0.
func TestMeasure(t *testing.T) {
	var sink []int
	calls := 0
	cases := []bench{
		{name: "alloc", size: 3, threads: 1, run: func() { sink = make([]int, 3+calls%2); calls++ },
			anchor: func(reps, iters int) (float64, error) { return 1e9, nil }, anchorN: "fake"},
		{name: "none", size: 1, threads: 1, run: func() {},
			anchor: func(reps, iters int) (float64, error) { return 0, io.EOF }, anchorN: "broken"},
	}
	rows := measure(cases, 2, 3, 10_000, io.Discard)
	require.Len(t, rows, 2)
	require.Equal(t, "alloc", rows[0].Case)
	require.Equal(t, 1e9, rows[0].AnchorNs)
	require.Greater(t, rows[0].OursNs, 0.0)
	require.InDelta(t, rows[0].OursNs/1e9, rows[0].Ratio, 1e-12)
	require.Equal(t, 1.0, rows[0].Allocs)
	require.Equal(t, 0.0, rows[1].AnchorNs)
	require.Equal(t, 0.0, rows[1].Ratio)
	require.Equal(t, 0.0, rows[1].Allocs)
	require.NotEmpty(t, sink)
}

// TestCases runs every Go-side case once; the SGEMM case's product is
// checked against a float64 loop.
func TestCases(t *testing.T) {
	cs := opCases([]int{10, 40}, 1, func(string, int) func(int, int) (float64, error) { return nil })
	require.Len(t, cs, 10)
	for _, c := range cs {
		c.run()
	}
	require.Equal(t, 36, cs[9].size) // matmul of 6x6 operands
	step, _ := newMLPStep(10)
	for range 3 {
		step()
	}

	n := 17
	g := tensor.NewGenerator(3)
	a := g.Uniform(-1, 1, tensor.Float32, n*n).Float32s()
	b := g.Uniform(-1, 1, tensor.Float32, n*n).Float32s()
	c := make([]float32, n*n)
	gemmInto(n, a, b, c)()
	for i := range n {
		for j := range n {
			var want float64
			for p := range n {
				want += float64(a[i*n+p]) * float64(b[p*n+j])
			}
			require.LessOrEqual(t, math.Abs(want-float64(c[i*n+j])), 1e-4*(1+math.Abs(want)), "C[%d,%d]", i, j)
		}
	}
}
