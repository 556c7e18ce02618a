package tensor

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// plainDevice is the CPU without the optional capabilities (ConvDevice,
// PoolDevice, MatMulAdder): its own storage type, every primitive delegated
// to the CPU kernels. On it the conv and pool ops take the composed path
// that devices without their own kernels (CUDA) use.
type plainDevice struct{}

type plainStorage struct{ *cpuStorage }

func (plainStorage) Device() Device { return plainDevice{} }

func unwrap(v View) View {
	if s, ok := v.Storage.(plainStorage); ok {
		v.Storage = s.cpuStorage
	}
	return v
}

func (plainDevice) Name() string { return "plain" }
func (plainDevice) Alloc(dt DType, n int) (Storage, error) {
	s, err := CPU.Alloc(dt, n)
	if err != nil {
		return nil, err
	}
	return plainStorage{s.(*cpuStorage)}, nil
}
func (plainDevice) ToHost(s Storage) (Storage, error) { return CPU.ToHost(s.(plainStorage).cpuStorage) }
func (plainDevice) FromHost(s Storage) (Storage, error) {
	h, err := CPU.FromHost(s)
	if err != nil {
		return nil, err
	}
	return plainStorage{h.(*cpuStorage)}, nil
}
func (plainDevice) Fill(dst View, v float64) { CPU.Fill(unwrap(dst), v) }
func (plainDevice) Copy(dst, src View)       { CPU.Copy(unwrap(dst), unwrap(src)) }
func (plainDevice) Unary(op UnaryOp, dst, x View, p0, p1 float64) {
	CPU.Unary(op, unwrap(dst), unwrap(x), p0, p1)
}
func (plainDevice) Binary(op BinaryOp, dst, a, b View) {
	CPU.Binary(op, unwrap(dst), unwrap(a), unwrap(b))
}
func (plainDevice) Where(dst, c, a, b View) { CPU.Where(unwrap(dst), unwrap(c), unwrap(a), unwrap(b)) }
func (plainDevice) Reduce(op ReduceOp, dst, src View, nred int) {
	CPU.Reduce(op, unwrap(dst), unwrap(src), nred)
}
func (plainDevice) MatMul(dst, a, b View) { CPU.MatMul(unwrap(dst), unwrap(a), unwrap(b)) }
func (plainDevice) Gather(dst, src, index View, axis int) {
	CPU.Gather(unwrap(dst), unwrap(src), unwrap(index), axis)
}
func (plainDevice) ScatterAdd(dst, index, src View, axis int) {
	CPU.ScatterAdd(unwrap(dst), unwrap(index), unwrap(src), axis)
}
func (plainDevice) Softmax(dst, src View, log bool) { CPU.Softmax(unwrap(dst), unwrap(src), log) }
func (plainDevice) RandomFill(dst View, dist Distribution, seed, offset uint64, p0, p1 float64) {
	CPU.RandomFill(unwrap(dst), dist, seed, offset, p0, p1)
}

// convCase is a convolution geometry; the comments name the CPU path.
type convCase struct {
	n, c, h, w, o, kh, kw, groups int
	p                             ConvParams
}

var convCases = []convCase{
	{2, 3, 7, 6, 4, 3, 3, 1, ConvParams{}},                                         // per image
	{1, 2, 8, 9, 6, 3, 2, 2, ConvParams{StrideH: 2, StrideW: 3, PadH: 1, PadW: 2}}, // strides, padding, groups
	{2, 4, 9, 9, 4, 3, 3, 4, ConvParams{PadH: 2, PadW: 2, DilH: 2, DilW: 2}},       // depthwise, dilation
	{3, 2, 5, 5, 3, 1, 1, 1, ConvParams{}},                                         // 1x1: no im2col
	{1, 1, 5, 5, 2, 1, 1, 1, ConvParams{StrideH: 2, StrideW: 2}},                   // 1x1 strided
	{9, 8, 5, 5, 6, 3, 3, 1, ConvParams{}},                                         // image blocks, wide layout
	{9, 4, 7, 6, 4, 2, 3, 1, ConvParams{DilH: 2}},                                  // wide layout, dilation
	{9, 8, 6, 5, 6, 3, 3, 2, ConvParams{PadH: 1, PadW: 1}},                         // image blocks, padded
	{9, 6, 7, 7, 4, 3, 3, 1, ConvParams{StrideH: 2, StrideW: 2}},                   // image blocks, strided
	{1, 3, 150, 101, 2, 3, 3, 1, ConvParams{PadH: 1, PadW: 2, StrideW: 2}},         // row blocks
	{16, 16, 12, 12, 16, 3, 3, 1, ConvParams{}},                                    // image blocks in parallel
	{8, 2, 20, 20, 16, 3, 3, 1, ConvParams{PadH: 1}},                               // images in parallel
}

