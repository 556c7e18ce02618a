package data

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNewLoaderValidatesHandBuiltDatasets: an ArrayDataset or
// RegressionDataset assembled by hand with slices that do not agree is an
// error of NewLoader (issue 11 item 5: X of 10 values, Shape [4] and 5
// labels used to reach the prefetch goroutine and kill the process).
func TestNewLoaderValidatesHandBuiltDatasets(t *testing.T) {
	bad := []Dataset{
		&ArrayDataset{X: make([]float32, 10), Shape: []int{4}, Y: make([]int64, 5)},
		&ArrayDataset{X: make([]float32, 8), Shape: []int{-4}, Y: make([]int64, 2)},
		&ArrayDataset{X: nil, Shape: []int{1 << 40, 1 << 40}, Y: make([]int64, 1)},
		&RegressionDataset{X: make([]float32, 6), Shape: []int{3}, T: make([]float32, 3), TShape: []int{1}},
		&RegressionDataset{X: make([]float32, 6), Shape: []int{3}, T: make([]float32, 2), TShape: []int{0}},
	}
	for i, ds := range bad {
		for _, prefetch := range []int{0, 2} {
			l, err := NewLoader(ds, LoaderOptions{BatchSize: 2, Prefetch: prefetch})
			require.Error(t, err, "dataset %d", i)
			require.Nil(t, l)
		}
	}
	good, err := NewLoader(&ArrayDataset{X: make([]float32, 20), Shape: []int{4}, Y: make([]int64, 5)}, LoaderOptions{BatchSize: 2})
	require.NoError(t, err)
	require.Equal(t, 3, good.NumBatches())
}

// panicky is a dataset whose Sample panics at one index.
type panicky struct {
	n, at int
	value any
}

func (p *panicky) Len() int           { return p.n }
func (p *panicky) SampleShape() []int { return []int{2} }
func (p *panicky) Sample(i int, x []float32) int64 {
	if i == p.at {
		panic(p.value)
	}
	x[0], x[1] = float32(i), float32(-i)
	return int64(i)
}

var errBroken = errors.New("broken sample")

// TestLoaderDatasetPanicBecomesErr: a panic in a dataset's Sample, on the
// prefetch goroutine or in Next, ends the epoch: Next returns false and Err
// names the sample and the panic value (wrapping it when it is an error);
// the batches before it arrive intact and the process survives. Run under
// -race by make test.
func TestLoaderDatasetPanicBecomesErr(t *testing.T) {
	for _, prefetch := range []int{0, 1, 3} {
		for _, value := range []any{"index out of range", errBroken} {
			ds := &panicky{n: 20, at: 13, value: value}
			l, err := NewLoader(ds, LoaderOptions{BatchSize: 4, Prefetch: prefetch})
			require.NoError(t, err)
			it := l.Epoch(context.Background(), 0)
			var got []int
			for b, ok := it.Next(); ok; b, ok = it.Next() {
				got = append(got, b.Indices...)
				require.Equal(t, float32(b.Indices[0]), b.X.Float32s()[0])
			}
			err = it.Err()
			require.Error(t, err, "prefetch %d", prefetch)
			require.ErrorContains(t, err, "sample 13")
			if e, ok := value.(error); ok {
				require.ErrorIs(t, err, e)
			} else {
				require.ErrorContains(t, err, "index out of range")
			}
			require.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, got, "the batches before the failing one")
			_, ok := it.Next()
			require.False(t, ok, "the iterator stays ended")
			it.Close()
			require.Error(t, it.Err(), "Close keeps the failure")
		}
	}
}
