package data

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/tensor"
)

// rangeDataset has n samples of shape [2]; sample i is (i, -i), target i%3.
func rangeDataset(n int) *ArrayDataset {
	d := &ArrayDataset{Shape: []int{2}}
	for i := 0; i < n; i++ {
		d.X = append(d.X, float32(i), float32(-i))
		d.Y = append(d.Y, int64(i%3))
	}
	return d
}

func collect(t *testing.T, l *Loader, epoch int) []Batch {
	t.Helper()
	it := l.Epoch(context.Background(), epoch)
	defer it.Close()
	var out []Batch
	for b, ok := it.Next(); ok; b, ok = it.Next() {
		out = append(out, b)
	}
	require.NoError(t, it.Err())
	return out
}

func flatIndices(bs []Batch) []int {
	var out []int
	for _, b := range bs {
		out = append(out, b.Indices...)
	}
	return out
}

func TestLoaderBatches(t *testing.T) {
	d := rangeDataset(10)
	l, err := NewLoader(d, LoaderOptions{BatchSize: 3})
	require.NoError(t, err)
	bs := collect(t, l, 0)
	require.Len(t, bs, 4)
	assert.Equal(t, 4, l.NumBatches())
	assert.Equal(t, 10, l.NumSamples())
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, flatIndices(bs))
	b := bs[1]
	assert.Equal(t, tensor.Shape{3, 2}, b.X.Shape())
	assert.Equal(t, tensor.Float32, b.X.DType())
	assert.Equal(t, tensor.Shape{3}, b.Y.Shape())
	assert.Equal(t, tensor.Int64, b.Y.DType())
	assert.Equal(t, []float32{3, -3, 4, -4, 5, -5}, tensor.ToSlice[float32](b.X))
	assert.Equal(t, []int64{0, 1, 2}, tensor.ToSlice[int64](b.Y))
	assert.Equal(t, tensor.Shape{1, 2}, bs[3].X.Shape())

	l, err = NewLoader(d, LoaderOptions{BatchSize: 3, Device: tensor.CPU, Prefetch: 1})
	require.NoError(t, err)
	bs = collect(t, l, 0)
	require.Len(t, bs, 4)
	assert.Equal(t, tensor.CPU.Name(), bs[0].X.Device().Name())
	assert.Equal(t, []float32{0, 0, 1, -1, 2, -2}, tensor.ToSlice[float32](bs[0].X))

	l, err = NewLoader(d, LoaderOptions{BatchSize: 3, DropLast: true})
	require.NoError(t, err)
	bs = collect(t, l, 0)
	require.Len(t, bs, 3)
	assert.Equal(t, 3, l.NumBatches())
	assert.Equal(t, 9, l.NumSamples())
	for _, b := range bs {
		assert.Len(t, b.Indices, 3)
	}

	// Batches carry the right samples for a shuffled, multi-dimensional set.
	digits := Digits()
	l, err = NewLoader(digits, LoaderOptions{BatchSize: 64, Shuffle: true, Seed: 5, Prefetch: 2})
	require.NoError(t, err)
	bs = collect(t, l, 3)
	require.Len(t, bs, 29)
	x := make([]float32, 64)
	for _, b := range bs {
		xs := tensor.ToSlice[float32](b.X)
		ys := tensor.ToSlice[int64](b.Y)
		assert.Equal(t, tensor.Shape{len(b.Indices), 8, 8}, b.X.Shape())
		for k, i := range b.Indices {
			y := digits.Sample(i, x)
			require.Equal(t, y, ys[k])
			require.Equal(t, x, xs[k*64:(k+1)*64])
		}
	}
	idx := flatIndices(bs)
	slices.Sort(idx)
	for i, v := range idx {
		require.Equal(t, i, v)
	}
}

func TestLoaderShuffleDeterminism(t *testing.T) {
	d := rangeDataset(100)
	mk := func(seed uint64, prefetch int) *Loader {
		l, err := NewLoader(d, LoaderOptions{BatchSize: 8, Shuffle: true, Seed: seed, Prefetch: prefetch})
		require.NoError(t, err)
		return l
	}
	a0 := flatIndices(collect(t, mk(1, 0), 0))
	assert.Equal(t, a0, flatIndices(collect(t, mk(1, 3), 0)), "prefetch does not change the order")
	assert.Equal(t, a0, flatIndices(collect(t, mk(1, 0), 0)), "same seed and epoch, same order")
	assert.Equal(t, a0, mk(1, 0).Indices(0))
	a1 := flatIndices(collect(t, mk(1, 0), 1))
	assert.NotEqual(t, a0, a1, "epochs permute differently")
	assert.NotEqual(t, a0, flatIndices(collect(t, mk(2, 0), 0)), "seeds permute differently")
	s0, s1 := slices.Sorted(slices.Values(a0)), slices.Sorted(slices.Values(a1))
	assert.Equal(t, s0, s1)
	// Pinned: the epoch order is the same on every machine and Go version.
	assert.Equal(t, loaderGolden, mk(0, 0).Indices(0)[:10])
}

var loaderGolden = []int{84, 34, 0, 88, 63, 99, 73, 60, 39, 1}