// convRef64 computes the convolution and its gradients directly in float64:
// y = conv(x, w) + b, and for an output gradient gy the input, weight and
// bias gradients.
func convRef64(tc convCase, x, w, b, gy []float64) (y, dx, dw, db []float64) {
	p := tc.p
	p.KH, p.KW = tc.kh, tc.kw
	p = p.norm("test")
	oh, ow := p.OutSize(tc.h, tc.w)
	cg, og := tc.c/tc.groups, tc.o/tc.groups
	y = make([]float64, tc.n*tc.o*oh*ow)
	dx = make([]float64, len(x))
	dw = make([]float64, len(w))
	db = make([]float64, tc.o)
	for in := range tc.n {
		for oc := range tc.o {
			gi := oc / og
			for yy := range oh {
				for xx := range ow {
					oi := ((in*tc.o+oc)*oh+yy)*ow + xx
					s := b[oc]
					g := gy[oi]
					db[oc] += g
					for ic := range cg {
						ch := gi*cg + ic
						for i := range tc.kh {
							for j := range tc.kw {
								iy, ix := yy*p.StrideH-p.PadH+i*p.DilH, xx*p.StrideW-p.PadW+j*p.DilW
								if iy < 0 || iy >= tc.h || ix < 0 || ix >= tc.w {
									continue
								}
								xi := ((in*tc.c+ch)*tc.h+iy)*tc.w + ix
								wi := ((oc*cg+ic)*tc.kh+i)*tc.kw + j
								s += x[xi] * w[wi]
								dx[xi] += g * w[wi]
								dw[wi] += g * x[xi]
							}
						}
					}
					y[oi] = s
				}
			}
		}
	}
	return y, dx, dw, db
}

// strided returns a non-contiguous tensor with x's values: channels stored
// outermost, rows padded by two elements.
func strided(x *Tensor) *Tensor {
	s := x.shape
	buf := alloc("test", x.Device(), x.DType(), []int{s[1], s[0], s[2], s[3] + 2})
	return buf.Permute(1, 0, 2, 3).Narrow(3, 1, s[3]).CopyFrom(x)
}

func requireClose(t *testing.T, want []float64, got *Tensor, tol float64, what string) {
	t.Helper()
	g := got.Float64s()
	require.Len(t, g, len(want), what)
	for i := range want {
		if math.Abs(g[i]-want[i]) > tol*(1+math.Abs(want[i])) {
			require.InDelta(t, want[i], g[i], tol*(1+math.Abs(want[i])), "%s: element %d", what, i)
		}
	}
}

