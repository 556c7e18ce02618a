package argcheck

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

func buf(dt tensor.DType, shape ...int) collectives.Buffer {
	return collectives.Buffer{DType: dt, Count: tensor.Shape(shape).NumElements(), Shape: shape}
}

// group is the buffer Group's fusion passes for tensors of these shapes.
func group(dt tensor.DType, parts ...tensor.Shape) collectives.Buffer {
	n := 0
	for _, p := range parts {
		n += p.NumElements()
	}
	return collectives.Buffer{DType: dt, Count: n, Shape: tensor.Shape{n}, Parts: parts}
}

// world is an in-memory stand-in for a backend's two int64 collectives.
type world struct {
	n     int
	mu    sync.Mutex
	cond  *sync.Cond
	count int
	gen   int
	slots [][]int64
}

func newWorld(n int) *world {
	w := &world{n: n, slots: make([][]int64, n)}
	w.cond = sync.NewCond(&w.mu)
	return w
}

func (w *world) barrier() {
	w.mu.Lock()
	defer w.mu.Unlock()
	g := w.gen
	w.count++
	if w.count == w.n {
		w.count, w.gen = 0, w.gen+1
		w.cond.Broadcast()
		return
	}
	for g == w.gen {
		w.cond.Wait()
	}
}

func (w *world) exchange(r int) Exchange {
	return Exchange{
		MaxReduce: func(words []int64) error {
			w.slots[r] = append([]int64(nil), words...)
			w.barrier()
			for _, s := range w.slots {
				for i := range words {
					words[i] = max(words[i], s[i])
				}
			}
			w.barrier()
			return nil
		},
		Gather: func(dst, src []int64) error {
			w.slots[r] = append([]int64(nil), src...)
			w.barrier()
			for q, s := range w.slots {
				copy(dst[q*len(src):], s)
			}
			w.barrier()
			return nil
		},
	}
}

// agree runs Agree on one rank per call and returns each rank's error.
func agree(k collectives.Kind, calls ...Call) []error {
	w := newWorld(len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for r, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = Agree(k, len(calls), c, w.exchange(r))
		}()
	}
	wg.Wait()
	return errs
}

// sameOnAll checks that every rank got the same mismatch error and returns it.
func sameOnAll(t *testing.T, errs []error) string {
	t.Helper()
	for _, err := range errs {
		require.ErrorIs(t, err, collectives.ErrMismatch)
		require.Equal(t, errs[0].Error(), err.Error())
	}
	return errs[0].Error()
}

func TestAgreeAndMismatch(t *testing.T) {
	k := collectives.KindAllReduce
	none := collectives.Buffer{}
	a := Describe(k, collectives.Sum, 0, buf(tensor.Float32, 4, 3), none)
	b := Describe(k, collectives.Sum, 0, buf(tensor.Float32, 4, 4), none)
	for _, err := range agree(k, a, a, a) {
		require.NoError(t, err)
	}
	require.Contains(t, sameOnAll(t, agree(k, a, a, b)), "rank 0 passed float32[4 3] but rank 2 passed float32[4 4]")

	c := Describe(k, collectives.Sum, 0, buf(tensor.Float64, 4, 3), none)
	require.Contains(t, sameOnAll(t, agree(k, a, c)), "float64[4 3]")
	d := Describe(collectives.KindBroadcast, 0, 1, buf(tensor.Float32, 4, 3), none)
	require.Contains(t, sameOnAll(t, agree(k, a, d)), "rank 0 called AllReduce but rank 1 called Broadcast")
	e := Describe(k, collectives.Max, 0, buf(tensor.Float32, 4, 3), none)
	require.Contains(t, sameOnAll(t, agree(k, a, e)), "op sum but rank 1 passed op max")
	r := Describe(collectives.KindBroadcast, 0, 0, buf(tensor.Float32, 4, 3), none)
	require.Contains(t, sameOnAll(t, agree(k, r, d)), "root 0 but rank 1 passed root 1")
	ag := collectives.KindAllGather
	g := Describe(ag, 0, 0, buf(tensor.Int32, 8), buf(tensor.Int32, 4))
	g2 := Describe(ag, 0, 0, buf(tensor.Int32, 8), buf(tensor.Int32, 2, 2))
	require.Contains(t, sameOnAll(t, agree(ag, g, g2)), "src int32[4] but rank 1 passed src int32[2 2]")
	// Shapes past the header's four dims are compared in full.
	big := Describe(k, 0, 0, buf(tensor.Float32, 1, 1, 1, 1, 2, 3), none)
	big2 := Describe(k, 0, 0, buf(tensor.Float32, 1, 1, 1, 1, 3, 2), none)
	require.Contains(t, sameOnAll(t, agree(k, big, big2)), "rank 0 passed float32[1 1 1 1 2 3] but rank 1 passed float32[1 1 1 1 3 2]")
}

