package tensor

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Conv2dMaxPoolBackwardWeight matches the weight and bias gradients through
// the materialised pooling gradient, computed in float64, for geometries the
// CPU fuses (one image per item) and ones it hands to the composition.
func TestConv2dMaxPoolBackwardWeight(t *testing.T) {
	g := NewGenerator(12)
	for _, tc := range []struct {
		n, c, h, w, o, k, groups int
		p, pp                    ConvParams
		bias                     bool
		dt                       DType
	}{
		{16, 1, 28, 28, 32, 3, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float32}, // bench CNN conv1
		{4, 3, 15, 15, 8, 3, 1, ConvParams{PadH: 1, PadW: 1}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, false, Float32},
		{4, 4, 13, 13, 6, 3, 2, ConvParams{}, ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true, Float64},
		{3, 2, 40, 31, 5, 5, 1, ConvParams{StrideH: 2}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float64},
		{16, 32, 13, 13, 64, 3, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float32}, // image blocks: composed
		{8, 16, 6, 6, 8, 1, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float32},     // 1x1 direct: composed
	} {
		x := g.Normal(0, 1, tc.dt, tc.n, tc.c, tc.h, tc.w)
		ws := []int{tc.o, tc.c / tc.groups, tc.k, tc.k}
		w := g.Normal(0, 1, tc.dt, ws...)
		y := Conv2d(x, w, nil, tc.p, tc.groups)
		pooled, idx := MaxPool2d(y, tc.pp)
		gp := g.Normal(0, 1, tc.dt, pooled.Shape()...)
		x64, gp64 := x.Cast(Float64), gp.Cast(Float64)
		for _, mask := range []*Tensor{nil, g.Normal(0, 1, tc.dt, pooled.Shape()...)} {
			g64 := gp64
			if mask != nil { // the gradient of a ReLU with output mask
				g64 = ReLUGrad(gp64, mask.Cast(Float64))
			}
			wantW, wantB := Conv2dBackwardWeight(x64, MaxPool2dBackward(g64, idx, y.Shape(), tc.pp), ws, tc.p, tc.groups, tc.bias)
			poison(t, tc.dt, y.NumElements())
			dw, db := Conv2dMaxPoolBackwardWeight(x, gp, idx, mask, ws, tc.p, tc.groups, tc.bias, tc.pp)
			tol := 1e-4
			if tc.dt == Float64 {
				tol = 1e-10
			}
			requireClose(t, wantW.Float64s(), dw, tol, "weight gradient")
			if tc.bias {
				requireClose(t, wantB.Float64s(), db, tol, "bias gradient")
			} else {
				require.Nil(t, db)
			}
		}
	}
	// an index outside its plane is an error
	x := g.Normal(0, 1, Float32, 2, 1, 10, 10)
	gp := g.Normal(0, 1, Float32, 2, 4, 4, 4)
	require.Panics(t, func() {
		Conv2dMaxPoolBackwardWeight(x, gp, FromSlice(badIndices(2*4*4*4), 2, 4, 4, 4), nil, []int{4, 1, 3, 3}, ConvParams{}, 1, true, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
	})
}

func badIndices(n int) []int32 {
	s := make([]int32, n)
	s[n-1] = 64 // planes are 8x8
	return s
}

// Conv2dMaxPool2d equals MaxPool2d(Conv2d(...)) (values to rounding, the
// bias being added after the maximum for image blocks; indices exactly),
// with the recycler full of NaN, on fused and composed geometries.
func TestConv2dMaxPool2d(t *testing.T) {
	g := NewGenerator(13)
	for _, tc := range []struct {
		n, c, h, w, o, k, groups int
		p, pp                    ConvParams
		bias                     bool
		dt                       DType
	}{
		{32, 1, 28, 28, 32, 3, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float32}, // bench CNN conv1
		{4, 3, 15, 15, 8, 3, 1, ConvParams{PadH: 1, PadW: 1}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, false, Float32},
		{4, 4, 13, 13, 6, 3, 2, ConvParams{}, ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true, Float64},
		{3, 2, 40, 31, 5, 5, 1, ConvParams{StrideH: 2}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float64},
		{16, 32, 13, 13, 64, 3, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float32},                                 // image blocks, wide layout (bench CNN conv2)
		{16, 32, 9, 9, 32, 3, 2, ConvParams{PadH: 1, PadW: 1}, ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true, Float64}, // image blocks
		{8, 16, 6, 6, 8, 1, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float32},                                     // 1x1 direct: composed
	} {
		x := g.Normal(0, 1, tc.dt, tc.n, tc.c, tc.h, tc.w)
		w := g.Normal(0, 1, tc.dt, tc.o, tc.c/tc.groups, tc.k, tc.k)
		var b *Tensor
		if tc.bias {
			b = g.Normal(0, 1, tc.dt, tc.o)
		}
		wantY, wantIdx := MaxPool2d(Conv2d(x, w, b, tc.p, tc.groups), tc.pp)
		poison(t, tc.dt, wantY.NumElements())
		poison(t, Int32, wantY.NumElements())
		y, idx := Conv2dMaxPool2d(x, w, b, tc.p, tc.groups, tc.pp, false)
		require.Equal(t, wantY.Shape(), y.Shape())
		requireClose(t, wantY.Float64s(), y, 1e-6, "pooled output")
		require.Equal(t, ToSlice[int32](wantIdx), ToSlice[int32](idx))
		// with ReLU: the same indices, the maxima clamped at 0
		poison(t, tc.dt, wantY.NumElements())
		poison(t, Int32, wantY.NumElements())
		y, idx = Conv2dMaxPool2d(x, w, b, tc.p, tc.groups, tc.pp, true)
		want := wantY.Float64s()
		for i, v := range want {
			want[i] = max(v, 0)
		}
		requireClose(t, want, y, 1e-6, "pooled ReLU output")
		require.Equal(t, ToSlice[int32](wantIdx), ToSlice[int32](idx))
	}
}

// Conv2dMaxPoolBackward matches Conv2dBackward through the materialised
// pooling gradient, computed in float64, for image blocks (fused; wide and
// not) and geometries handed to the composition.
func TestConv2dMaxPoolBackward(t *testing.T) {
	g := NewGenerator(14)
	for _, tc := range []struct {
		n, c, h, w, o, k, groups int
		p, pp                    ConvParams
		bias                     bool
		dt                       DType
	}{
		{16, 32, 13, 13, 64, 3, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float32}, // bench CNN conv2: wide blocks
		{16, 32, 9, 9, 32, 3, 2, ConvParams{PadH: 1, PadW: 1}, ConvParams{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true, Float64},
		{12, 24, 11, 10, 16, 3, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, false, Float64}, // odd sizes: dropped rows and columns
		{4, 1, 28, 28, 8, 3, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float32},     // one image per item: composed
		{8, 16, 6, 6, 8, 1, 1, ConvParams{}, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, true, Float32},      // 1x1 direct: composed
	} {
		x := g.Normal(0, 1, tc.dt, tc.n, tc.c, tc.h, tc.w)
		w := g.Normal(0, 1, tc.dt, tc.o, tc.c/tc.groups, tc.k, tc.k)
		y := Conv2d(x, w, nil, tc.p, tc.groups)
		pooled, idx := MaxPool2d(y, tc.pp)
		gp := g.Normal(0, 1, tc.dt, pooled.Shape()...)
		x64, w64 := x.Cast(Float64), w.Cast(Float64)
		for _, mask := range []*Tensor{nil, g.Normal(0, 1, tc.dt, pooled.Shape()...)} {
			g64 := gp.Cast(Float64)
			if mask != nil { // the gradient of a ReLU with output mask
				g64 = ReLUGrad(g64, mask.Cast(Float64))
			}
			wantX, wantW, wantB := Conv2dBackward(x64, MaxPool2dBackward(g64, idx, y.Shape(), tc.pp), w64, tc.p, tc.groups, tc.bias)
			poison(t, tc.dt, y.NumElements(), x.NumElements())
			dx, dw, db := Conv2dMaxPoolBackward(x, gp, idx, mask, w, tc.p, tc.groups, tc.bias, tc.pp)
			tol := 1e-4
			if tc.dt == Float64 {
				tol = 1e-10
			}
			requireClose(t, wantX.Float64s(), dx, tol, "input gradient")
			requireClose(t, wantW.Float64s(), dw, tol, "weight gradient")
			if tc.bias {
				requireClose(t, wantB.Float64s(), db, tol, "bias gradient")
			} else {
				require.Nil(t, db)
			}
		}
	}
}
