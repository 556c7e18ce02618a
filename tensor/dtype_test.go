package tensor_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// refRound rounds x once, to nearest even, into a binary format with p
// significand bits and normal exponents emin..emax (subnormals below,
// ±Inf beyond the largest finite value).
func refRound(x float64, p, emin, emax int) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	_, e := math.Frexp(x)
	exp := max(e-1, emin)
	if e-1 > emax {
		return math.Copysign(math.Inf(1), x)
	}
	q := math.Ldexp(1, exp-(p-1))
	r := math.RoundToEven(x/q) * q
	if math.Abs(r) > math.Ldexp(2-math.Ldexp(1, 1-p), emax) {
		return math.Copysign(math.Inf(1), x)
	}
	return r
}

func refF16(x float64) float64  { return refRound(x, 11, -14, 15) }
func refBF16(x float64) float64 { return refRound(x, 8, -126, 127) }

func TestFloat16KnownBits(t *testing.T) {
	cases := []struct {
		f    float32
		bits uint16
	}{
		{0, 0x0000}, {float32(math.Copysign(0, -1)), 0x8000}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800},
		{65504, 0x7bff}, {65519, 0x7bff}, {65520, 0x7c00}, {-65520, 0xfc00}, {1e6, 0x7c00},
		{1.0 / 3, 0x3555}, {0.1, 0x2e66}, {3.140625, 0x4248},
		{0x1p-14, 0x0400}, {0x1p-24, 0x0001}, {0x1.ff8p-15, 0x03ff}, // smallest normal, smallest and largest subnormal
		{0x1p-25, 0x0000}, {0x1.8p-25, 0x0001}, {0x1p-26, 0x0000}, {0x1.8p-24, 0x0002}, {0x1.4p-23, 0x0002}, // subnormal ties and near-ties
		{1 + 0x1p-11, 0x3c00}, {1 + 3*0x1p-11, 0x3c02}, {1 + 0x1p-11 + 0x1p-20, 0x3c01}, // ties to even
		{2048 + 1, 0x6800}, {2048 + 3, 0x6802}, // integers at a tie
		{0x1.ffep-15, 0x0400}, // rounds up from the subnormal range into the smallest normal
		{float32(math.Inf(1)), 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
	}
	for _, c := range cases {
		assert.Equal(t, c.bits, tensor.Float32ToFloat16(c.f), "f16(%g)", c.f)
		if c.bits&0x7fff != 0x7c00 && !(c.bits == 0 && c.f != 0) {
			// the bits decode to the rounded value
			assert.Equal(t, float32(refF16(float64(c.f))), tensor.Float16ToFloat32(c.bits), "f16 bits %#04x", c.bits)
		}
	}
	nan := tensor.Float32ToFloat16(float32(math.NaN()))
	assert.Equal(t, uint16(0x7c00), nan&0x7c00)
	assert.NotZero(t, nan&0x03ff, "NaN stays NaN")
	assert.True(t, math.IsNaN(float64(tensor.Float16ToFloat32(0x7e00))))
	assert.True(t, math.IsNaN(float64(tensor.Float16ToFloat32(0xfc01))))
}

func TestBFloat16KnownBits(t *testing.T) {
	cases := []struct {
		f    float32
		bits uint16
	}{
		{0, 0x0000}, {1, 0x3f80}, {-1, 0xbf80}, {2, 0x4000}, {1.0 / 3, 0x3eab},
		{1.00390625, 0x3f80},                   // 1 + 2^-8: a tie, to even
		{1.01171875, 0x3f82},                   // 1 + 3·2^-8: a tie, to even (up)
		{1 + 0x1p-8 + 0x1p-20, 0x3f81},         // just above the tie
		{3.3895313892515355e38, 0x7f7f},        // largest finite
		{math.MaxFloat32, 0x7f80},              // rounds to Inf
		{0x1p-133, 0x0001}, {0x1p-126, 0x0080}, // subnormal, smallest normal
		{0x1p-149, 0x0000}, // far below half the smallest subnormal
		{float32(math.Inf(-1)), 0xff80},
	}
	for _, c := range cases {
		assert.Equal(t, c.bits, tensor.Float32ToBFloat16(c.f), "bf16(%g)", c.f)
	}
	nan := tensor.Float32ToBFloat16(float32(math.NaN()))
	assert.True(t, math.IsNaN(float64(tensor.BFloat16ToFloat32(nan))), "NaN stays NaN, got %#04x", nan)
	// a NaN whose payload lies only in the low bits must not become Inf
	lowNaN := math.Float32frombits(0x7f800001)
	assert.True(t, math.IsNaN(float64(tensor.BFloat16ToFloat32(tensor.Float32ToBFloat16(lowNaN)))))
}

