package robust

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

func rows(vals [][]float64) *tensor.Tensor {
	n, d := len(vals), len(vals[0])
	flat := make([]float64, 0, n*d)
	for _, r := range vals {
		flat = append(flat, r...)
	}
	return tensor.FromSlice(flat, n, d)
}

func col(vals ...float64) *tensor.Tensor { return tensor.FromSlice(vals, len(vals), 1) }

func agg(t *testing.T, a Aggregator, x *tensor.Tensor) []float64 {
	t.Helper()
	out, err := a.Aggregate(x)
	require.NoError(t, err)
	require.Equal(t, tensor.Shape{x.Dim(1)}, out.Shape())
	return out.Float64s()
}

func TestHandComputed(t *testing.T) {
	x := rows([][]float64{{1, 2}, {3, 4}, {5, 9}})
	assert.InDeltaSlice(t, []float64{3, 5}, agg(t, Mean{}, x), 1e-15)

	// columns 1,3,2,100 and 10,-2,5,0: lower medians 2 and 0
	x = rows([][]float64{{1, 10}, {3, -2}, {2, 5}, {100, 0}})
	assert.Equal(t, []float64{2, 0}, agg(t, Median{F: 1}, x))

	// drop 1 low and 1 high: mean(2,3,4) and mean(-1,0,1)
	x = rows([][]float64{{1, 0}, {2, 50}, {3, -1}, {4, 1}, {100, -7}})
	assert.InDeltaSlice(t, []float64{3, 0}, agg(t, TrimmedMean{F: 1}, x), 1e-15)

	// points 0,1,2,10,11 with 2 neighbours: scores 5,2,5,65,82
	x = col(0, 1, 2, 10, 11)
	assert.Equal(t, []float64{1}, agg(t, Krum{F: 1}, x))
	// Multi-Krum M=2: the winner 1 and, of the tied 0 and 2, the lower index
	assert.Equal(t, []float64{0.5}, agg(t, Krum{F: 1, M: 2}, x))

	// Bulyan n=7, f=1, θ=5, β=3. Iterated Krum (max(k−3, 1) neighbours):
	// k=7: 2 and 3 score 1+1+4+4=10, 2 (lower index) wins; k=6: 3 scores
	// 1+4+4=9; k=5: 1 and 4 score 10, 1 wins; k=4: 4 and 5 score 1, 4 wins;
	// k=3: 0 and 5 score 25, 0 wins. Selected 0..4: median 2, the β=3
	// values nearest it are 1,2,3.
	x = col(5, 0, 100, 1, 2, 3, 4)
	assert.InDeltaSlice(t, []float64{2}, agg(t, Bulyan{F: 1}, x), 1e-15)

	// 1-D geometric median is the median; the smoothed Weiszfeld step at 2
	// has Σwᵢ(xᵢ−2) = 0.5·(−2) + 1·(−1) + 1·1 + (1/98)·98 = 0.
	x = col(0, 1, 2, 3, 100)
	assert.InDeltaSlice(t, []float64{2}, agg(t, GeoMed{F: 2}, x), 1e-12)

	// Centered clipping, τ=1, centre 0: deviations of norm 5 and 0.5 are
	// scaled by 0.2 and 1: ([0.6,0.8] + [0,0.5])/2.
	cc := &CenteredClipping{Tau: 1}
	x = rows([][]float64{{3, 4}, {0, 0.5}})
	assert.InDeltaSlice(t, []float64{0.3, 0.65}, agg(t, cc, x), 1e-15)
	// second call starts from the kept centre
	v := []float64{0.3, 0.65}
	d1 := []float64{3 - v[0], 4 - v[1]}
	s1 := 1 / math.Hypot(d1[0], d1[1])
	d2 := []float64{0 - v[0], 0.5 - v[1]} // norm 0.335 < τ: unclipped
	want := []float64{v[0] + (d1[0]*s1+d2[0])/2, v[1] + (d1[1]*s1+d2[1])/2}
	assert.InDeltaSlice(t, want, agg(t, cc, x), 1e-15)
	cc.Reset()
	assert.InDeltaSlice(t, []float64{0.3, 0.65}, agg(t, cc, x), 1e-15)
}

