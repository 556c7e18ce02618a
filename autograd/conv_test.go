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

// TestConv2dGradCheckPaths checks the gradients of Conv2d (input, weight,
// bias; central finite differences in float64) on each CPU kernel path:
// image blocks in the wide layout (stride 1, no padding), image blocks with
// padding and strides, a 1x1 convolution read in place, and a strided input.
// The second-order check (the gradient rules differentiated again) runs on
// the wide layout too.
func TestConv2dGradCheckPaths(t *testing.T) {
	cases := []struct {
		name   string
		x, w   []int
		p      tensor.ConvParams
		groups int
		permX  bool
	}{
		{"wide", []int{9, 4, 5, 5}, []int{3, 4, 3, 3}, tensor.ConvParams{}, 1, false},
		{"wide/dilated", []int{9, 2, 6, 5}, []int{2, 2, 2, 2}, tensor.ConvParams{DilH: 2}, 1, false},
		{"blocks/padded-strided", []int{9, 4, 5, 6}, []int{4, 2, 3, 3}, tensor.ConvParams{StrideH: 2, PadH: 1, PadW: 1}, 2, false},
		{"1x1", []int{3, 4, 3, 3}, []int{5, 4, 1, 1}, tensor.ConvParams{}, 1, false},
		{"strided-input", []int{9, 4, 5, 5}, []int{3, 4, 3, 3}, tensor.ConvParams{}, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := func(xs []*Var) *Var {
				x := xs[0]
				if tc.permX {
					x = Permute(Contiguous(Permute(x, 1, 0, 2, 3)), 1, 0, 2, 3)
				}
				return Conv2d(x, xs[1], xs[2], tc.p, tc.groups)
			}
			in := []*tensor.Tensor{randn(tc.x...), randn(tc.w...), randn(tc.w[0])}
			require.NoError(t, GradCheck(f, in, gcEps, gcTol))
		})
	}
	t.Run("wide/second-order", func(t *testing.T) {
		proj := randn(9, 3, 3, 3)
		first := func(xs []*Var) *Var {
			y := Conv2d(xs[0], xs[1], xs[2], tensor.ConvParams{}, 1)
			gs, err := Grad([]*Var{Sum(Mul(y, Constant(proj)), false)}, xs, nil, BackwardOpts{CreateGraph: true})
			require.NoError(t, err)
			return Add(Sum(Mul(gs[0], gs[0]), false), Sum(Mul(gs[1], gs[1]), false))
		}
		require.NoError(t, GradCheck(first, []*tensor.Tensor{randn(9, 4, 5, 5), randn(3, 4, 3, 3), randn(3)}, gcEps, 1e-5))
	})
}

// TestPoolGradCheckPaths checks pooling gradients with dilation and with
// non-contiguous inputs, and that a max-pool gradient goes to the first
// maximum of a window (PyTorch's choice) when values tie.
func TestPoolGradCheckPaths(t *testing.T) {
	perm := func(x *Var) *Var { return Permute(Contiguous(Permute(x, 1, 0, 2, 3)), 1, 0, 2, 3) }
	for _, p := range []tensor.ConvParams{
		{KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		{KH: 2, KW: 3, DilH: 2, StrideW: 2, PadW: 1},
	} {
		require.NoError(t, GradCheck(func(xs []*Var) *Var { return MaxPool2d(perm(xs[0]), p) }, []*tensor.Tensor{randn(2, 3, 6, 7)}, gcEps, gcTol), "%+v", p)
		require.NoError(t, GradCheck(func(xs []*Var) *Var { return AvgPool2d(perm(xs[0]), p) }, []*tensor.Tensor{randn(2, 3, 6, 7)}, gcEps, gcTol), "%+v", p)
	}
	x := Param(tensor.Ones(tensor.Float64, 1, 1, 2, 2))
	require.NoError(t, Sum(MaxPool2d(x, tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}), false).Backward())
	require.Equal(t, []float64{1, 0, 0, 0}, x.Grad().Float64s())
}

