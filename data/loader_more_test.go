package data

import (
	"bytes"
	"context"
	"runtime"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShardedEpochs: for several epochs, shuffled and sharded over 4 ranks
// (prefetching), with and without DropUneven and DropLast, every rank's
// shard is what Indices promises; the shards of one epoch are disjoint
// (DropUneven) or cover the set with only wrap-around repeats; all ranks cut
// one shared permutation (interleaving the shards gives the unsharded
// loader's order); DropLast yields only full batches; the shards change
// from epoch to epoch and do not depend on the order epochs are asked for.
func TestShardedEpochs(t *testing.T) {
	const n, w, bs = 103, 4, 5
	ds := rangeDataset(n)
	for _, dropUneven := range []bool{false, true} {
		for _, dropLast := range []bool{false, true} {
			mk := func(rank, world int) *Loader {
				l, err := NewLoader(ds, LoaderOptions{BatchSize: bs, Shuffle: true, Seed: 11, Rank: rank, WorldSize: world,
					DropUneven: dropUneven, DropLast: dropLast, Prefetch: 2})
				require.NoError(t, err)
				return l
			}
			whole := mk(0, 1)
			var prev0 []int
			for epoch := 3; epoch >= 0; epoch-- { // out of order on purpose
				shards := make([][]int, w)
				for r := range w {
					l := mk(r, w)
					bsx := collect(t, l, epoch)
					require.Len(t, bsx, l.NumBatches())
					for _, b := range bsx {
						if dropLast {
							require.Len(t, b.Indices, bs, "DropLast leaves only full batches")
						}
						require.Equal(t, len(b.Indices), int(b.X.Shape()[0]))
					}
					got := flatIndices(bsx)
					require.Len(t, got, l.NumSamples())
					idx := l.Indices(epoch)
					require.Equal(t, idx[:len(got)], got, "rank %d epoch %d", r, epoch)
					shards[r] = idx
				}
				// interleaving the shards gives the shared permutation
				order := whole.Indices(epoch)
				for i := range len(shards[0]) * w {
					want := order[i%n]
					if dropUneven && i >= n/w*w {
						break
					}
					require.Equal(t, want, shards[i%w][i/w], "position %d", i)
				}
				count := map[int]int{}
				for _, s := range shards {
					for _, i := range s {
						count[i]++
					}
				}
				if dropUneven {
					require.Len(t, count, n/w*w)
					for i, c := range count {
						require.Equal(t, 1, c, "sample %d in %d shards", i, c)
					}
				} else {
					require.Len(t, count, n, "the shards cover the set")
					extra := 0
					for _, c := range count {
						extra += c - 1
					}
					require.Equal(t, (n+w-1)/w*w-n, extra)
				}
				if prev0 != nil {
					assert.NotEqual(t, prev0, shards[0], "rank 0's shard must change between epochs")
				}
				prev0 = shards[0]
				// Indices is a pure function of (seed, epoch, rank, world).
				require.Equal(t, shards[1], mk(1, w).Indices(epoch))
			}
		}
	}
}

// TestPrefetchEarlyCloseNoLeakSharded: iterators of sharded, prefetching
// loaders closed before their first Next, after one batch, or with a
// prefetch depth larger than the epoch leave no goroutine behind.
func TestPrefetchEarlyCloseNoLeakSharded(t *testing.T) {
	base := runtime.NumGoroutine()
	for _, prefetch := range []int{1, 3, 50} {
		var its []*Iterator
		for r := range 3 {
			l, err := NewLoader(rangeDataset(61), LoaderOptions{BatchSize: 4, Shuffle: true, Seed: 3, Rank: r, WorldSize: 3, Prefetch: prefetch})
			require.NoError(t, err)
			its = append(its, l.Epoch(context.Background(), r))
			it := l.Epoch(context.Background(), 0)
			_, ok := it.Next()
			require.True(t, ok)
			its = append(its, it)
		}
		if prefetch < 6 { // 6 batches per rank: with a deeper queue the producers may be done already
			require.Greater(t, runtime.NumGoroutine(), base, "prefetching must run on goroutines")
		}
		for _, it := range its {
			it.Close()
			_, ok := it.Next()
			require.False(t, ok)
			require.NoError(t, it.Err())
		}
		waitGoroutines(t, base)
	}
}

// TestReadIDXGzipMembers: gzip input made of several members (as `cat a.gz
// b.gz` or pigz produce) reads as their concatenation, through ReadIDX and
// LoadMNIST's file path; a gzip stream followed by junk is a format error.
func TestReadIDXGzipMembers(t *testing.T) {
	body := make([]byte, 3*4*5)
	for i := range body {
		body[i] = byte(i*37 + 1)
	}
	raw := idxBytes(0x08, []uint32{3, 4, 5}, body)
	for _, cut := range []int{1, 4, 13, len(raw) - 1} {
		multi := append(gz(t, raw[:cut]), gz(t, raw[cut:])...)
		x, err := ReadIDX(bytes.NewReader(multi))
		require.NoError(t, err, "cut at %d", cut)
		require.Equal(t, []int{3, 4, 5}, x.Dims)
		require.Equal(t, body, x.Data)
	}
	junk := append(gz(t, raw), 'x', 'y', 'z')
	_, err := ReadIDX(bytes.NewReader(junk))
	require.ErrorIs(t, err, ErrFormat)
	// trailing bytes inside the gzip stream are also an error
	_, err = ReadIDX(bytes.NewReader(gz(t, append(slices.Clone(raw), 0))))
	require.ErrorIs(t, err, ErrFormat)
}