func TestNNMHandComputed(t *testing.T) {
	// n=4, f=1: each point averages its 3 nearest (itself included)
	out, err := NNM{F: 1}.PreAggregate(col(0, 1, 3, 10))
	require.NoError(t, err)
	assert.InDeltaSlice(t, []float64{4.0 / 3, 4.0 / 3, 4.0 / 3, 14.0 / 3}, out.Float64s(), 1e-15)
}

func TestBucketing(t *testing.T) {
	x := col(1, 2, 4, 8, 16)
	b := &Bucketing{S: 2, Seed: 3}
	out, err := b.PreAggregate(x)
	require.NoError(t, err)
	require.Equal(t, tensor.Shape{3, 1}, out.Shape())
	got := out.Float64s()
	// buckets of 2, 2 and 1: the sizes weight the means back to the total
	assert.InDelta(t, 31.0, 2*got[0]+2*got[1]+got[2], 1e-12)
	// each full bucket is the mean of two distinct inputs (sums of two
	// distinct powers of two are unique)
	for _, g := range got[:2] {
		s := int(2 * g)
		assert.Equal(t, 2, popcount(s), "bucket mean %g", g)
	}
	assert.Equal(t, 1, popcount(int(got[2])))
	// the shuffle advances between calls, with one seed reproducibly
	b2 := &Bucketing{S: 2, Seed: 3}
	o2, _ := b2.PreAggregate(x)
	assert.Equal(t, got, o2.Float64s())
}

func popcount(x int) int {
	c := 0
	for ; x > 0; x >>= 1 {
		c += x & 1
	}
	return c
}

func TestPreconditions(t *testing.T) {
	cases := []struct {
		a    Aggregator
		n    int
		fail bool
	}{
		{Krum{F: 2}, 6, true}, {Krum{F: 2}, 7, false},
		{Krum{F: 2, M: 3}, 6, true},
		{Bulyan{F: 2}, 10, true}, {Bulyan{F: 2}, 11, false},
		{Median{F: 2}, 4, true}, {Median{F: 2}, 5, false},
		{TrimmedMean{F: 2}, 4, true}, {TrimmedMean{F: 2}, 5, false},
		{GeoMed{F: 2}, 4, true}, {GeoMed{F: 2}, 5, false},
		{Pipeline{Pre: []PreAggregator{&Bucketing{S: 2}}, Rule: Krum{F: 2}}, 10, true},
		{Pipeline{Pre: []PreAggregator{NNM{F: 2}}, Rule: Krum{F: 2}}, 7, false},
	}
	g := tensor.NewGenerator(5)
	for _, c := range cases {
		_, err := c.a.Aggregate(g.Normal(0, 1, tensor.Float32, c.n, 3))
		if c.fail {
			assert.ErrorIs(t, err, ErrTooFew, "%s n=%d", c.a.Name(), c.n)
		} else {
			assert.NoError(t, err, "%s n=%d", c.a.Name(), c.n)
		}
	}
	// malformed input is a programming error
	require.Error(t, tensor.Try(func() { _, _ = Median{}.Aggregate(tensor.Ones(tensor.Float32, 3)) }))
	require.Error(t, tensor.Try(func() { _, _ = Mean{}.Aggregate(tensor.Ones(tensor.Int64, 3, 2)) }))
}

