package cuda

import (
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func emuRand(rng *rand.Rand, n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = (rng.Float32()*2 - 1) * scale
	}
	return x
}

func TestEmuElementwiseBroadcastStrided(t *testing.T) {
	e := emu(t)
	rng := rand.New(rand.NewSource(1))
	const R, C = 5, 7
	a, b := emuRand(rng, R*C, 2), emuRand(rng, C, 2)
	pa, pb := emuUpload(t, e, a), emuUpload(t, e, b)
	out := emuZeros(t, e, 4*R*C)
	for _, op := range []struct {
		name string
		f    func(x, y float32) float32
	}{
		{"add", func(x, y float32) float32 { return x + y }},
		{"sub", func(x, y float32) float32 { return x - y }},
		{"mul", func(x, y float32) float32 { return x * y }},
		{"div", func(x, y float32) float32 { return x / y }},
		{"maximum", func(x, y float32) float32 { return float32(math.Max(float64(x), float64(y))) }},
		{"lt", func(x, y float32) float32 {
			if x < y {
				return 1
			}
			return 0
		}},
	} {
		d := Strided{Shape: []int64{R, C}, Strides: [3][]int64{{C, 1}, {C, 1}, {0, 1}}}
		emuLaunch(t, e, BinaryKernel(op.name, F32), int64(R*C), d, pa, pb, out)
		got := emuDownload[float32](t, e, out, R*C)
		for i := 0; i < R; i++ {
			for j := 0; j < C; j++ {
				require.Equal(t, op.f(a[i*C+j], b[j]), got[i*C+j], "%s (%d,%d)", op.name, i, j)
			}
		}
	}
	// Transposed read, 1-D fast path, scalar broadcast.
	tdesc := Strided{Shape: []int64{C, R}, Strides: [3][]int64{{R, 1}, {1, C}, {0, 0}}}
	emuLaunch(t, e, UnaryKernel("neg", F32), int64(R*C), tdesc, pa, out)
	got := emuDownload[float32](t, e, out, R*C)
	for i := 0; i < R; i++ {
		for j := 0; j < C; j++ {
			require.Equal(t, -a[i*C+j], got[j*R+i])
		}
	}
	s := emuUpload(t, e, []float32{3})
	flat := Strided{Shape: []int64{R * C}, Strides: [3][]int64{{1}, {1}, {0}}}
	emuLaunch(t, e, BinaryKernel("mul", F32), int64(R*C), flat, pa, s, out)
	got = emuDownload[float32](t, e, out, R*C)
	for i := range a {
		require.Equal(t, a[i]*3, got[i])
	}
	// Unary ops vs float64 math (float32 libm: 4 ulp).
	x := emuRand(rng, 64, 3)
	for i := range x {
		x[i] = float32(math.Abs(float64(x[i]))) + 0.1
	}
	px := emuUpload(t, e, x)
	out64 := emuZeros(t, e, 4*len(x))
	for _, u := range []struct {
		name string
		f    func(float64) float64
	}{
		{"exp", math.Exp}, {"log", math.Log}, {"sqrt", math.Sqrt}, {"rsqrt", func(v float64) float64 { return 1 / math.Sqrt(v) }},
		{"tanh", math.Tanh}, {"sigmoid", func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{"gelu", func(v float64) float64 { return 0.5 * v * (1 + math.Erf(v/math.Sqrt2)) }},
		{"silu", func(v float64) float64 { return v / (1 + math.Exp(-v)) }},
		{"log1p", math.Log1p}, {"expm1", math.Expm1}, {"square", func(v float64) float64 { return v * v }},
		{"recip", func(v float64) float64 { return 1 / v }}, {"floor", math.Floor}, {"relu", func(v float64) float64 { return math.Max(v, 0) }},
	} {
		emuLaunch(t, e, UnaryKernel(u.name, F32), int64(len(x)), Strided{Shape: []int64{64}, Strides: [3][]int64{{1}, {1}, {0}}}, px, out64)
		got := emuDownload[float32](t, e, out64, len(x))
		for i, v := range x {
			want := u.f(float64(v))
			require.InDelta(t, want, float64(got[i]), 5e-7*math.Abs(want)+1e-7, "%s(%g)", u.name, v)
		}
	}
}

func TestEmuCastsAllPairs(t *testing.T) {
	e := emu(t)
	vals := []float64{0, 1, -1, 2.5, -2.5, 3.5, 1e-3, 65504, 70000, -1e10, 1234567.875, 0.1}
	enc := map[DType]func(float64) []byte{
		F32:  func(v float64) []byte { return AsBytes([]float32{float32(v)}) },
		F64:  func(v float64) []byte { return AsBytes([]float64{v}) },
		F16:  func(v float64) []byte { return AsBytes([]uint16{refF16(v)}) },
		BF16: func(v float64) []byte { return AsBytes([]uint16{refBF16(v)}) },
		I32:  func(v float64) []byte { return AsBytes([]int32{int32(clampF(v, math.MinInt32, math.MaxInt32))}) },
		I64:  func(v float64) []byte { return AsBytes([]int64{satI64(v)}) },
	}
	dec := map[DType]func([]byte) float64{
		F32:  func(b []byte) float64 { return float64(math.Float32frombits(le32(b))) },
		F64:  func(b []byte) float64 { return math.Float64frombits(le64(b)) },
		F16:  func(b []byte) float64 { return float64(refF16ToF32(uint16(le16(b)))) },
		BF16: func(b []byte) float64 { return float64(math.Float32frombits(uint32(le16(b)) << 16)) },
		I32:  func(b []byte) float64 { return float64(int32(le32(b))) },
		I64:  func(b []byte) float64 { return float64(int64(le64(b))) },
	}
	size := map[DType]int{F32: 4, F64: 8, F16: 2, BF16: 2, I32: 4, I64: 8}
	for _, from := range AllDTypes {
		var src []byte
		var in []float64
		for _, v := range vals {
			b := enc[from](v)
			src = append(src, b...)
			in = append(in, dec[from](b)) // the value as stored in the source type
		}
		ps := emuUpload(t, e, src)
		for _, to := range AllDTypes {
			out := emuZeros(t, e, size[to]*len(vals))
			d := Strided{Shape: []int64{int64(len(vals))}, Strides: [3][]int64{{1}, {1}, {0}}}
			emuLaunch(t, e, CastKernel(from, to), int64(len(vals)), d, ps, out)
			got := emuDownload[byte](t, e, out, size[to]*len(vals))
			for i, v := range in {
				b := got[i*size[to] : (i+1)*size[to]]
				var want []byte
				switch to {
				case I32:
					if from == I64 { // integer narrowing wraps, as C and PyTorch do
						want = AsBytes([]int32{int32(int64(v))})
					} else {
						want = AsBytes([]int32{int32(clampF(math.Trunc(v), math.MinInt32, math.MaxInt32))})
					}
				case I64:
					want = AsBytes([]int64{satI64(math.Trunc(v))})
				default:
					want = enc[to](v) // one correct rounding from the exact source value
				}
				require.Equal(t, want, b, "cast %s->%s of %g", from, to, v)
			}
		}
	}
}

func clampF(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// satI64 is the kernels' float -> int64 conversion: truncate, saturate,
// NaN -> 0 (Go's int64(x) is unspecified out of range).
func satI64(v float64) int64 {
	switch {
	case v != v:
		return 0
	case v >= 0x1p63:
		return math.MaxInt64
	case v <= -0x1p63:
		return math.MinInt64
	}
	return int64(v)
}
func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
func le64(b []byte) uint64 { return uint64(le32(b)) | uint64(le32(b[4:]))<<32 }

func TestEmuRowKernels(t *testing.T) {
	e := emu(t)
	rng := rand.New(rand.NewSource(2))
	const R, C = 4, 9
	x := emuRand(rng, R*C, 3)
	px := emuUpload(t, e, x)
	out := emuZeros(t, e, 8*R*C)
	row := func(r int) []float32 { return x[r*C : (r+1)*C] }

	for _, op := range []struct {
		name string
		f    func([]float32) float64
	}{
		{"sum", func(v []float32) float64 {
			s := 0.0
			for _, e := range v {
				s += float64(e)
			}
			return s / C
		}},
		{"max", func(v []float32) float64 {
			m := math.Inf(-1)
			for _, e := range v {
				m = math.Max(m, float64(e))
			}
			return m / C
		}},
		{"prod", func(v []float32) float64 {
			p := 1.0
			for _, e := range v {
				p *= float64(e)
			}
			return p / C
		}},
	} {
		emuLaunch(t, e, ReduceKernel(op.name, F32), int64(R), int64(C), px, out, float32(1.0/C))
		got := emuDownload[float32](t, e, out, R)
		for r := 0; r < R; r++ {
			assert.InDelta(t, op.f(row(r)), float64(got[r]), 1e-5*math.Max(1, math.Abs(op.f(row(r)))), "%s row %d", op.name, r)
		}
	}

	lse := func(v []float32) float64 {
		m := math.Inf(-1)
		for _, e := range v {
			m = math.Max(m, float64(e))
		}
		s := 0.0
		for _, e := range v {
			s += math.Exp(float64(e) - m)
		}
		return m + math.Log(s)
	}
	emuLaunch(t, e, RowKernel("softmax", F32), int64(R), int64(C), px, out)
	sm := emuDownload[float32](t, e, out, R*C)
	emuLaunch(t, e, RowKernel("log_softmax", F32), int64(R), int64(C), px, out)
	lsm := emuDownload[float32](t, e, out, R*C)
	for r := 0; r < R; r++ {
		l := lse(row(r))
		for c, v := range row(r) {
			assert.InDelta(t, math.Exp(float64(v)-l), float64(sm[r*C+c]), 1e-6)
			assert.InDelta(t, float64(v)-l, float64(lsm[r*C+c]), 1e-5)
		}
	}
	// Backward passes vs the closed forms.
	dy := emuRand(rng, R*C, 1)
	pdy := emuUpload(t, e, dy)
	psm, plsm := emuUpload(t, e, sm), emuUpload(t, e, lsm)
	emuLaunch(t, e, RowKernel("softmax_bwd", F32), int64(R), int64(C), psm, pdy, out)
	dsm := emuDownload[float32](t, e, out, R*C)
	emuLaunch(t, e, RowKernel("log_softmax_bwd", F32), int64(R), int64(C), plsm, pdy, out)
	dlsm := emuDownload[float32](t, e, out, R*C)
	for r := 0; r < R; r++ {
		s1, s2 := 0.0, 0.0
		for c := 0; c < C; c++ {
			s1 += float64(dy[r*C+c]) * float64(sm[r*C+c])
			s2 += float64(dy[r*C+c])
		}
		for c := 0; c < C; c++ {
			i := r*C + c
			assert.InDelta(t, float64(sm[i])*(float64(dy[i])-s1), float64(dsm[i]), 1e-6)
			assert.InDelta(t, float64(dy[i])-math.Exp(float64(lsm[i]))*s2, float64(dlsm[i]), 1e-5)
		}
	}

	// Layer norm forward and backward (float64 kernels vs central finite
	// differences of the float64 forward).
	x64 := make([]float64, R*C)
	for i := range x64 {
		x64[i] = float64(x[i])
	}
	g64, b64 := make([]float64, C), make([]float64, C)
	for i := range g64 {
		g64[i], b64[i] = 1+0.1*float64(i), 0.01*float64(i)
	}
	lnRef := func(xs []float64) []float64 {
		y := make([]float64, len(xs))
		for r := 0; r < R; r++ {
			mu, v := 0.0, 0.0
			for c := 0; c < C; c++ {
				mu += xs[r*C+c]
			}
			mu /= C
			for c := 0; c < C; c++ {
				v += (xs[r*C+c] - mu) * (xs[r*C+c] - mu)
			}
			rs := 1 / math.Sqrt(v/C+1e-5)
			for c := 0; c < C; c++ {
				y[r*C+c] = (xs[r*C+c]-mu)*rs*g64[c] + b64[c]
			}
		}
		return y
	}
	px64, pg, pb := emuUpload(t, e, x64), emuUpload(t, e, g64), emuUpload(t, e, b64)
	mean, rstd, y := emuZeros(t, e, 8*R), emuZeros(t, e, 8*R), emuZeros(t, e, 8*R*C)
	emuLaunch(t, e, RowKernel("layernorm_fwd", F64), int64(R), int64(C), px64, pg, pb, float64(1e-5), y, mean, rstd)
	gy := emuDownload[float64](t, e, y, R*C)
	want := lnRef(x64)
	for i := range want {
		require.InDelta(t, want[i], gy[i], 1e-12)
	}
	dy64 := make([]float64, R*C)
	for i := range dy64 {
		dy64[i] = float64(dy[i])
	}
	pdy64 := emuUpload(t, e, dy64)
	dx, dg, db := emuZeros(t, e, 8*R*C), emuZeros(t, e, 8*C), emuZeros(t, e, 8*C)
	emuLaunch(t, e, RowKernel("layernorm_bwd_dx", F64), int64(R), int64(C), pdy64, px64, mean, rstd, pg, dx)
	emuLaunch(t, e, RowKernel("layernorm_bwd_dgamma", F64), int64(R), int64(C), pdy64, px64, mean, rstd, dg, db)
	gdx, gdg, gdb := emuDownload[float64](t, e, dx, R*C), emuDownload[float64](t, e, dg, C), emuDownload[float64](t, e, db, C)
	loss := func(xs []float64) float64 {
		s := 0.0
		for i, v := range lnRef(xs) {
			s += v * dy64[i]
		}
		return s
	}
	const h = 1e-6
	for i := range x64 {
		xp, xm := append([]float64(nil), x64...), append([]float64(nil), x64...)
		xp[i] += h
		xm[i] -= h
		require.InDelta(t, (loss(xp)-loss(xm))/(2*h), gdx[i], 1e-6, "dx[%d]", i)
	}
	for c := 0; c < C; c++ {
		g0 := g64[c]
		g64[c] = g0 + h
		lp := loss(x64)
		g64[c] = g0 - h
		lm := loss(x64)
		g64[c] = g0
		require.InDelta(t, (lp-lm)/(2*h), gdg[c], 1e-6, "dgamma[%d]", c)
		sb := 0.0
		for r := 0; r < R; r++ {
			sb += dy64[r*C+c]
		}
		require.InDelta(t, sb, gdb[c], 1e-12, "dbeta[%d]", c)
	}

	// Cross-entropy forward/backward (float64) vs log-softmax + NLL.
	tgt := []int64{2, -100, 0, 8}
	pt := emuUpload(t, e, tgt)
	ploss, plse, dlog := emuZeros(t, e, 8*R), emuZeros(t, e, 8*R), emuZeros(t, e, 8*R*C)
	emuLaunch(t, e, RowKernel("cross_entropy_fwd", F64), int64(R), int64(C), px64, pt, int64(-100), ploss, plse)
	gl := emuDownload[float64](t, e, ploss, R)
	dloss := emuUpload(t, e, []float64{1, 1, 0.5, 2})
	emuLaunch(t, e, RowKernel("cross_entropy_bwd", F64), int64(R), int64(C), px64, pt, int64(-100), plse, dloss, dlog)
	gd := emuDownload[float64](t, e, dlog, R*C)
	for r := 0; r < R; r++ {
		l := lse(row(r))
		w := []float64{1, 1, 0.5, 2}[r]
		if tgt[r] == -100 {
			assert.Zero(t, gl[r])
			for c := 0; c < C; c++ {
				assert.Zero(t, gd[r*C+c])
			}
			continue
		}
		assert.InDelta(t, l-x64[r*C+int(tgt[r])], gl[r], 1e-6)
		for c := 0; c < C; c++ {
			p := math.Exp(x64[r*C+c] - l)
			if int64(c) == tgt[r] {
				p--
			}
			assert.InDelta(t, w*p, gd[r*C+c], 1e-6)
		}
	}
}

func TestEmuIndexConvOptimRandom(t *testing.T) {
	e := emu(t)
	rng := rand.New(rand.NewSource(3))
	// torch.gather along dim 1 of [2, 5, 3] with per-element indices [2, 4, 3].
	const O, S, J, I = 2, 5, 4, 3
	src := emuRand(rng, O*S*I, 1)
	idx := make([]int64, O*J*I)
	for i := range idx {
		idx[i] = int64(rng.Intn(S))
	}
	idx[5] = 99 // out of range: skipped, error flag set
	ps, pi := emuUpload(t, e, src), emuUpload(t, e, idx)
	out, perr := emuZeros(t, e, 4*O*J*I), emuZeros(t, e, 4)
	emuLaunch(t, e, RowKernel("gather", F32), int64(O), int64(S), int64(J), int64(I), ps, pi, int64(J*I), int64(I), int64(1), out, perr)
	got := emuDownload[float32](t, e, out, O*J*I)
	for o := 0; o < O; o++ {
		for j := 0; j < J; j++ {
			for k := 0; k < I; k++ {
				n := (o*J+j)*I + k
				if n == 5 {
					assert.Zero(t, got[n])
					continue
				}
				assert.Equal(t, src[(o*S+int(idx[n]))*I+k], got[n])
			}
		}
	}
	assert.Equal(t, []int32{1}, emuDownload[int32](t, e, perr, 1))
	upd := emuRand(rng, O*J*I, 1)
	dst := emuZeros(t, e, 4*O*S*I)
	emuLaunch(t, e, RowKernel("scatter_add", F32), int64(O), int64(S), int64(J), int64(I), emuUpload(t, e, upd), pi,
		int64(J*I), int64(I), int64(1), dst, DevicePtr(0))
	gd := emuDownload[float32](t, e, dst, O*S*I)
	wantD := make([]float32, O*S*I)
	for o := 0; o < O; o++ {
		for j := 0; j < J; j++ {
			for k := 0; k < I; k++ {
				n := (o*J+j)*I + k
				if n != 5 {
					wantD[(o*S+int(idx[n]))*I+k] += upd[n]
				}
			}
		}
	}
	assert.InDeltaSlice(t, wantD, gd, 1e-6)

	// im2col with stride, padding and dilation vs a direct loop; col2im is
	// its adjoint.
	const N, Ch, H, W, KH, KW, SH, SW, PH, PW, DH, DW = 2, 2, 6, 5, 3, 2, 2, 1, 1, 0, 1, 2
	OH, OW := (H+2*PH-DH*(KH-1)-1)/SH+1, (W+2*PW-DW*(KW-1)-1)/SW+1
	img := emuRand(rng, N*Ch*H*W, 1)
	pimg := emuUpload(t, e, img)
	ncol := N * Ch * KH * KW * OH * OW
	col := emuZeros(t, e, 4*ncol)
	geo := []any{int64(N), int64(Ch), int64(H), int64(W), int32(KH), int32(KW), int32(SH), int32(SW),
		int32(PH), int32(PW), int32(DH), int32(DW), int64(OH), int64(OW)}
	emuLaunch(t, e, RowKernel("im2col", F32), append(append([]any{}, geo...), pimg, col)...)
	gcol := emuDownload[float32](t, e, col, ncol)
	i := 0
	for b := 0; b < N; b++ {
		for c := 0; c < Ch; c++ {
			for ki := 0; ki < KH; ki++ {
				for kj := 0; kj < KW; kj++ {
					for y := 0; y < OH; y++ {
						for x := 0; x < OW; x++ {
							iy, ix := y*SH-PH+ki*DH, x*SW-PW+kj*DW
							var v float32
							if iy >= 0 && iy < H && ix >= 0 && ix < W {
								v = img[((b*Ch+c)*H+iy)*W+ix]
							}
							require.Equal(t, v, gcol[i])
							i++
						}
					}
				}
			}
		}
	}
	cv := emuRand(rng, ncol, 1)
	back := emuZeros(t, e, 4*len(img))
	emuLaunch(t, e, RowKernel("col2im", F32), append(append([]any{}, geo...), emuUpload(t, e, cv), back)...)
	gb := emuDownload[float32](t, e, back, len(img))
	lhs, rhs := 0.0, 0.0
	for i := range gcol {
		lhs += float64(gcol[i]) * float64(cv[i])
	}
	for i := range img {
		rhs += float64(img[i]) * float64(gb[i])
	}
	assert.InDelta(t, lhs, rhs, 1e-4)

	// Adam (L2) and AdamW (decoupled), float64 kernels vs the formula.
	const n = 50
	p, g, m, v := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i := 0; i < n; i++ {
		p[i], g[i], m[i], v[i] = rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()*0.1, rng.Float64()*0.1
	}
	for _, dec := range []int32{0, 1} {
		pp, pg, pm, pv := emuUpload(t, e, p), emuUpload(t, e, g), emuUpload(t, e, m), emuUpload(t, e, v)
		lr, b1, b2, eps, wd := 1e-2, 0.9, 0.999, 1e-8, 0.1
		bc1, bc2 := 1-math.Pow(b1, 3), 1-math.Pow(b2, 3)
		emuLaunch(t, e, RowKernel("adam", F64), int64(n), pp, pg, pm, pv, lr, b1, b2, eps, wd, bc1, bc2, dec)
		gp := emuDownload[float64](t, e, pp, n)
		for i := 0; i < n; i++ {
			pi, gi := p[i], g[i]
			if dec == 1 {
				pi -= lr * wd * pi
			} else {
				gi += wd * pi
			}
			mi := b1*m[i] + (1-b1)*gi
			vi := b2*v[i] + (1-b2)*gi*gi
			require.InDelta(t, pi-lr*(mi/bc1)/(math.Sqrt(vi/bc2)+eps), gp[i], 1e-12, "decoupled=%d", dec)
		}
	}

	// Philox fills (the stream of tensor/philox.go): uniform and Bernoulli
	// bit-exact, normal within 1 ulp of the Go reference.
	for _, off := range []uint64{77, 80, 3} { // offsets in words, not only multiples of 4
		const nr = 103
		seed := uint64(0xfeedface12345678)
		pr := emuZeros(t, e, 4*nr)
		emuLaunch(t, e, PhiloxKernel("uniform", F32), int64(nr), seed, off, -1.0, 1.0, pr)
		u := emuDownload[float32](t, e, pr, nr)
		for j := 0; j < nr; j++ {
			require.Equal(t, refUniformF32(seed, off, j, -1, 1), u[j], "uniform %d", j)
		}
		emuLaunch(t, e, PhiloxKernel("uniform", F32), int64(nr), seed, off, 1.0, 1+0x1p-30, pr)
		u = emuDownload[float32](t, e, pr, nr)
		for j := 0; j < nr; j++ {
			require.Equal(t, refUniformF32(seed, off, j, 1, 1+0x1p-30), u[j], "clamped uniform %d", j)
			require.Less(t, float64(u[j]), 1+0x1p-30)
		}
		emuLaunch(t, e, PhiloxKernel("normal", F32), int64(nr), seed, off, 0.5, 2.0, pr)
		z := emuDownload[float32](t, e, pr, nr)
		for j := 0; j < nr; j++ {
			w := refNormalF32(seed, off, j, 0.5, 2)
			require.LessOrEqual(t, math.Abs(float64(int64(math.Float32bits(w))-int64(math.Float32bits(z[j])))), 1.0, "normal %d", j)
		}
		emuLaunch(t, e, PhiloxKernel("bernoulli", F32), int64(nr), seed, off, 0.3, pr)
		bern := emuDownload[float32](t, e, pr, nr)
		for j := 0; j < nr; j++ {
			want := float32(0)
			if float64(refWord(seed, off+uint64(j))>>8)*0x1p-24 < 0.3 {
				want = 1
			}
			require.Equal(t, want, bern[j])
		}
		pbits := emuZeros(t, e, 4*9)
		emuLaunch(t, e, "tess_philox_bits", int64(9), seed, off, pbits)
		bits := emuDownload[uint32](t, e, pbits, 9)
		for i := 0; i < 9; i++ {
			require.Equal(t, refWord(seed, off+uint64(i)), bits[i])
		}
		// uniform f64: words off+2e (high) and off+2e+1 (low).
		pd := emuZeros(t, e, 8*5)
		emuLaunch(t, e, PhiloxKernel("uniform", F64), int64(5), seed, off, -2.0, 3.0, pd)
		ud := emuDownload[float64](t, e, pd, 5)
		pn := emuZeros(t, e, 8*5)
		emuLaunch(t, e, PhiloxKernel("normal", F64), int64(5), seed, off, 1.0, 3.0, pn)
		nd := emuDownload[float64](t, e, pn, 5)
		for j := 0; j < 5; j++ {
			h, l := refWord(seed, off+2*uint64(j)), refWord(seed, off+2*uint64(j)+1)
			u := float64((uint64(h)<<32|uint64(l))>>11) * 0x1p-53
			m := float64(u * 5)
			require.Equal(t, -2+m, ud[j])
			require.InDelta(t, 1+3*refNormalZ(seed, off, j), nd[j], 1e-14)
		}
	}
}

func TestEmuFillCopyWhereSGD(t *testing.T) {
	e := emu(t)
	out := emuZeros(t, e, 8*6)
	emuLaunch(t, e, FillKernel(I64), int64(6), int64(-7), out)
	assert.Equal(t, []int64{-7, -7, -7, -7, -7, -7}, emuDownload[int64](t, e, out, 6))
	src := emuUpload(t, e, []uint16{1, 2, 3, 4, 5, 6}) // [2,3] -> transposed copy
	dst := emuZeros(t, e, 12)
	emuLaunch(t, e, CopyKernel(BF16), int64(6), Strided{Shape: []int64{3, 2}, Strides: [3][]int64{{2, 1}, {1, 3}, {0, 0}}}, src, dst)
	assert.Equal(t, []uint16{1, 4, 2, 5, 3, 6}, emuDownload[uint16](t, e, dst, 6))

	cond := emuUpload(t, e, []uint8{1, 0, 0, 1})
	a, b := emuUpload(t, e, []float32{1, 2, 3, 4}), emuUpload(t, e, []float32{9})
	w := emuZeros(t, e, 16)
	emuLaunch(t, e, RowKernel("where", F32), int64(4), Strided{Shape: []int64{4}, Strides: [3][]int64{{1}, {1}, {0}}}, cond, a, b, w)
	assert.Equal(t, []float32{1, 9, 9, 4}, emuDownload[float32](t, e, w, 4))

	p, g, buf := emuUpload(t, e, []float32{1, 2}), emuUpload(t, e, []float32{0.5, -1}), emuZeros(t, e, 8)
	emuLaunch(t, e, RowKernel("sgd", F32), int64(2), p, g, buf, float32(0.1), float32(0.9), float32(0), int32(1))
	emuLaunch(t, e, RowKernel("sgd", F32), int64(2), p, g, buf, float32(0.1), float32(0.9), float32(0), int32(0))
	got := emuDownload[float32](t, e, p, 2)
	assert.InDeltaSlice(t, []float32{1 - 0.1*0.5 - 0.1*(0.9*0.5+0.5), 2 + 0.1 + 0.1*(0.9+1)}, got, 1e-6)
}