// TestConv2dKernelsReference checks Conv2d, Conv2dBackwardInput and
// Conv2dBackwardWeight against direct float64 loops on random data, for
// every CPU path (per image, 1x1, image blocks compact and wide, row blocks),
// contiguous and strided inputs, float64 (tolerance 1e-10) and float32
// (1e-4 relative), on the CPU and through the composed fallback.
func TestConv2dKernelsReference(t *testing.T) {
	g := NewGenerator(7)
	for ci, tc := range convCases {
		x := g.Normal(0, 1, Float64, tc.n, tc.c, tc.h, tc.w)
		w := g.Normal(0, 1, Float64, tc.o, tc.c/tc.groups, tc.kh, tc.kw)
		b := g.Normal(0, 1, Float64, tc.o)
		p := tc.p
		p.KH, p.KW = tc.kh, tc.kw
		oh, ow := p.OutSize(tc.h, tc.w)
		gy := g.Normal(0, 1, Float64, tc.n, tc.o, oh, ow)
		wantY, wantDX, wantDW, wantDB := convRef64(tc, x.Float64s(), w.Float64s(), b.Float64s(), gy.Float64s())
		for _, dev := range []Device{CPU, plainDevice{}} {
			for _, dt := range []DType{Float64, Float32} {
				tol := 1e-10
				if dt == Float32 {
					tol = 1e-4
				}
				for _, str := range []bool{false, true} {
					if dev != CPU && (str || tc.h > 100) {
						continue
					}
					what := fmt.Sprintf("case %d %+v on %s, %v, strided %v", ci, tc, dev.Name(), dt, str)
					xt, wt, bt, gt := x.Cast(dt).To(dev), w.Cast(dt).To(dev), b.Cast(dt).To(dev), gy.Cast(dt).To(dev)
					if str {
						xt, gt = strided(xt), strided(gt)
						require.False(t, xt.IsContiguous())
					}
					y := Conv2d(xt, wt, bt, tc.p, tc.groups)
					require.Equal(t, Shape{tc.n, tc.o, oh, ow}, y.Shape(), what)
					requireClose(t, wantY, y, tol, what+": forward")
					yn := Conv2d(xt, wt, nil, tc.p, tc.groups)
					requireClose(t, Sub(y, b.Cast(dt).To(dev).Reshape(1, tc.o, 1, 1)).Float64s(), yn, tol, what+": forward without bias")
					dx := Conv2dBackwardInput(gt, wt, xt.Shape(), tc.p, tc.groups)
					requireClose(t, wantDX, dx, tol, what+": input gradient")
					dw, db := Conv2dBackwardWeight(xt, gt, wt.Shape(), tc.p, tc.groups, true)
					requireClose(t, wantDW, dw, tol, what+": weight gradient")
					requireClose(t, wantDB, db, tol, what+": bias gradient")
					dx3, dw3, db3 := Conv2dBackward(xt, gt, wt, tc.p, tc.groups, true)
					requireClose(t, wantDX, dx3, tol, what+": both gradients, input")
					requireClose(t, wantDW, dw3, tol, what+": both gradients, weight")
					requireClose(t, wantDB, db3, tol, what+": both gradients, bias")
					dx3, dw3, db3 = Conv2dBackward(xt, gt, wt, tc.p, tc.groups, false)
					require.Nil(t, db3)
					requireClose(t, wantDX, dx3, tol, what+": both gradients without bias, input")
					requireClose(t, wantDW, dw3, tol, what+": both gradients without bias, weight")
					dw2, db2 := Conv2dBackwardWeight(xt, gt, wt.Shape(), tc.p, tc.groups, false)
					require.Nil(t, db2)
					requireClose(t, wantDW, dw2, tol, what+": weight gradient without bias")
				}
			}
		}
	}
}

func TestConv2dMisuse(t *testing.T) {
	x := Ones(Float32, 2, 4, 5, 5)
	w := Ones(Float32, 6, 2, 3, 3)
	require.Panics(t, func() { Conv2d(x, w, nil, ConvParams{}, 1) })              // channels
	require.Panics(t, func() { Conv2d(x, w, Ones(Float32, 5), ConvParams{}, 2) }) // bias
	require.Panics(t, func() { Conv2d(x, w, nil, ConvParams{}, 0) })              // groups
	require.Panics(t, func() { Conv2d(x.Reshape(8, 5, 5), w, nil, ConvParams{}, 2) })
	require.Panics(t, func() { Conv2dBackwardInput(Ones(Float32, 2, 6, 4, 4), w, x.Shape(), ConvParams{}, 2) })
	require.Panics(t, func() { Conv2dBackwardWeight(x, Ones(Float32, 2, 6, 4, 4), w.Shape(), ConvParams{}, 2, true) })
	require.NotPanics(t, func() { Conv2d(x, w, Ones(Float32, 6), ConvParams{}, 2) })
}