// TestRobustnessProperty: f of n vectors are moved by an unbounded
// attacker (A·u for a random direction u, A up to 1e8). The mean follows
// the attacker (its error grows like f·A/n); every robust rule stays within
// a bound set by the honest vectors, independent of A.
func TestRobustnessProperty(t *testing.T) {
	const n, f, d = 11, 2, 16
	g := tensor.NewGenerator(11)
	honest := g.Normal(0.5, 1, tensor.Float64, n-f, d)
	u := g.Normal(0, 1, tensor.Float64, d)
	u = tensor.MulScalar(u, 1/tensor.Norm(u, 2, false).Item())
	hmean := tensor.Mean(honest, false, 0)
	// spread: the largest distance of an honest vector from the honest mean
	spread := tensor.Max(tensor.Norm(tensor.Sub(honest, hmean), 2, false, 1), false).Item()
	rules := []func() Aggregator{
		func() Aggregator { return Median{F: f} },
		func() Aggregator { return TrimmedMean{F: f} },
		func() Aggregator { return Krum{F: f} },
		func() Aggregator { return Krum{F: f, M: n - f} },
		func() Aggregator { return Bulyan{F: f} },
		func() Aggregator { return GeoMed{F: f} },
		func() Aggregator { return &CenteredClipping{F: f, Tau: 1, Iters: 3} },
		func() Aggregator { return Pipeline{Pre: []PreAggregator{NNM{F: f}}, Rule: Krum{F: f}} },
		func() Aggregator {
			return Pipeline{Pre: []PreAggregator{&Bucketing{S: 2, Seed: 1}}, Rule: Median{F: f}}
		},
	}
	for _, a := range []float64{1e2, 1e4, 1e8} {
		byz := tensor.Stack([]*tensor.Tensor{tensor.MulScalar(u, a), tensor.MulScalar(u, -a/2)}, 0)
		x := tensor.Concat([]*tensor.Tensor{byz, honest}, 0)
		m := agg(t, Mean{}, x)
		errMean := dist(m, hmean.Float64s())
		assert.Greater(t, errMean, 0.9*a*0.5*f/n/2, "mean must follow the attacker (A=%g)", a)
		for _, mk := range rules {
			r := mk()
			out := agg(t, r, x)
			e := dist(out, hmean.Float64s())
			bound := 2 * spread
			if _, ok := r.(*CenteredClipping); ok {
				// from centre 0: |v| ≤ |honest| + f/n·τ per iteration
				bound = tensor.Norm(hmean, 2, false).Item() + 2*spread
			}
			assert.Less(t, e, bound, "%s moved %g by A=%g (bound %g)", r.Name(), e, a, bound)
		}
	}
}

func dist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += (a[i] - b[i]) * (a[i] - b[i])
	}
	return math.Sqrt(s)
}

// TestGeoMedObjective: on random data the smoothed Weiszfeld result is
// within 1e-4 (relative) of the minimum of Σ‖z−xᵢ‖ found by a long plain
// float64 Weiszfeld run.
func TestGeoMedObjective(t *testing.T) {
	g := tensor.NewGenerator(21)
	x := g.Normal(0, 3, tensor.Float64, 9, 5)
	xs := x.Float64s()
	obj := func(z []float64) float64 {
		s := 0.0
		for i := range 9 {
			s += dist(z, xs[i*5:(i+1)*5])
		}
		return s
	}
	z := make([]float64, 5)
	for range 20000 {
		num, den := make([]float64, 5), 0.0
		for i := range 9 {
			w := 1 / math.Max(dist(z, xs[i*5:(i+1)*5]), 1e-12)
			den += w
			for k := range 5 {
				num[k] += w * xs[i*5+k]
			}
		}
		for k := range z {
			z[k] = num[k] / den
		}
	}
	got := agg(t, GeoMed{F: 2}, x)
	assert.InDelta(t, obj(z), obj(got), 1e-4*obj(z))
}

func TestByName(t *testing.T) {
	for _, name := range append(Rules, "nnm+krum", "bucket2+median", "bucket2+nnm+cclip") {
		a, err := ByName(name, 11, 2, Options{})
		require.NoError(t, err, name)
		assert.Equal(t, name, a.Name())
	}
	_, err := ByName("nope", 10, 2, Options{})
	assert.Error(t, err)
	_, err = ByName("bucketx+mean", 10, 2, Options{})
	assert.Error(t, err)
}
