package tensor

import (
	"math"
	"math/bits"
	"sync"
)

// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2,
// 3", SC'11), the counter-based generator of Random123, cuRAND and PyTorch.
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9
	philoxW1 = 0xBB67AE85
)

// Philox4x32 applies the 10-round Philox-4x32 bijection to counter ctr under key.
func Philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	c0, c1, c2, c3 := ctr[0], ctr[1], ctr[2], ctr[3]
	k0, k1 := key[0], key[1]
	for i := 0; i < 10; i++ {
		if i > 0 {
			k0 += philoxW0
			k1 += philoxW1
		}
		hi0, lo0 := bits.Mul32(philoxM0, c0)
		hi1, lo1 := bits.Mul32(philoxM1, c2)
		c0, c1, c2, c3 = hi1^c1^k0, lo1, hi0^c3^k1, lo0
	}
	return [4]uint32{c0, c1, c2, c3}
}

// philoxWords fills out with the stream's 32-bit words starting at word
// index start. Word w is lane w%4 of Philox4x32((w/4 low, w/4 high, 0, 0), key).
func philoxWords(seed, start uint64, out []uint32) {
	key := [2]uint32{uint32(seed), uint32(seed >> 32)}
	w := start
	for i := 0; i < len(out); {
		blk := w / 4
		r := Philox4x32([4]uint32{uint32(blk), uint32(blk >> 32), 0, 0}, key)
		for lane := w % 4; lane < 4 && i < len(out); lane++ {
			out[i] = r[lane]
			i++
			w++
		}
	}
}

// wordsPerElement is how many stream words one element of a fill uses.
func wordsPerElement(dist Distribution, dt DType) int {
	if dist == Normal || (dist == Uniform && dt == Float64) {
		return 2
	}
	return 1
}

// The mapping from stream words to values, shared by every device. Element e
// of a fill at stream offset off (in words) uses:
//   - Uniform, 32-bit: word off+e; u = (x>>8)·2⁻²⁴ in [0,1); value p0+u·(p1-p0).
//   - Uniform, Float64: words off+2e (high) and off+2e+1 (low); u = (hi<<32|lo)>>11 · 2⁻⁵³.
//   - Normal: the pair q = e/2 uses words off+2q and off+2q+1 (as 32-bit
//     uniforms u1 = ((x>>8)+1)·2⁻²⁴ in (0,1] and u2); Box-Muller gives
//     r·cos(2πu2) for even e and r·sin(2πu2) for odd e, r = sqrt(-2 ln u1);
//     value p0 + p1·z.
//   - Bernoulli: word off+e; 1 when (x>>8)·2⁻²⁴ < p0.
//   - RandInt in [p0, p1): word off+e; p0 + (x·(p1-p0))>>32.
func u24(x uint32) float64 { return float64(x>>8) * (1.0 / (1 << 24)) }

func genValues(dist Distribution, dt DType, seed, off uint64, e0 int, out []float64, words []uint32, p0, p1 float64) {
	n := len(out)
	switch {
	case dist == Normal:
		q0 := e0 / 2
		q1 := (e0 + n + 1) / 2
		words = words[:2*(q1-q0)]
		philoxWords(seed, off+2*uint64(q0), words)
		for i := range out {
			e := e0 + i
			q := e/2 - q0
			u1 := float64((words[2*q]>>8)+1) * (1.0 / (1 << 24))
			u2 := u24(words[2*q+1])
			r := math.Sqrt(-2 * math.Log(u1))
			var z float64
			if e%2 == 0 {
				z = r * math.Cos(2*math.Pi*u2)
			} else {
				z = r * math.Sin(2*math.Pi*u2)
			}
			out[i] = p0 + p1*z
		}
	case dist == Uniform && dt == Float64:
		words = words[:2*n]
		philoxWords(seed, off+2*uint64(e0), words)
		for i := range out {
			u := float64((uint64(words[2*i])<<32|uint64(words[2*i+1]))>>11) * (1.0 / (1 << 53))
			out[i] = p0 + u*(p1-p0)
		}
	default:
		words = words[:n]
		philoxWords(seed, off+uint64(e0), words)
		for i, x := range words {
			switch dist {
			case Uniform:
				out[i] = p0 + u24(x)*(p1-p0)
			case BernoulliDist:
				if u24(x) < p0 {
					out[i] = 1
				} else {
					out[i] = 0
				}
			case RandInt:
				span := uint64(p1 - p0)
				out[i] = p0 + float64((uint64(x)*span)>>32)
			}
		}
	}
	if (dt == Float32 || dt == BFloat16 || dt == Float16) && dist == Uniform && p1 > p0 {
		// Uniform draws must stay below p1 after rounding to dt.
		var top float64
		for i, v := range out {
			if roundTo(dt, v) >= p1 {
				if top == 0 {
					top = largestBelow(dt, p1)
				}
				out[i] = top
			}
		}
	}
}

