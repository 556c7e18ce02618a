package tensor

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The 2x2 stride-2 max pooling (vector rows for float32, scalar otherwise)
// against a float64 reference of PyTorch's rule (the first maximum in
// row-major order; a NaN wins, the last one), with ties and NaNs, for row
// lengths below, at and beyond blocks of 8 outputs.
func TestMaxPool2x2Reference(t *testing.T) {
	g := NewGenerator(21)
	p := ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	for _, hw := range [][2]int{{2, 2}, {9, 10}, {4, 16}, {6, 17}, {26, 26}, {5, 33}, {8, 64}} {
		h, w := hw[0], hw[1]
		n, c := 2, 3
		xs := g.Uniform(0, 4, Float64, n*c*h*w).Float64s()
		for i := range xs {
			xs[i] = math.Floor(xs[i]) // ties
			if i%37 == 5 {
				xs[i] = math.NaN()
			}
		}
		oh, ow := h/2, w/2
		wantY := make([]float64, 0, n*c*oh*ow)
		var wantIdx []int32
		for pl := range n * c {
			for oy := range oh {
				for ox := range ow {
					best, bi := 0.0, int32(-1)
					for i := range 2 {
						for j := range 2 {
							at := (2*oy+i)*w + 2*ox + j
							v := xs[pl*h*w+at]
							if bi < 0 || v > best || math.IsNaN(v) {
								best, bi = v, int32(at)
							}
						}
					}
					wantY, wantIdx = append(wantY, best), append(wantIdx, bi)
				}
			}
		}
		for _, dt := range []DType{Float32, Float64} {
			x := FromSlice(xs, n, c, h, w).Cast(dt)
			y, idx := MaxPool2d(x, p)
			require.Equal(t, wantIdx, ToSlice[int32](idx), "%v %dx%d", dt, h, w)
			requireCloseNaN(t, wantY, y, "max")
			// strided input rows: a view of a wider tensor
			wide := Zeros(dt, n, c, h, w+3)
			wide.Narrow(3, 0, w).CopyFrom(x)
			y2, idx2 := MaxPool2d(wide.Narrow(3, 0, w), p)
			require.Equal(t, wantIdx, ToSlice[int32](idx2), "%v %dx%d strided", dt, h, w)
			requireCloseNaN(t, wantY, y2, "max strided")
		}
	}
}

func requireCloseNaN(t *testing.T, want []float64, got *Tensor, what string) {
	t.Helper()
	g := got.Float64s()
	require.Len(t, g, len(want), what)
	for i := range want {
		if math.IsNaN(want[i]) {
			require.True(t, math.IsNaN(g[i]), "%s: element %d is %v, want NaN", what, i, g[i])
			continue
		}
		require.Equal(t, want[i], g[i], "%s: element %d", what, i)
	}
}