func TestFloat16RoundTripAllBits(t *testing.T) {
	for h := range 1 << 16 {
		f := tensor.Float16ToFloat32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		require.Equal(t, uint16(h), tensor.Float32ToFloat16(f), "f16 %#04x -> %g -> back", h, f)
		b := tensor.BFloat16ToFloat32(uint16(h))
		if !math.IsNaN(float64(b)) {
			require.Equal(t, uint16(h), tensor.Float32ToBFloat16(b), "bf16 %#04x", h)
		}
	}
}

func TestHalfConversionsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(f float32) {
		if math.IsNaN(float64(f)) {
			return
		}
		want16 := refF16(float64(f))
		got16 := float64(tensor.Float16ToFloat32(tensor.Float32ToFloat16(f)))
		if got16 != want16 || math.Signbit(got16) != math.Signbit(want16) {
			t.Fatalf("f16(%g = %#08x): got %g, want %g", f, math.Float32bits(f), got16, want16)
		}
		wantB := refBF16(float64(f))
		gotB := float64(tensor.BFloat16ToFloat32(tensor.Float32ToBFloat16(f)))
		if gotB != wantB || math.Signbit(gotB) != math.Signbit(wantB) {
			t.Fatalf("bf16(%g = %#08x): got %g, want %g", f, math.Float32bits(f), gotB, wantB)
		}
	}
	for range 300000 {
		check(math.Float32frombits(rng.Uint32())) // every exponent
	}
	for range 300000 {
		// the half range, where rounding decides
		check(float32(math.Ldexp(rng.Float64()+0.5, rng.IntN(44)-27)) * float32(1-2*rng.IntN(2)))
	}
	// every tie and near-tie around a sample of half values
	for h := range 1 << 15 {
		if h%7 != 0 {
			continue
		}
		f := tensor.Float16ToFloat32(uint16(h))
		g := tensor.Float16ToFloat32(uint16(h + 1))
		if math.IsInf(float64(g), 0) || math.IsNaN(float64(g)) {
			continue
		}
		mid := float32((float64(f) + float64(g)) / 2)
		check(mid)
		check(math.Nextafter32(mid, 0))
		check(math.Nextafter32(mid, 1e9))
	}
}

func TestCastRoundsOnce(t *testing.T) {
	// float64 -> 16-bit floats: rounding through float32 would give 1.0 here.
	x := tensor.FromSlice([]float64{1 + 0x1p-11 + 0x1p-40, 1 + 0x1p-8 + 0x1p-30, 65519.99, 65520})
	assert.Equal(t, []float64{1 + 0x1p-10, 1 + 0x1p-8, 65504, math.Inf(1)}, x.Cast(tensor.Float16).Float64s())
	assert.Equal(t, []float64{1, 1.0078125, 65536, 65536}, x.Cast(tensor.BFloat16).Float64s())
	// Full and Set round once too
	assert.Equal(t, 1+0x1p-10, tensor.Full(1+0x1p-11+0x1p-40, tensor.Float16).Item())
	// integers beyond 2^24 into bfloat16, beyond 2^53 into float32
	i := tensor.FromSlice([]int64{1<<24 + 1<<16 + 1, 1<<62 + 1<<38 + 1})
	assert.Equal(t, []float64{1<<24 + 1<<17, 1 << 62}, i.Cast(tensor.BFloat16).Float64s())
	assert.Equal(t, []float64{1<<24 + 1<<16, 1<<62 + 1<<39}, i.Cast(tensor.Float32).Float64s())
	// float -> int truncates toward zero; -> bool is "non-zero"
	f := tensor.FromSlice([]float32{-2.7, -0.5, 0.5, 2.7, 0, float32(math.NaN())})
	assert.Equal(t, []int64{-2, 0, 0, 2, 0}, f.Narrow(0, 0, 5).Int64s())
	assert.Equal(t, []bool{true, true, true, true, false, true}, f.Bools())
	// bool -> numbers is 0/1
	b := tensor.FromSlice([]bool{true, false})
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16, tensor.Float16, tensor.Int32, tensor.Int64} {
		assert.Equal(t, []float64{1, 0}, b.Cast(dt).Float64s(), dt.String())
	}
}

