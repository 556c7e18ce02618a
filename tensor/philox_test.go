package tensor_test

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// TestPhiloxKnownAnswers checks Philox-4x32-10 against the known-answer
// vectors of Random123 (examples/kat_vectors, lines "philox4x32 10"):
// counter[4] key[2] -> output[4].
func TestPhiloxKnownAnswers(t *testing.T) {
	cases := []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, tensor.Philox4x32(c.ctr, c.key), "ctr %08x key %08x", c.ctr, c.key)
	}
}

// TestGeneratorStream checks the documented mapping from the Philox stream
// to values: word w is lane w%4 of the block at counter (w/4, 0, 0, 0) under
// key (seed low, seed high), and a uniform float32 is (w>>8)·2⁻²⁴.
func TestGeneratorStream(t *testing.T) {
	var seed uint64 = 0x0123456789abcdef
	g := tensor.NewGenerator(seed)
	u := g.Uniform(0, 1, tensor.Float32, 10).Float64s()
	key := [2]uint32{uint32(seed), uint32(seed >> 32)}
	for e, v := range u {
		blk := tensor.Philox4x32([4]uint32{uint32(e / 4), 0, 0, 0}, key)
		assert.Equal(t, float64(blk[e%4]>>8)/(1<<24), v, "element %d", e)
	}
	// the generator moved past the 10 words, to the next block boundary
	s, off := g.State()
	assert.Equal(t, seed, s)
	assert.Equal(t, uint64(12), off)
}

func TestGeneratorDeterminism(t *testing.T) {
	draw := func(g *tensor.Generator) []*tensor.Tensor {
		return []*tensor.Tensor{
			g.Uniform(-1, 2, tensor.Float32, 3, 5),
			g.Normal(0.5, 2, tensor.Float64, 7),
			g.RandInt(-3, 9, 4, 4),
			g.Bernoulli(0.3, tensor.Bool, 9),
			g.Uniform(0, 1, tensor.BFloat16, 6),
		}
	}
	a, b := draw(tensor.NewGenerator(5)), draw(tensor.NewGenerator(5))
	for i := range a {
		assert.True(t, tensor.Equal(a[i], b[i]), "draw %d differs between generators with the same seed", i)
	}
	c := draw(tensor.NewGenerator(6))
	assert.False(t, tensor.Equal(a[0], c[0]), "different seeds give different numbers")
	// consecutive draws do not repeat
	g := tensor.NewGenerator(5)
	x, y := g.Uniform(0, 1, tensor.Float32, 100), g.Uniform(0, 1, tensor.Float32, 100)
	assert.False(t, tensor.Equal(x, y))
	// SetState replays
	g.SetState(5, 0)
	assert.True(t, tensor.Equal(x, g.Uniform(0, 1, tensor.Float32, 100)))
	// a draw at an offset equals the tail of one long draw, for every dtype and distribution
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64, tensor.BFloat16, tensor.Float16} {
		long := tensor.NewGenerator(9).Normal(0, 1, dt, 64).Float64s()
		g := tensor.NewGenerator(9)
		first := g.Normal(0, 1, dt, 10).Float64s() // 10 elements, 20 words reserved
		_, off := g.State()
		assert.Zero(t, off%4, "fills start on a Philox block")
		assert.Equal(t, long[:10], first, dt.String())
	}
	// the package-level functions use the default generator, reset by Seed
	tensor.Seed(77)
	r1, n1 := tensor.Rand(4, 3), tensor.Randn(5)
	i1, b1 := tensor.RandIntN(0, 10, 6), tensor.Bernoulli(0.5, 8)
	tensor.Seed(77)
	assert.True(t, tensor.Equal(r1, tensor.Rand(4, 3)))
	assert.True(t, tensor.Equal(n1, tensor.Randn(5)))
	assert.True(t, tensor.Equal(i1, tensor.RandIntN(0, 10, 6)))
	assert.True(t, tensor.Equal(b1, tensor.Bernoulli(0.5, 8)))
	assert.Equal(t, tensor.Float32, r1.DType())
	assert.Equal(t, tensor.Int64, i1.DType())
	// filling a non-contiguous view uses the logical (row-major) order
	g1, g2 := tensor.NewGenerator(3), tensor.NewGenerator(3)
	v := tensor.Zeros(tensor.Float32, 4, 6).T()
	g1.FillUniform(v, 0, 1)
	assert.Equal(t, g2.Uniform(0, 1, tensor.Float32, 6, 4).Float32s(), v.Float32s())
}