// poolOutRef is PyTorch's pooling output length (pooling_output_shape):
// floor or, in ceil mode, ceil of (size + 2·pad - dil·(k-1) - 1)/s, plus
// one, less one if a ceil-mode window would start in the right padding.
func poolOutRef(size, k, s, pad, d int, ceil bool) int {
	f := float64(size+2*pad-d*(k-1)-1) / float64(s)
	if !ceil {
		return int(math.Floor(f)) + 1
	}
	o := int(math.Ceil(f)) + 1
	if (o-1)*s >= size+pad {
		o--
	}
	return o
}

// poolTestParams is p as the pooling functions read it: zero strides are
// the kernel size, zero dilations 1.
func poolTestParams(p ConvParams) ConvParams {
	if p.StrideH == 0 {
		p.StrideH = p.KH
	}
	if p.StrideW == 0 {
		p.StrideW = p.KW
	}
	p.DilH, p.DilW = max(p.DilH, 1), max(p.DilW, 1)
	return p
}

// poolRef64 pools x directly in float64: max (first maximum, its index in
// the plane) or average, and the input gradient for the output gradient
// gy. The average divides by the window positions inside the padded input
// [-pad, size+pad) (PyTorch's count_include_pad; the kernel size except for
// ceil-mode windows past the padding), or with ExcludePad inside the input.
func poolRef64(x, gy []float64, n, c, h, w int, p ConvParams, isMax bool) (y []float64, idx []int32, dx []float64) {
	p = poolTestParams(p)
	oh := poolOutRef(h, p.KH, p.StrideH, p.PadH, p.DilH, p.CeilMode)
	ow := poolOutRef(w, p.KW, p.StrideW, p.PadW, p.DilW, p.CeilMode)
	dx = make([]float64, len(x))
	for pl := range n * c {
		for oy := range oh {
			for ox := range ow {
				best, bi, sum := math.Inf(-1), int32(-1), 0.0
				var pos []int
				div := 0
				for i := range p.KH {
					for j := range p.KW {
						iy, ix := oy*p.StrideH-p.PadH+i*p.DilH, ox*p.StrideW-p.PadW+j*p.DilW
						if iy >= -p.PadH && iy < h+p.PadH && ix >= -p.PadW && ix < w+p.PadW && !p.ExcludePad {
							div++
						}
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						if p.ExcludePad {
							div++
						}
						v := x[pl*h*w+iy*w+ix]
						pos = append(pos, pl*h*w+iy*w+ix)
						sum += v
						if bi < 0 || v > best {
							best, bi = v, int32(iy*w+ix)
						}
					}
				}
				g := gy[(pl*oh+oy)*ow+ox]
				if isMax {
					y = append(y, best)
					idx = append(idx, bi)
					dx[pl*h*w+int(bi)] += g
				} else {
					y = append(y, sum/float64(div))
					for _, q := range pos {
						dx[q] += g / float64(div)
					}
				}
			}
		}
	}
	return y, idx, dx
}

