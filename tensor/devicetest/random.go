package devicetest

import (
	"fmt"
	"math"

	"github.com/stretchr/testify/assert"

	"github.com/tessera-ml/tessera/tensor"
)

// philoxBlock is Philox-4x32-10 (Salmon et al., SC'11) written from the
// paper for this suite: ten rounds, the key bumped by the Weyl constants
// between rounds.
func philoxBlock(ctr [4]uint32, key [2]uint32) [4]uint32 {
	x := ctr
	k := key
	for round := 0; round < 10; round++ {
		p0 := uint64(0xD2511F53) * uint64(x[0])
		p1 := uint64(0xCD9E8D57) * uint64(x[2])
		x = [4]uint32{
			uint32(p1>>32) ^ x[1] ^ k[0],
			uint32(p1),
			uint32(p0>>32) ^ x[3] ^ k[1],
			uint32(p0),
		}
		k[0] += 0x9E3779B9
		k[1] += 0xBB67AE85
	}
	return x
}

// streamWord is word w of the (seed) stream: lane w mod 4 of the block at
// counter (w/4 low, w/4 high, 0, 0) under key (seed low, seed high).
func streamWord(seed, w uint64) uint32 {
	blk := w / 4
	r := philoxBlock([4]uint32{uint32(blk), uint32(blk >> 32), 0, 0}, [2]uint32{uint32(seed), uint32(seed >> 32)})
	return r[w%4]
}

// below returns the largest value of dt below hi.
func below(dt tensor.DType, hi float64) float64 {
	v := quantize(dt, hi)
	if v < hi {
		return v
	}
	switch dt {
	case tensor.Float64:
		return math.Nextafter(v, math.Inf(-1))
	case tensor.Float32:
		return float64(math.Nextafter32(float32(v), float32(math.Inf(-1))))
	}
	enc, dec := f16Bits, f16Value
	if dt == tensor.BFloat16 {
		enc, dec = bf16Bits, bf16Value
	}
	h := enc(v)
	switch {
	case v > 0:
		h--
	case v == 0:
		h = 0x8001
	default:
		h++
	}
	return dec(h)
}

// randomRef is element e of a RandomFill of dtype dt at (seed, off), as
// tensor.Device documents the mapping from stream words to values.
func randomRef(dist tensor.Distribution, dt tensor.DType, seed, off uint64, e int, p0, p1 float64) float64 {
	u24 := func(x uint32) float64 { return float64(x>>8) / (1 << 24) }
	var v float64
	switch dist {
	case tensor.Uniform:
		if dt == tensor.Float64 {
			hi, lo := streamWord(seed, off+2*uint64(e)), streamWord(seed, off+2*uint64(e)+1)
			u := float64((uint64(hi)<<32|uint64(lo))>>11) / (1 << 53)
			return p0 + u*(p1-p0)
		}
		v = p0 + u24(streamWord(seed, off+uint64(e)))*(p1-p0)
		if q := quantize(dt, v); q >= p1 {
			return below(dt, p1) // draws stay below p1 after rounding
		}
	case tensor.Normal:
		q := uint64(e / 2)
		w1, w2 := streamWord(seed, off+2*q), streamWord(seed, off+2*q+1)
		u1 := float64((w1>>8)+1) / (1 << 24)
		u2 := u24(w2)
		r := math.Sqrt(-2 * math.Log(u1))
		z := r * math.Cos(2*math.Pi*u2)
		if e%2 == 1 {
			z = r * math.Sin(2*math.Pi*u2)
		}
		v = p0 + p1*z
	case tensor.BernoulliDist:
		if u24(streamWord(seed, off+uint64(e))) < p0 {
			v = 1
		}
	case tensor.RandInt:
		span := uint64(p1 - p0)
		v = p0 + float64((uint64(streamWord(seed, off+uint64(e)))*span)>>32)
	}
	return v
}