// TestGroupSignature: fused groups with equal totals but different calls
// (issue 11 item 1) disagree, and the error lists both ranks' calls.
func TestGroupSignature(t *testing.T) {
	k := collectives.KindAllReduce
	none := collectives.Buffer{}
	f32 := tensor.Float32
	g35 := Describe(k, 0, 0, group(f32, tensor.Shape{3}, tensor.Shape{5}), none)
	g53 := Describe(k, 0, 0, group(f32, tensor.Shape{5}, tensor.Shape{3}), none)
	require.Equal(t, g35.Head[:wDetailLen], g53.Head[:wDetailLen], "the fixed words alone cannot tell them apart")
	for _, err := range agree(k, g35, g35) {
		require.NoError(t, err)
	}
	msg := sameOnAll(t, agree(k, g35, g53, g35))
	require.Contains(t, msg, "rank 0 passed group of 2 (float32[3], float32[5]) but rank 1 passed group of 2 (float32[5], float32[3])")

	g23 := Describe(k, 0, 0, group(f32, tensor.Shape{2, 3}, tensor.Shape{4}), none)
	g6 := Describe(k, 0, 0, group(f32, tensor.Shape{6}, tensor.Shape{4}), none)
	require.Contains(t, sameOnAll(t, agree(k, g23, g6)), "group of 2 (float32[2 3], float32[4]) but rank 1 passed group of 2 (float32[6], float32[4])")

	// A group against one tensor of the same total.
	one := Describe(k, 0, 0, buf(f32, 8), none)
	require.Contains(t, sameOnAll(t, agree(k, g35, one)), "group of 2 (float32[3], float32[5]) but rank 1 passed float32[8]")

	// Long groups: the message shows the calls around the first difference.
	long := make([]tensor.Shape, 40)
	for i := range long {
		long[i] = tensor.Shape{i + 1}
	}
	long2 := append([]tensor.Shape(nil), long...)
	long2[30], long2[31] = long[31], long[30]
	msg = sameOnAll(t, agree(k, Describe(k, 0, 0, group(f32, long...), none), Describe(k, 0, 0, group(f32, long2...), none)))
	require.Contains(t, msg, "group of 40 (... 28 calls, float32[29], float32[30], float32[31], float32[32]")
	require.Contains(t, msg, "group of 40 (... 28 calls, float32[29], float32[30], float32[32], float32[31]")

	// Past MaxDetail words the hash still tells them apart.
	huge := make([]tensor.Shape, MaxDetail)
	for i := range huge {
		huge[i] = tensor.Shape{1}
	}
	huge2 := append([]tensor.Shape(nil), huge...)
	huge2[MaxDetail-1], huge2[MaxDetail-2] = tensor.Shape{2}, tensor.Shape{0}
	msg = sameOnAll(t, agree(k, Describe(k, 0, 0, group(f32, huge...), none), Describe(k, 0, 0, group(f32, huge2...), none)))
	require.Contains(t, msg, "differs after the first")
}

func TestPackNegationSafe(t *testing.T) {
	for _, shape := range [][]int{{1}, {7, 9}, {1 << 40}} {
		c := Describe(collectives.KindAllReduce, 0, 0, buf(tensor.Float32, shape...), collectives.Buffer{})
		require.GreaterOrEqual(t, c.Head[wDetailHash], int64(0))
		require.Less(t, c.Head[wDetailHash], int64(1)<<62)
	}
}

func TestHeadDesc(t *testing.T) {
	h := Describe(collectives.KindSend, 0, 0, buf(tensor.Int32, 4, 3), collectives.Buffer{}).Head
	require.Equal(t, "int32[4 3]", HeadDesc(h[:]))
	dt, n := HeadBuffer(h[:])
	require.Equal(t, tensor.Int32, dt)
	require.Equal(t, 12, n)
	h = Describe(collectives.KindSend, 0, 0, buf(tensor.Float64, 1, 2, 3, 4, 5), collectives.Buffer{}).Head
	require.Equal(t, "float64[120 elements in 5 dims]", HeadDesc(h[:]))
}