func TestDTypeProperties(t *testing.T) {
	sizes := map[tensor.DType]int{tensor.Float32: 4, tensor.Float64: 8, tensor.BFloat16: 2, tensor.Float16: 2, tensor.Int32: 4, tensor.Int64: 8, tensor.Bool: 1}
	for dt, size := range sizes {
		assert.Equal(t, size, dt.Size())
		p, err := tensor.ParseDType(dt.String())
		require.NoError(t, err)
		assert.Equal(t, dt, p)
		assert.Equal(t, dt <= tensor.Float16, dt.IsFloat())
		assert.Equal(t, dt == tensor.Int32 || dt == tensor.Int64, dt.IsInt())
	}
	_, err := tensor.ParseDType("complex64")
	assert.Error(t, err)
	assert.Equal(t, "DType(99)", tensor.DType(99).String())
	assert.Error(t, tensor.Try(func() { tensor.DType(99).Size() }))
	assert.Equal(t, tensor.Float32, tensor.DTypeOf[float32]())
	assert.Equal(t, tensor.Int64, tensor.DTypeOf[int64]())
	assert.Equal(t, tensor.Bool, tensor.DTypeOf[bool]())
}

func TestTypePromotion(t *testing.T) {
	mk := func(dt tensor.DType) *tensor.Tensor { return tensor.Ones(dt, 2) }
	cases := []struct{ a, b, want tensor.DType }{
		{tensor.Int32, tensor.Int64, tensor.Int64},
		{tensor.Int64, tensor.Float16, tensor.Float16},
		{tensor.BFloat16, tensor.Float16, tensor.Float32},
		{tensor.Float32, tensor.Float64, tensor.Float64},
		{tensor.Bool, tensor.Int32, tensor.Int32},
		{tensor.BFloat16, tensor.Float32, tensor.Float32},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, tensor.Add(mk(c.a), mk(c.b)).DType(), "%v + %v", c.a, c.b)
		assert.Equal(t, c.want, tensor.Add(mk(c.b), mk(c.a)).DType(), "%v + %v", c.b, c.a)
	}
	// true division and float functions of integers give float32
	assert.Equal(t, tensor.Float32, tensor.Div(mk(tensor.Int64), mk(tensor.Int64)).DType())
	assert.Equal(t, []float32{2.5}, tensor.Div(tensor.FromSlice([]int64{5}), tensor.FromSlice([]int64{2})).Float32s())
	assert.Equal(t, tensor.Float32, tensor.Exp(mk(tensor.Int32)).DType())
	assert.Equal(t, tensor.Float32, tensor.Mean(mk(tensor.Int64), false).DType())
	// comparisons and logical ops give bool; integer sums int64
	assert.Equal(t, tensor.Bool, tensor.Lt(mk(tensor.Float16), mk(tensor.Int32)).DType())
	assert.Equal(t, tensor.Bool, tensor.LogicalAnd(mk(tensor.Float32), mk(tensor.Int32)).DType())
	assert.Equal(t, tensor.Int64, tensor.Sum(mk(tensor.Int32), false).DType())
	assert.Equal(t, tensor.Int64, tensor.Sum(mk(tensor.Bool), false).DType())
	assert.Equal(t, tensor.BFloat16, tensor.Sum(mk(tensor.BFloat16), false).DType())
	// scalars keep the tensor's dtype unless they need a float
	assert.Equal(t, tensor.Int64, tensor.AddScalar(mk(tensor.Int64), 2).DType())
	assert.Equal(t, tensor.Float32, tensor.AddScalar(mk(tensor.Int64), 0.5).DType())
	assert.Equal(t, tensor.Float16, tensor.MulScalar(mk(tensor.Float16), 3).DType())
}
