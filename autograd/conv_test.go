package autograd

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

// convRef is a direct float64 convolution (cross-correlation, as PyTorch).
func convRef(x, w, b []float64, n, c, h, wd, o, kh, kw, groups int, p tensor.ConvParams) ([]float64, int, int) {
	p.KH, p.KW = kh, kw
	oh, ow := p.OutSize(h, wd)
	sh, sw, dh, dw := max(p.StrideH, 1), max(p.StrideW, 1), max(p.DilH, 1), max(p.DilW, 1)
	cg, og := c/groups, o/groups
	out := make([]float64, n*o*oh*ow)
	for in := range n {
		for oc := range o {
			gi := oc / og
			for y := range oh {
				for xx := range ow {
					s := 0.0
					if b != nil {
						s = b[oc]
					}
					for ic := range cg {
						ch := gi*cg + ic
						for i := range kh {
							for j := range kw {
								iy, ix := y*sh-p.PadH+i*dh, xx*sw-p.PadW+j*dw
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += x[((in*c+ch)*h+iy)*wd+ix] * w[((oc*cg+ic)*kh+i)*kw+j]
							}
						}
					}
					out[((in*o+oc)*oh+y)*ow+xx] = s
				}
			}
		}
	}
	return out, oh, ow
}

// poolRef is a direct float64 pooling (max with -Inf padding, or average
// counting padding as zeros).
func poolRef(x []float64, n, c, h, wd int, p tensor.ConvParams, isMax bool) []float64 {
	oh, ow := p.OutSize(h, wd)
	var out []float64
	for in := range n {
		for ch := range c {
			for y := range oh {
				for xx := range ow {
					acc := 0.0
					if isMax {
						acc = math.Inf(-1)
					}
					for i := range p.KH {
						for j := range p.KW {
							iy, ix := y*p.StrideH-p.PadH+i, xx*p.StrideW-p.PadW+j
							v := 0.0
							if iy >= 0 && iy < h && ix >= 0 && ix < wd {
								v = x[((in*c+ch)*h+iy)*wd+ix]
							} else if isMax {
								v = math.Inf(-1)
							}
							if isMax {
								acc = math.Max(acc, v)
							} else {
								acc += v / float64(p.KH*p.KW)
							}
						}
					}
					out = append(out, acc)
				}
			}
		}
	}
	return out
}

// TestConv2dForwardReference checks the im2col convolution against direct
// loops (float64, tol 1e-12) over strides, padding, dilation and groups.
func TestConv2dForwardReference(t *testing.T) {
	cases := []struct {
		n, c, h, w, o, kh, kw, groups int
		p                             tensor.ConvParams
	}{
		{2, 3, 7, 6, 4, 3, 3, 1, tensor.ConvParams{}},
		{1, 2, 8, 9, 6, 3, 2, 2, tensor.ConvParams{StrideH: 2, StrideW: 3, PadH: 1, PadW: 2}},
		{2, 4, 9, 9, 4, 3, 3, 4, tensor.ConvParams{PadH: 2, PadW: 2, DilH: 2, DilW: 2}},
		{1, 1, 5, 5, 2, 1, 1, 1, tensor.ConvParams{StrideH: 2, StrideW: 2}},
	}
	for _, tc := range cases {
		x, w, b := randn(tc.n, tc.c, tc.h, tc.w), randn(tc.o, tc.c/tc.groups, tc.kh, tc.kw), randn(tc.o)
		got := Conv2d(Constant(x), Constant(w), Constant(b), tc.p, tc.groups)
		want, oh, ow := convRef(x.Float64s(), w.Float64s(), b.Float64s(), tc.n, tc.c, tc.h, tc.w, tc.o, tc.kh, tc.kw, tc.groups, tc.p)
		require.Equal(t, tensor.Shape{tc.n, tc.o, oh, ow}, got.Shape())
		require.InDeltaSlice(t, want, got.Value().Float64s(), 1e-12, "%+v", tc)
	}
}

func TestPoolForwardReference(t *testing.T) {
	for _, p := range []tensor.ConvParams{
		{KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		{KH: 3, KW: 2, StrideH: 1, StrideW: 2, PadH: 1},
	} {
		x := randn(2, 3, 7, 6)
		mx := MaxPool2d(Constant(x), p)
		require.InDeltaSlice(t, poolRef(x.Float64s(), 2, 3, 7, 6, p, true), mx.Value().Float64s(), 1e-12, "%+v", p)
		av := AvgPool2d(Constant(x), p)
		require.InDeltaSlice(t, poolRef(x.Float64s(), 2, 3, 7, 6, p, false), av.Value().Float64s(), 1e-12, "%+v", p)
	}
}

// TestCol2ImIsAdjoint checks <Im2Col(x), c> == <x, Col2Im(c)>.
func TestCol2ImIsAdjoint(t *testing.T) {
	p := tensor.ConvParams{KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 2, DilH: 2, DilW: 1}
	x := randn(2, 3, 8, 7)
	cols := tensor.Im2Col(x, p)
	c := randn(cols.Shape()...)
	lhs := tensor.Sum(tensor.Mul(cols, c), false).Item()
	rhs := tensor.Sum(tensor.Mul(x, tensor.Col2Im(c, []int{2, 3, 8, 7}, p)), false).Item()
	require.InDelta(t, lhs, rhs, 1e-10)
	require.Panics(t, func() { tensor.Col2Im(c, []int{2, 3, 9, 7}, p) })
	require.Panics(t, func() { tensor.Im2Col(randn(3, 8, 7), p) })
	require.Panics(t, func() { Conv2d(Constant(x), Constant(randn(4, 2, 3, 3)), nil, tensor.ConvParams{}, 1) })
}

// Strided (non-contiguous) inputs are read in place and give the same result.
func TestConv2dStridedInput(t *testing.T) {
	x := randn(3, 2, 6, 5)
	xt := Permute(Constant(x.Permute(1, 0, 2, 3).Contiguous()), 1, 0, 2, 3) // same values, strided
	require.False(t, xt.Value().IsContiguous())
	w := Constant(randn(4, 2, 3, 3))
	p := tensor.ConvParams{StrideH: 2, PadW: 1}
	want := Conv2d(Constant(x), w, nil, p, 1).Value()
	got := Conv2d(xt, w, nil, p, 1).Value()
	require.True(t, tensor.AllClose(want, got, 1e-12, 1e-12))
	// Stacked convolutions consume the strided output of the previous one.
	w2 := Constant(randn(3, 4, 2, 2))
	y := Conv2d(Conv2d(Constant(x), w, nil, tensor.ConvParams{PadH: 1, PadW: 1}, 1), w2, nil, tensor.ConvParams{}, 1)
	y2 := Conv2d(Constant(Conv2d(Constant(x), w, nil, tensor.ConvParams{PadH: 1, PadW: 1}, 1).Value().Contiguous()), w2, nil, tensor.ConvParams{}, 1)
	require.True(t, tensor.AllClose(y.Value(), y2.Value(), 1e-12, 1e-12))
}
