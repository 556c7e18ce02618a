package data

import (
	"hash/fnv"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDigits(t *testing.T) {
	d := Digits()
	require.Equal(t, DigitsLen, d.Len())
	assert.Equal(t, []int{8, 8}, d.SampleShape())
	assert.Len(t, d.X, DigitsLen*64)
	assert.Equal(t, []int{178, 182, 177, 183, 181, 182, 181, 179, 174, 180}, d.ClassCounts())
	var maxV float32
	for _, v := range d.X {
		require.True(t, v >= 0 && v <= 1, "pixel %v outside [0, 1]", v)
		require.Equal(t, v*16, float32(int(v*16)), "pixel %v is not a count/16", v)
		maxV = max(maxV, v)
	}
	assert.Equal(t, float32(1), maxV)
	// The first row of the file: a zero.
	assert.Equal(t, int64(0), d.Y[0])
	assert.Equal(t, []float32{0, 0, 5, 13, 9, 1, 0, 0}, scaled(d.X[:8], 16))

	// Each call returns an independent copy.
	d.X[0], d.Y[0] = 99, 99
	d2 := Digits()
	assert.Equal(t, float32(0), d2.X[0])
	assert.Equal(t, int64(0), d2.Y[0])
}

func scaled(x []float32, k float32) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = v * k
	}
	return out
}

func TestDigitsSplit(t *testing.T) {
	train, test := DigitsSplit()
	require.Equal(t, DigitsTrain, train.Len())
	require.Equal(t, DigitsTest, test.Len())

	// Stratified: every class has within one sample of 20% in the test set.
	all := Digits().ClassCounts()
	tc := test.ClassCounts()
	for c := range all {
		want := float64(all[c]) * DigitsTest / DigitsLen
		assert.InDelta(t, want, float64(tc[c]), 1, "class %d", c)
		assert.Equal(t, all[c], tc[c]+train.ClassCounts()[c])
	}

	// Disjoint and covering: the index split partitions 0..1796.
	d := Digits()
	trIdx, teIdx := stratifiedSplit(d.Y, DigitsClasses, DigitsTest)
	joined := append(slices.Clone(trIdx), teIdx...)
	slices.Sort(joined)
	for i, v := range joined {
		require.Equal(t, i, v)
	}

	// Pinned: the split is the same on every machine and Go version.
	h := fnv.New64a()
	for _, i := range teIdx {
		h.Write([]byte{byte(i), byte(i >> 8)})
	}
	assert.Equal(t, uint64(digitsTestHash), h.Sum64(), "test indices changed: %v...", teIdx[:10])
	assert.Equal(t, digitsTestHead, teIdx[:8])

	train2, test2 := DigitsSplit()
	assert.Equal(t, train.Y, train2.Y)
	assert.Equal(t, test.X, test2.X)
}

// Golden values of the DigitsSplit test indices.
var (
	digitsTestHash uint64 = 0xa4ad994816e8efde
	digitsTestHead        = []int{0, 7, 20, 22, 25, 26, 29, 32}
)

// A nearest-centroid classifier on the split: a sanity check that features
// and labels line up (it scores about 0.9; an MLP reaches about 0.97).
func TestDigitsNearestCentroid(t *testing.T) {
	train, test := DigitsSplit()
	var cent [DigitsClasses][64]float64
	counts := train.ClassCounts()
	x := make([]float32, 64)
	for i := 0; i < train.Len(); i++ {
		y := train.Sample(i, x)
		for j, v := range x {
			cent[y][j] += float64(v) / float64(counts[y])
		}
	}
	correct := 0
	for i := 0; i < test.Len(); i++ {
		y := test.Sample(i, x)
		best, bestD := -1, 0.0
		for c := range cent {
			d := 0.0
			for j, v := range x {
				d += (float64(v) - cent[c][j]) * (float64(v) - cent[c][j])
			}
			if best < 0 || d < bestD {
				best, bestD = c, d
			}
		}
		if int64(best) == y {
			correct++
		}
	}
	acc := float64(correct) / float64(test.Len())
	t.Logf("nearest-centroid test accuracy %.3f", acc)
	assert.Greater(t, acc, 0.85)
}