// roundTo rounds v to the nearest value of the float dtype dt.
func roundTo(dt DType, v float64) float64 {
	switch dt {
	case BFloat16:
		return float64(BFloat16ToFloat32(Float32ToBFloat16(roundToOdd32(v))))
	case Float16:
		return float64(Float16ToFloat32(Float32ToFloat16(roundToOdd32(v))))
	case Float32:
		return float64(float32(v))
	}
	return v
}

// largestBelow returns the largest value of the float dtype dt below p.
func largestBelow(dt DType, p float64) float64 {
	r := roundTo(dt, p)
	if r < p {
		return r
	}
	if dt == Float32 {
		return float64(math.Nextafter32(float32(r), float32(math.Inf(-1))))
	}
	conv, back := Float32ToFloat16, Float16ToFloat32
	if dt == BFloat16 {
		conv, back = Float32ToBFloat16, BFloat16ToFloat32
	}
	h := conv(float32(r))
	switch {
	case r > 0:
		h--
	case r == 0:
		h = 0x8001 // the negative value closest to zero
	default:
		h++
	}
	return float64(back(h))
}

func (cpuDevice) RandomFill(dst View, dist Distribution, seed, offset uint64, p0, p1 float64) {
	cpuView("RandomFill", dst)
	n := Shape(dst.Shape).NumElements()
	l := makeLoop(dst.Shape, dst)
	s0 := l.inner(0)
	st := dst.Storage.(*cpuStorage)
	parallelParts(n, workers(n, 16), func(_, lo, hi int) {
		vals := make([]float64, block)
		words := make([]uint32, 2*block+4)
		pos := lo
		l.runRange(lo, hi, func(offs []int, cnt int) {
			for i := 0; i < cnt; i += block {
				m := min(block, cnt-i)
				v := vals[:m]
				genValues(dist, dst.DType(), seed, offset, pos, v, words, p0, p1)
				store(st, offs[0]+i*s0, s0, v)
				pos += m
			}
		})
	})
}

// Generator is a Philox-4x32-10 stream: a seed and an offset (in 32-bit
// words) that advances with every draw. The same seed and offset give the
// same numbers on every device. A Generator is safe for concurrent use.
type Generator struct {
	mu     sync.Mutex
	seed   uint64
	offset uint64
}

// NewGenerator returns a generator at offset 0 of seed's stream.
func NewGenerator(seed uint64) *Generator { return &Generator{seed: seed} }

// State returns the seed and the current offset.
func (g *Generator) State() (seed, offset uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seed, g.offset
}

// SetState moves the generator to (seed, offset).
func (g *Generator) SetState(seed, offset uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seed, g.offset = seed, offset
}

