package tensor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The fast conversions of the CPU loads and stores equal dtype.go's
// reference conversions bit for bit: every 16-bit pattern decoded, and
// float32 values around every float16 and bfloat16 value (the value, its
// float32 neighbours, the midpoints to the next value and theirs), the
// range boundaries, specials and 2^20 random patterns encoded.
func TestFastConversions16(t *testing.T) {
	same32 := func(a, b float32) bool {
		return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
	}
	for h := range 1 << 16 {
		if !same32(Float16ToFloat32(uint16(h)), f16ToF32(uint16(h))) {
			require.Failf(t, "float16 decode", "%#04x: %v, want %v", h, f16ToF32(uint16(h)), Float16ToFloat32(uint16(h)))
		}
	}
	var xs []float32
	add := func(b uint32) {
		for _, d := range []int64{-1, 0, 1} {
			xs = append(xs, math.Float32frombits(uint32(int64(b)+d)))
		}
	}
	for h := range 1 << 16 {
		f := Float16ToFloat32(uint16(h))
		add(math.Float32bits(f))
		if next := Float16ToFloat32(uint16(h + 1)); h&0x7fff < 0x7bff && f == f && next == next {
			add(math.Float32bits((f + next) / 2))
		}
		add(uint32(h) << 16) // bfloat16 values
		add(uint32(h)<<16 | 0x8000)
	}
	for _, b := range []uint32{f16MinNormal, f16Overflow, f16Zero, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff, 0, 0x80000000} {
		add(b)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		xs = append(xs, math.Float32frombits(r.Uint32()))
	}
	for _, x := range xs {
		if a, b := f32ToF16(x), Float32ToFloat16(x); a != b {
			require.Failf(t, "float16 encode", "%v (%#08x): %#04x, want %#04x", x, math.Float32bits(x), a, b)
		}
		if a, b := f32ToBF16(x), Float32ToBFloat16(x); a != b {
			require.Failf(t, "bfloat16 encode", "%v (%#08x): %#04x, want %#04x", x, math.Float32bits(x), a, b)
		}
	}

	// Through the kernels' loads and stores, contiguous and strided.
	n := len(xs) / 2 * 2
	src := FromSlice(xs[:n], n/2, 2)
	for _, dt := range []DType{BFloat16, Float16} {
		for _, v := range []*Tensor{src, src.T()} {
			h := v.Cast(dt)
			back := h.T().Cast(Float32).T() // a strided load
			want := ToSlice[float32](v)
			got := ToSlice[float32](back)
			for i := range want {
				ref := Float16ToFloat32(Float32ToFloat16(want[i]))
				if dt == BFloat16 {
					ref = BFloat16ToFloat32(Float32ToBFloat16(want[i]))
				}
				if !same32(ref, got[i]) {
					require.Failf(t, "conversion through the kernels", "%s %d: %v -> %v, want %v", dt, i, want[i], got[i], ref)
				}
			}
		}
	}
}

// BenchmarkCast16 converts 2^20 normal values (and, for ReLU on 16-bit
// inputs, a mix of zeros and normals) between float32 and the 16-bit
// formats.
func BenchmarkCast16(b *testing.B) {
	x := Randn(1 << 20)
	for _, dt := range []DType{BFloat16, Float16} {
		h := x.Cast(dt)
		b.Run(dt.String()+"/from-float32", func(b *testing.B) {
			d := Empty(dt, 1<<20)
			for range b.N {
				d.CopyFrom(x)
			}
		})
		b.Run(dt.String()+"/to-float32", func(b *testing.B) {
			d := Empty(Float32, 1<<20)
			for range b.N {
				d.CopyFrom(h)
			}
		})
		b.Run(dt.String()+"/relu", func(b *testing.B) {
			for range b.N {
				ReLU(h)
			}
		})
	}
}