// Conv2dMaxPool2d and Conv2dReLUMaxPool2d match MaxPool2d(Conv2d(...)) and
// MaxPool2d(ReLU(Conv2d(...))) in value and gradients, on
// the fused first-order path (constant input: weight and bias gradients from
// the pooled gradient) and the composed one (input gradient too).
func TestConv2dMaxPool2dMatchesComposition(t *testing.T) {
	g := tensor.NewGenerator(3)
	cp, pp := tensor.ConvParams{}, tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	// the bench CNN's two layers: one image per item, and image blocks
	for _, geo := range [][3]int{{1, 28, 32}, {32, 13, 64}} {
		testConvMaxPoolComposition(t, g, geo[0], geo[1], geo[2], cp, pp)
	}
}

func testConvMaxPoolComposition(t *testing.T, g *tensor.Generator, c, hw, o int, cp, pp tensor.ConvParams) {
	x := g.Normal(0, 1, tensor.Float32, 16, c, hw, hw)
	w := g.Normal(0, 0.3, tensor.Float32, o, c, 3, 3)
	b := g.Normal(0, 0.3, tensor.Float32, o)
	gy := g.Normal(0, 1, tensor.Float32, 16, o, (hw-2)/2, (hw-2)/2)
	for _, tc := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		xGrad, relu := tc[0], tc[1]
		run := func(fused bool) []*tensor.Tensor {
			xv := NewVar(x.Clone(), xGrad)
			wv, bv := Param(w.Clone()), Param(b.Clone())
			var y *Var
			switch {
			case fused && relu:
				y = Conv2dReLUMaxPool2d(xv, wv, bv, cp, 1, pp)
			case fused:
				y = Conv2dMaxPool2d(xv, wv, bv, cp, 1, pp)
			case relu:
				y = MaxPool2d(ReLU(Conv2d(xv, wv, bv, cp, 1)), pp)
			default:
				y = MaxPool2d(Conv2d(xv, wv, bv, cp, 1), pp)
			}
			require.NoError(t, y.Backward(gy))
			out := []*tensor.Tensor{y.Value(), wv.Grad(), bv.Grad()}
			if xGrad {
				out = append(out, xv.Grad())
			}
			return out
		}
		want, got := run(false), run(true)
		for i := range want {
			a, c := want[i].Float64s(), got[i].Float64s()
			require.Len(t, c, len(a))
			for j := range a {
				require.InDelta(t, a[j], c[j], 1e-4*(1+math.Abs(a[j])), "result %d element %d (input gradient %v, ReLU %v)", i, j, xGrad, relu)
			}
		}
	}
}

// TestPoolZeroStrideIsKernel: a zero stride of a pooling window is the
// kernel size (PyTorch's default) in MaxPool2d, AvgPool2d and the pooling
// of Conv2dMaxPool2d, which give the same values as with the explicit
// stride (exactly) and the output size floor((size-k)/k)+1.
func TestPoolZeroStrideIsKernel(t *testing.T) {
	x := randn(2, 3, 7, 8)
	zero := tensor.ConvParams{KH: 2, KW: 3}
	explicit := tensor.ConvParams{KH: 2, KW: 3, StrideH: 2, StrideW: 3}
	mz, me := MaxPool2d(Constant(x), zero), MaxPool2d(Constant(x), explicit)
	require.Equal(t, tensor.Shape{2, 3, 3, 2}, mz.Shape())
	require.Equal(t, me.Value().Float64s(), mz.Value().Float64s())
	az, ae := AvgPool2d(Constant(x), zero), AvgPool2d(Constant(x), explicit)
	require.Equal(t, tensor.Shape{2, 3, 3, 2}, az.Shape())
	require.Equal(t, ae.Value().Float64s(), az.Value().Float64s())
	w, b := randn(4, 3, 3, 3), randn(4)
	cz := Conv2dMaxPool2d(Constant(x), Constant(w), Constant(b), tensor.ConvParams{PadH: 1, PadW: 1}, 1, zero)
	ce := MaxPool2d(Conv2d(Constant(x), Constant(w), Constant(b), tensor.ConvParams{PadH: 1, PadW: 1}, 1), explicit)
	require.Equal(t, ce.Shape(), cz.Shape())
	require.InDeltaSlice(t, ce.Value().Float64s(), cz.Value().Float64s(), 1e-12)
}