func TestLoaderSharding(t *testing.T) {
	for _, n := range []int{12, 10, 3, 1} {
		for _, dropUneven := range []bool{false, true} {
			const w = 4
			seen := map[int]int{}
			var counts []int
			for r := 0; r < w; r++ {
				l, err := NewLoader(rangeDataset(n), LoaderOptions{
					BatchSize: 2, Shuffle: true, Seed: 9, Rank: r, WorldSize: w, DropUneven: dropUneven, Prefetch: 1,
				})
				require.NoError(t, err)
				idx := flatIndices(collect(t, l, 2))
				assert.True(t, slices.Equal(l.Indices(2), idx))
				assert.Equal(t, l.NumSamples(), len(idx))
				counts = append(counts, len(idx))
				for _, i := range idx {
					seen[i]++
				}
			}
			for r := 1; r < w; r++ {
				assert.Equal(t, counts[0], counts[r], "every rank gets the same count")
			}
			if dropUneven {
				assert.Equal(t, n/w, counts[0])
				assert.Len(t, seen, n/w*w, "n=%d", n)
				for i, c := range seen {
					assert.Equal(t, 1, c, "sample %d seen once", i)
				}
			} else {
				assert.Equal(t, (n+w-1)/w, counts[0])
				assert.Len(t, seen, n, "the shards cover the set (n=%d)", n)
				dup := 0
				for _, c := range seen {
					dup += c - 1
				}
				assert.Equal(t, counts[0]*w-n, dup, "only the wrap-around padding repeats")
			}
		}
	}
}

func TestLoaderOptionsErrors(t *testing.T) {
	d := rangeDataset(4)
	for _, o := range []LoaderOptions{
		{BatchSize: 0},
		{BatchSize: 1, Rank: 2, WorldSize: 2},
		{BatchSize: 1, Rank: -1, WorldSize: 2},
		{BatchSize: 1, Rank: 1},
		{BatchSize: 1, WorldSize: -1},
		{BatchSize: 1, Prefetch: -1},
	} {
		_, err := NewLoader(d, o)
		assert.Error(t, err, "%+v", o)
	}
	_, err := NewLoader(nil, LoaderOptions{BatchSize: 1})
	assert.Error(t, err)
}

// waitGoroutines waits until the number of goroutines drops to at most n.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines leaked: %d > %d\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoaderPrefetchNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	l, err := NewLoader(rangeDataset(1000), LoaderOptions{BatchSize: 4, Prefetch: 2, Shuffle: true})
	require.NoError(t, err)

	// Full epoch.
	bs := collect(t, l, 0)
	assert.Len(t, bs, 250)
	waitGoroutines(t, base)

	// Early Close, twice.
	it := l.Epoch(context.Background(), 1)
	_, ok := it.Next()
	require.True(t, ok)
	it.Close()
	it.Close()
	_, ok = it.Next()
	assert.False(t, ok)
	assert.NoError(t, it.Err())
	waitGoroutines(t, base)

	// Context cancellation mid-epoch.
	ctx, cancel := context.WithCancel(context.Background())
	it = l.Epoch(ctx, 2)
	_, ok = it.Next()
	require.True(t, ok)
	cancel()
	_, ok = it.Next()
	assert.False(t, ok)
	assert.ErrorIs(t, it.Err(), context.Canceled)
	it.Close()
	assert.ErrorIs(t, it.Err(), context.Canceled)
	waitGoroutines(t, base)

	// An iterator abandoned without Close stops when its context ends...
	ctx, cancel = context.WithCancel(context.Background())
	_ = l.Epoch(ctx, 3)
	cancel()
	waitGoroutines(t, base)

	// ... or when the garbage collector finds it.
	func() {
		it := l.Epoch(context.Background(), 4)
		_, ok := it.Next()
		require.True(t, ok)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	waitGoroutines(t, base)
}

func TestIteratorEndState(t *testing.T) {
	l, err := NewLoader(rangeDataset(5), LoaderOptions{BatchSize: 2})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	it := l.Epoch(ctx, 0)
	assert.Equal(t, 3, it.Len())
	n := 0
	for _, ok := it.Next(); ok; _, ok = it.Next() {
		n++
	}
	assert.Equal(t, 3, n)
	cancel() // after the end, a cancellation is not an error
	_, ok := it.Next()
	assert.False(t, ok)
	assert.NoError(t, it.Err())
	it.Close()
	assert.NoError(t, it.Err())
}

// blockingDataset blocks in Sample until release is closed.
type blockingDataset struct {
	*ArrayDataset
	release chan struct{}
	once    sync.Once
	started chan struct{}
}

func (b *blockingDataset) Sample(i int, x []float32) int64 {
	b.once.Do(func() { close(b.started) })
	<-b.release
	return b.ArrayDataset.Sample(i, x)
}

func TestLoaderCloseWhileNextBlocks(t *testing.T) {
	base := runtime.NumGoroutine()
	ds := &blockingDataset{ArrayDataset: rangeDataset(10), release: make(chan struct{}), started: make(chan struct{})}
	l, err := NewLoader(ds, LoaderOptions{BatchSize: 2, Prefetch: 1})
	require.NoError(t, err)
	it := l.Epoch(context.Background(), 0)
	<-ds.started
	done := make(chan bool)
	go func() {
		_, ok := it.Next()
		done <- ok
	}()
	time.Sleep(10 * time.Millisecond)
	closed := make(chan struct{})
	go func() {
		it.Close() // waits for the producer, which is blocked in Sample
		close(closed)
	}()
	assert.False(t, <-done, "Next returns false once Close is called")
	close(ds.release)
	<-closed
	waitGoroutines(t, base)
}

func TestArrayDatasetTensors(t *testing.T) {
	d := rangeDataset(3)
	x, y := d.Tensors()
	assert.Equal(t, tensor.Shape{3, 2}, x.Shape())
	assert.Equal(t, tensor.Shape{3}, y.Shape())
	assert.Equal(t, d.X, tensor.ToSlice[float32](x))
}
