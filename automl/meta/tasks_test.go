package meta

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/tensor"
)

func TestSineTasks(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	s := Sine{K: 10, KQuery: 20}
	var amps []float64
	for range 200 {
		task := s.Sample(r)
		require.Equal(t, tensor.Shape{10, 1}, task.XS.Shape())
		require.Equal(t, tensor.Shape{20, 1}, task.YQ.Shape())
		amp, phase := task.Info["amplitude"], task.Info["phase"]
		assert.True(t, amp >= SineAmpMin && amp <= SineAmpMax, "amplitude %g", amp)
		assert.True(t, phase >= 0 && phase <= math.Pi, "phase %g", phase)
		amps = append(amps, amp)
		x, y := task.XQ.Float64s(), task.YQ.Float64s()
		for i := range x {
			assert.True(t, x[i] >= -5 && x[i] <= 5)
			assert.InDelta(t, amp*math.Sin(x[i]-phase), y[i], 1e-5)
		}
	}
	slices.Sort(amps)
	assert.Less(t, amps[0], 0.5)
	assert.Greater(t, amps[len(amps)-1], 4.5)
	// The same seed draws the same tasks.
	a := s.Sample(rand.New(rand.NewPCG(7, 7)))
	b := s.Sample(rand.New(rand.NewPCG(7, 7)))
	assert.True(t, tensor.Equal(a.XS, b.XS))
}

func TestDigitsEpisodes(t *testing.T) {
	train, test, err := DigitsEpisodes([]int64{0, 1, 2, 3, 4, 5}, 4, 2, 3)
	require.NoError(t, err)
	assert.Equal(t, []int64{6, 7, 8, 9}, test.Classes())
	// A 5-way episode needs 5 classes: the meta-test pool has 4.
	_, _, err = DigitsEpisodes([]int64{0, 1, 2, 3, 4, 5}, 5, 1, 1)
	require.ErrorContains(t, err, "5-way")
	_, err = NewEpisodes(data.Digits(), []int64{6}, 1, 100, 100)
	require.ErrorContains(t, err, "needs 200")

	r := rand.New(rand.NewPCG(3, 4))
	ds := data.Digits()
	for range 20 {
		task := train.Sample(r)
		require.Equal(t, tensor.Shape{8, 1, 8, 8}, task.XS.Shape())
		require.Equal(t, tensor.Shape{12, 1, 8, 8}, task.XQ.Shape())
		ys, yq := task.YS.Int64s(), task.YQ.Int64s()
		for c := range int64(4) {
			assert.Equal(t, 2, count(ys, c))
			assert.Equal(t, 3, count(yq, c))
		}
		// Each episode label maps to one original class of the pool, and
		// no image is both in the support and the query set.
		orig := map[int64]int64{}
		seen := map[string]bool{}
		check := func(x *tensor.Tensor, y []int64, q bool) {
			v := x.Reshape(len(y), 64).Float32s()
			for i, lab := range y {
				img := v[i*64 : (i+1)*64]
				cls := classOf(ds, img)
				require.GreaterOrEqual(t, cls, int64(0))
				assert.Less(t, cls, int64(6), "meta-train episode holds class %d", cls)
				if o, ok := orig[lab]; ok {
					assert.Equal(t, o, cls)
				}
				orig[lab] = cls
				key := string(tensor.FromSlice(img, 64).Cast(tensor.Float64).String())
				if q {
					assert.False(t, seen[key], "query image also in support")
				} else {
					seen[key] = true
				}
			}
		}
		check(task.XS, ys, false)
		check(task.XQ, yq, true)
	}
	flat := *train
	flat.Flat = true
	assert.Equal(t, tensor.Shape{8, 64}, flat.Sample(r).XS.Shape())
}

func count(ys []int64, c int64) int {
	n := 0
	for _, y := range ys {
		if y == c {
			n++
		}
	}
	return n
}

// classOf finds the label of img in ds (-1 if absent).
func classOf(ds *data.ArrayDataset, img []float32) int64 {
	x := make([]float32, 64)
	for i := range ds.Len() {
		y := ds.Sample(i, x)
		if slices.Equal(x, img) {
			return y
		}
	}
	return -1
}

func TestRotated(t *testing.T) {
	ds := &data.ArrayDataset{X: []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}, Shape: []int{3, 3}, Y: []int64{2}}
	r := Rotated(ds, 10)
	require.Equal(t, 4, r.Len())
	assert.Equal(t, []int64{2, 12, 22, 32}, r.Y)
	x := make([]float32, 9)
	r.Sample(1, x)
	// 90° clockwise: the first column read bottom-up becomes the first row.
	assert.Equal(t, []float32{7, 4, 1, 8, 5, 2, 9, 6, 3}, x)
	r.Sample(2, x)
	assert.Equal(t, []float32{9, 8, 7, 6, 5, 4, 3, 2, 1}, x)
	full := Rotated(data.Digits(), 10)
	assert.Equal(t, 4*data.DigitsLen, full.Len())
	_, err := NewEpisodes(full, []int64{0, 10, 20, 30, 1}, 5, 1, 1)
	require.NoError(t, err)
}