// TestPoolKernelsReference checks MaxPool2d (values and indices),
// AvgPool2d and their backwards against direct float64 loops, on the CPU
// (fast 2x2 path and general path, contiguous and strided inputs) and
// through the composed fallback, in float64 (1e-12) and float32 (1e-6):
// zero strides (the kernel size), ceil mode (with a window dropped because
// it would start in the padding, and partial windows whose divisor is
// clipped to the padded input) and ExcludePad.
func TestPoolKernelsReference(t *testing.T) {
	g := NewGenerator(8)
	for _, p := range []ConvParams{
		{KH: 2, KW: 2, StrideH: 2, StrideW: 2},
		{KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1},
		{KH: 3, KW: 2, StrideH: 1, StrideW: 2, PadH: 1},
		{KH: 2, KW: 2, StrideH: 1, StrideW: 1, DilH: 2, DilW: 3},
		{KH: 2, KW: 2, DilH: 2, DilW: 3},
		{KH: 1, KW: 3, StrideW: 3, PadW: 1},
		{KH: 2, KW: 2, CeilMode: true},
		{KH: 2, KW: 2, StrideH: 3, StrideW: 3, PadH: 1, PadW: 1, CeilMode: true},
		{KH: 3, KW: 2, StrideH: 2, StrideW: 2, PadH: 1, CeilMode: true, ExcludePad: true},
		{KH: 3, KW: 3, StrideH: 2, StrideW: 1, PadH: 1, PadW: 1, ExcludePad: true},
		{KH: 4, KW: 4, StrideH: 3, StrideW: 3, PadH: 1, PadW: 1, CeilMode: true},
		{KH: 4, KW: 4, StrideH: 3, StrideW: 3, PadH: 1, PadW: 1, CeilMode: true, ExcludePad: true},
	} {
		n, c, h, w := 2, 3, 7, 9
		x := g.Normal(0, 1, Float64, n, c, h, w)
		q := poolTestParams(p)
		oh := poolOutRef(h, q.KH, q.StrideH, q.PadH, q.DilH, q.CeilMode)
		ow := poolOutRef(w, q.KW, q.StrideW, q.PadW, q.DilW, q.CeilMode)
		gy := g.Normal(0, 1, Float64, n, c, oh, ow)
		for _, isMax := range []bool{true, false} {
			wantY, wantIdx, wantDX := poolRef64(x.Float64s(), gy.Float64s(), n, c, h, w, p, isMax)
			for _, dev := range []Device{CPU, plainDevice{}} {
				for _, dt := range []DType{Float64, Float32} {
					tol := 1e-12
					if dt == Float32 {
						tol = 1e-6
					}
					for _, str := range []bool{false, true} {
						what := fmt.Sprintf("%+v max=%v on %s, %v, strided %v", p, isMax, dev.Name(), dt, str)
						xt, gt := x.Cast(dt).To(dev), gy.Cast(dt).To(dev)
						if str {
							xt, gt = strided(xt), strided(gt)
						}
						if isMax {
							y, idx := MaxPool2d(xt, p)
							requireClose(t, wantY, y, tol, what)
							require.Equal(t, Int32, idx.DType())
							require.Equal(t, wantIdx, ToSlice[int32](idx), what)
							requireClose(t, wantDX, MaxPool2dBackward(gt, idx, xt.Shape(), p), tol, what+": backward")
							requireClose(t, wantDX, MaxPool2dBackward(gt, idx.Cast(Int64), xt.Shape(), p), tol, what+": backward, int64 indices")
						} else {
							requireClose(t, wantY, AvgPool2d(xt, p), tol, what)
							requireClose(t, wantDX, AvgPool2dBackward(gt, xt.Shape(), p), tol, what+": backward")
						}
					}
				}
			}
		}
	}
}