func testRandomFill(e *env) {
	// The reference generator reproduces the Random123 known answers.
	kat := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff}, [4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0}, [4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, k := range kat {
		assert.Equal(e.t, k.want, philoxBlock(k.ctr, k.key), "reference Philox4x32-10 %x %x", k.ctr, k.key)
	}

	type rc struct {
		dist   tensor.Distribution
		dts    []tensor.DType
		p0, p1 float64
	}
	cases := []rc{
		{tensor.Uniform, floatDTypes, -2, 3},
		{tensor.Uniform, []tensor.DType{tensor.Float32, tensor.BFloat16, tensor.Float16}, 0, 1},
		{tensor.Normal, floatDTypes, 1, 2},
		{tensor.BernoulliDist, allDTypes, 0.3, 0},
		{tensor.RandInt, []tensor.DType{tensor.Int64, tensor.Int32, tensor.Float32, tensor.Float64}, -5, 17},
		{tensor.RandInt, []tensor.DType{tensor.Int64}, -1 << 31, 1 << 31},
	}
	names := map[tensor.Distribution]string{tensor.Uniform: "Uniform", tensor.Normal: "Normal", tensor.BernoulliDist: "Bernoulli", tensor.RandInt: "RandInt"}
	streams := []struct{ seed, off uint64 }{{0, 0}, {42, 4}, {7, 7}, {0x123456789abcdef, 1<<33 + 3}, {math.MaxUint64, 1}}
	shapes := []struct {
		shape []int
		l     layout
	}{{[]int{}, contiguous}, {[]int{0, 3}, contiguous}, {[]int{5}, offsetL}, {[]int{3, 7}, stepped}, {[]int{4, 3, 5}, permuted}, {[]int{64, 70}, contiguous}, {[]int{70, 64}, stepped}}
	for _, c := range cases {
		for _, dt := range c.dts {
			for si, s := range streams {
				for hi, sh := range shapes {
					if hi >= 5 && si != 0 && si != 3 {
						continue // the large shapes with a few of the streams
					}
					dst := e.newOperand(dt, sh.shape, sh.l, e.defaultGen(dt))
					e.dev.RandomFill(dst.view(), c.dist, s.seed, s.off, c.p0, c.p1)
					want := make([]float64, numel(sh.shape))
					for i := range want {
						want[i] = quantize(dt, randomRef(c.dist, dt, s.seed, s.off, i, c.p0, c.p1))
					}
					check := exact
					if c.dist == tensor.Normal {
						// Box-Muller goes through log, cos and sin: one ulp of
						// the dtype, or 1e-12 relative in float64.
						r := map[tensor.DType]float64{tensor.Float64: 1e-12, tensor.Float32: 0x1p-23, tensor.BFloat16: 0x1p-7, tensor.Float16: 0x1p-10}[dt]
						check = within(r, nil)
					}
					what := fmt.Sprintf("RandomFill %s(%g, %g) %v seed %#x offset %d %v %v", names[c.dist], c.p0, c.p1, dt, s.seed, s.off, sh.shape, sh.l)
					e.checkDst(what, dst, want, check)
					if c.dist == tensor.Uniform {
						got := e.download(dst.buf.st)
						out := 0
						forEach(dst.shape, func(idx []int) {
							if v := got[dst.pos(idx)]; v < c.p0 || v >= c.p1 {
								out++
							}
						})
						assert.Zero(e.t, out, "%s: draws outside [%g, %g)", what, c.p0, c.p1)
					}
				}
			}
		}
	}
	// Uniform draws in a 16-bit float must stay below hi even where rounding would reach it.
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16, tensor.Float32} {
		dst := e.newOperand(dt, []int{20000}, contiguous, e.defaultGen(dt))
		e.dev.RandomFill(dst.view(), tensor.Uniform, 99, 0, 0, 1)
		hit := 0
		for _, v := range e.download(dst.buf.st) {
			if v < 0 || v >= 1 {
				hit++
			}
		}
		assert.Zero(e.t, hit, "RandomFill Uniform(0, 1) %v: %d of 20000 draws outside [0, 1)", dt, hit)
	}
}