// TestGeneratorConcurrent draws from one generator on many goroutines: every
// draw gets its own part of the stream.
func TestGeneratorConcurrent(t *testing.T) {
	g := tensor.NewGenerator(1)
	const n = 16
	out := make([][]float32, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = g.Uniform(0, 1, tensor.Float32, 8).Float32s()
		}()
	}
	wg.Wait()
	seen := map[float32]bool{}
	for _, o := range out {
		for _, v := range o {
			assert.False(t, seen[v], "value %v drawn twice", v)
			seen[v] = true
		}
	}
	_, off := g.State()
	assert.Equal(t, uint64(n*8), off)
}

// meanVar returns the sample mean and variance.
func meanVar(v []float64) (mean, variance float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(v)-1)
}

// TestGeneratorStatistics checks moments within 5 standard errors.
func TestGeneratorStatistics(t *testing.T) {
	const n = 200000
	g := tensor.NewGenerator(2024)
	within5 := func(name string, got, want, sd float64) {
		t.Helper()
		se := sd / math.Sqrt(n)
		assert.InDelta(t, want, got, 5*se, "%s: %v, want %v ± 5·%v", name, got, want, se)
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		lo, hi := -2.0, 3.0
		u := g.Uniform(lo, hi, dt, n).Float64s()
		m, v := meanVar(u)
		width := hi - lo
		within5("uniform mean "+dt.String(), m, (lo+hi)/2, width/math.Sqrt(12))
		// the variance of a uniform sample variance: (w^4/80 - w^4/144)
		within5("uniform variance "+dt.String(), v, width*width/12, width*width*math.Sqrt(1.0/80-1.0/144))
		for _, x := range u {
			require.True(t, x >= lo && x < hi, "uniform draw %v outside [%v, %v)", x, lo, hi)
		}
		z := g.Normal(1.5, 2, dt, n).Float64s()
		m, v = meanVar(z)
		within5("normal mean "+dt.String(), m, 1.5, 2)
		within5("normal variance "+dt.String(), v, 4, 4*math.Sqrt2) // sd of s² is σ²·√2
		// tails: P(|z-µ| > 3σ) = 0.0027
		tail := 0
		for _, x := range z {
			if math.Abs(x-1.5) > 6 {
				tail++
			}
		}
		within5("normal 3-sigma tail "+dt.String(), float64(tail)/n, 0.0026998, math.Sqrt(0.0027*(1-0.0027)))
	}
	for _, p := range []float64{0.1, 0.5, 0.93} {
		b := g.Bernoulli(p, tensor.Float32, n).Float64s()
		m, _ := meanVar(b)
		within5("bernoulli rate", m, p, math.Sqrt(p*(1-p)))
		for _, x := range b {
			require.True(t, x == 0 || x == 1)
		}
	}
	r := g.RandInt(-3, 7, n).Int64s()
	counts := map[int64]int{}
	for _, x := range r {
		require.True(t, x >= -3 && x < 7, "RandInt draw %d outside [-3, 7)", x)
		counts[x]++
	}
	assert.Len(t, counts, 10)
	for k, c := range counts {
		within5(fmt.Sprintf("RandInt frequency of %d", k), float64(c)/n, 0.1, math.Sqrt(0.1*0.9))
	}
	// 16-bit floats: uniform stays below hi
	for _, dt := range []tensor.DType{tensor.BFloat16, tensor.Float16} {
		for _, x := range g.Uniform(0, 1, dt, 50000).Float64s() {
			require.True(t, x >= 0 && x < 1, "%v uniform draw %v outside [0, 1)", dt, x)
		}
	}
	// misuse
	err := tensor.Try(func() { g.RandInt(5, 5, 3) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Generator.RandInt")
}