// The first maximum of a window wins, on every path.
func TestMaxPool2dTies(t *testing.T) {
	for _, dev := range []Device{CPU, plainDevice{}} {
		for _, p := range []ConvParams{{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, {KH: 3, KW: 3, StrideH: 1, StrideW: 1, PadH: 1, PadW: 1}} {
			x := Ones(Float32, 1, 1, 4, 4).To(dev)
			_, idx := MaxPool2d(x, p)
			q := p.norm("test")
			oh, ow := q.OutSize(4, 4)
			var want []int32
			for oy := range oh {
				for ox := range ow {
					want = append(want, int32(max(0, oy*q.StrideH-q.PadH)*4+max(0, ox*q.StrideW-q.PadW)))
				}
			}
			require.Equal(t, want, ToSlice[int32](idx), "%+v on %s", p, dev.Name())
		}
	}
}

func TestPoolMisuse(t *testing.T) {
	x := Ones(Float32, 1, 1, 4, 4)
	// The pooling options are not convolution options.
	require.Panics(t, func() { Conv2d(x, Ones(Float32, 1, 1, 2, 2), nil, ConvParams{CeilMode: true}, 1) })
	require.Panics(t, func() { Im2Col(x, ConvParams{KH: 2, KW: 2, ExcludePad: true}) })
	// Without padding counted, a window of padding only has no divisor.
	require.Panics(t, func() { AvgPool2d(x, ConvParams{KH: 1, KW: 1, PadH: 1, ExcludePad: true}) })
	require.NotPanics(t, func() { AvgPool2d(x, ConvParams{KH: 1, KW: 1, PadH: 1}) })
	// Windows of padding only have no maximum.
	require.Panics(t, func() { MaxPool2d(x, ConvParams{KH: 1, KW: 1, PadH: 1}) })
	require.Panics(t, func() { MaxPool2d(Ones(Int64, 1, 1, 4, 4), ConvParams{KH: 2, KW: 2}) })
	require.Panics(t, func() { AvgPool2d(x.Reshape(4, 4), ConvParams{KH: 2, KW: 2}) })
	_, idx := MaxPool2d(x, ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
	require.Panics(t, func() {
		MaxPool2dBackward(Ones(Float32, 1, 1, 3, 3), idx, x.Shape(), ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
	})
	require.Panics(t, func() {
		AvgPool2dBackward(Ones(Float32, 1, 1, 3, 3), x.Shape(), ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2})
	})
}

// requireSameNonFinite compares got with want where want is finite and
// requires Inf (with its sign) and NaN exactly where want has them.
func requireSameNonFinite(t *testing.T, want []float64, got *Tensor, what string) {
	t.Helper()
	g := got.Float64s()
	for i, w := range want {
		switch {
		case math.IsNaN(w):
			require.True(t, math.IsNaN(g[i]), "%s: element %d is %v, want NaN", what, i, g[i])
		case math.IsInf(w, 0):
			require.Equal(t, w, g[i], "%s: element %d", what, i)
		default:
			require.InDelta(t, w, g[i], 1e-9*(1+math.Abs(w)), "%s: element %d", what, i)
		}
	}
}

// An Inf in the input (weight gradient) or a NaN in the weights (input
// gradient) reaches exactly the entries it reaches in the direct loops:
// the dropped columns of the wide layout do not spread it.
func TestConv2dNonFinite(t *testing.T) {
	g := NewGenerator(9)
	tc := convCase{9, 8, 5, 5, 6, 3, 3, 1, ConvParams{}}
	x := g.Normal(0, 1, Float64, tc.n, tc.c, tc.h, tc.w)
	w := g.Normal(0, 1, Float64, tc.o, tc.c, tc.kh, tc.kw)
	b := g.Normal(0, 1, Float64, tc.o)
	gy := g.Normal(0, 1, Float64, tc.n, tc.o, 3, 3)
	xs, ws := x.Float64s(), w.Float64s()
	xs[(2*tc.c+3)*25+2*5+4] = math.Inf(1) // image 2, channel 3, row 2, last column
	ws[(4*tc.c+5)*9+4] = math.NaN()
	x, w = FromSlice(xs, x.Shape()...), FromSlice(ws, w.Shape()...)
	_, wantDX, wantDW, _ := convRef64(tc, xs, ws, b.Float64s(), gy.Float64s())
	dw, _ := Conv2dBackwardWeight(x, gy, w.Shape(), tc.p, 1, true)
	requireSameNonFinite(t, wantDW, dw, "weight gradient")
	requireSameNonFinite(t, wantDX, Conv2dBackwardInput(gy, w, x.Shape(), tc.p, 1), "input gradient")
	dx, dw2, _ := Conv2dBackward(x, gy, w, tc.p, 1, true)
	requireSameNonFinite(t, wantDX, dx, "both gradients, input")
	requireSameNonFinite(t, wantDW, dw2, "both gradients, weight")
}

// Indices outside their 2x2 windows (not from MaxPool2d) still scatter
// correctly on the CPU's one-pass 2x2 path.
func TestMaxPool2dBackwardForeignIndices(t *testing.T) {
	p := ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	gy := NewGenerator(11).Normal(0, 1, Float64, 1, 2, 2, 2)
	idx := FromSlice([]int32{0, 0, 24, 5, 1, 2, 3, 4}, 1, 2, 2, 2)
	want := make([]float64, 2*5*5)
	for i, v := range gy.Float64s() {
		want[i/4*25+int(ToSlice[int32](idx)[i])] += v
	}
	requireClose(t, want, MaxPool2dBackward(gy, idx, []int{1, 2, 5, 5}, p), 1e-12, "foreign indices")
}