// reserve returns the offset for a fill of n elements and advances past it
// (to the next multiple of 4 words, so every fill starts a Philox block).
func (g *Generator) reserve(n int, dist Distribution, dt DType) (seed, off uint64) {
	words := uint64(n * wordsPerElement(dist, dt))
	if dist == Normal && n%2 == 1 {
		words += 2
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	seed, off = g.seed, g.offset
	g.offset += (words + 3) &^ 3
	return seed, off
}

func (g *Generator) fill(dev Device, dt DType, shape []int, dist Distribution, p0, p1 float64, op string) *Tensor {
	t := alloc(op, dev, dt, shape)
	seed, off := g.reserve(t.NumElements(), dist, dt)
	dev.RandomFill(t.View(), dist, seed, off, p0, p1)
	return t
}

// Uniform returns values drawn uniformly from [lo, hi).
func (g *Generator) Uniform(lo, hi float64, dt DType, shape ...int) *Tensor {
	return g.fill(CPU, dt, shape, Uniform, lo, hi, "Generator.Uniform")
}

// Normal returns values drawn from N(mean, std²).
func (g *Generator) Normal(mean, std float64, dt DType, shape ...int) *Tensor {
	return g.fill(CPU, dt, shape, Normal, mean, std, "Generator.Normal")
}

// RandInt returns Int64 values drawn uniformly from [lo, hi).
func (g *Generator) RandInt(lo, hi int64, shape ...int) *Tensor {
	if hi <= lo || uint64(hi-lo) > 1<<32 {
		fail("Generator.RandInt", "bad range [%d, %d)", lo, hi)
	}
	return g.fill(CPU, Int64, shape, RandInt, float64(lo), float64(hi), "Generator.RandInt")
}

// Bernoulli returns values that are 1 with probability p and 0 otherwise.
func (g *Generator) Bernoulli(p float64, dt DType, shape ...int) *Tensor {
	return g.fill(CPU, dt, shape, BernoulliDist, p, 0, "Generator.Bernoulli")
}

// FillUniform overwrites t (on any device) with uniform draws from [lo, hi).
func (g *Generator) FillUniform(t *Tensor, lo, hi float64) *Tensor {
	seed, off := g.reserve(t.NumElements(), Uniform, t.DType())
	t.Device().RandomFill(t.View(), Uniform, seed, off, lo, hi)
	return t
}

// FillNormal overwrites t (on any device) with draws from N(mean, std²).
func (g *Generator) FillNormal(t *Tensor, mean, std float64) *Tensor {
	seed, off := g.reserve(t.NumElements(), Normal, t.DType())
	t.Device().RandomFill(t.View(), Normal, seed, off, mean, std)
	return t
}

// FillBernoulli overwrites t (on any device) with Bernoulli(p) draws.
func (g *Generator) FillBernoulli(t *Tensor, p float64) *Tensor {
	seed, off := g.reserve(t.NumElements(), BernoulliDist, t.DType())
	t.Device().RandomFill(t.View(), BernoulliDist, seed, off, p, 0)
	return t
}

// DefaultGenerator is the generator of the package-level random functions.
var DefaultGenerator = NewGenerator(0)

// Seed resets the default generator to offset 0 of seed's stream.
func Seed(seed uint64) { DefaultGenerator.SetState(seed, 0) }

// Rand returns float32 values uniform in [0, 1) from the default generator.
func Rand(shape ...int) *Tensor { return DefaultGenerator.Uniform(0, 1, Float32, shape...) }

// Randn returns float32 standard normal values from the default generator.
func Randn(shape ...int) *Tensor { return DefaultGenerator.Normal(0, 1, Float32, shape...) }

// RandIntN returns Int64 values uniform in [lo, hi) from the default generator.
func RandIntN(lo, hi int64, shape ...int) *Tensor { return DefaultGenerator.RandInt(lo, hi, shape...) }

// Bernoulli returns float32 values that are 1 with probability p, from the default generator.
func Bernoulli(p float64, shape ...int) *Tensor {
	return DefaultGenerator.Bernoulli(p, Float32, shape...)
}
