package tensor

import (
	"math"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// poison puts NaN-filled (or -7 for int32) buffers of every given length
// into the recycler, so the next dirty allocations of that size get them.
func poison(t *testing.T, dt DType, ns ...int) {
	t.Helper()
	for _, n := range ns {
		k := recycleKey{dt, n}
		for range recyclePerSize {
			switch dt {
			case Float32:
				b := makeHost[float32](n)
				for i := range b {
					b[i] = float32(math.NaN())
				}
				giveBuffer(k, b)
			case Float64:
				b := makeHost[float64](n)
				for i := range b {
					b[i] = math.NaN()
				}
				giveBuffer(k, b)
			case Int32:
				b := makeHost[int32](n)
				for i := range b {
					b[i] = -7
				}
				giveBuffer(k, b)
			}
		}
	}
}

// The conv and pool outputs that take recycled buffers overwrite every
// element: with the recycler full of NaN the results match the references.
// Under -short the largest case (wide image blocks, most of the time, in
// its float64 reference) is left out; the other paths still run.
func TestDirtyOutputs(t *testing.T) {
	g := NewGenerator(10)
	for i, tc := range []convCase{
		{8, 3, 40, 40, 16, 3, 3, 1, ConvParams{PadH: 1}},     // per image
		{128, 32, 8, 8, 64, 3, 3, 1, ConvParams{}},           // wide image blocks
		{16, 64, 16, 16, 64, 1, 1, 1, ConvParams{}},          // 1x1
		{16, 16, 20, 20, 32, 3, 3, 2, ConvParams{PadW: 1}},   // groups
		{2, 3, 300, 200, 2, 3, 3, 1, ConvParams{PadH: 1}},    // row blocks
		{128, 16, 9, 9, 32, 3, 3, 1, ConvParams{StrideH: 2}}, // strided image blocks
	} {
		if testing.Short() && i == 1 {
			continue
		}
		x := g.Normal(0, 1, Float32, tc.n, tc.c, tc.h, tc.w)
		w := g.Normal(0, 1, Float32, tc.o, tc.c/tc.groups, tc.kh, tc.kw)
		b := g.Normal(0, 1, Float32, tc.o)
		p := tc.p
		p.KH, p.KW = tc.kh, tc.kw
		oh, ow := p.OutSize(tc.h, tc.w)
		gy := g.Normal(0, 1, Float32, tc.n, tc.o, oh, ow)
		wantY, wantDX, _, _ := convRef64(tc, x.Float64s(), w.Float64s(), b.Float64s(), gy.Float64s())
		poison(t, Float32, tc.n*tc.o*oh*ow, x.NumElements())
		requireClose(t, wantY, Conv2d(x, w, b, tc.p, tc.groups), 1e-4, "forward")
		requireClose(t, wantY, Conv2d(x, w, b, tc.p, tc.groups), 1e-4, "forward")
		requireClose(t, wantDX, Conv2dBackwardInput(gy, w, x.Shape(), tc.p, tc.groups), 1e-4, "input gradient")
	}
	x := g.Normal(0, 1, Float32, 8, 16, 64, 64)
	for _, p := range []ConvParams{{KH: 2, KW: 2, StrideH: 2, StrideW: 2}, {KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}} {
		q := p.norm("test")
		oh, ow := q.OutSize(64, 64)
		gy := g.Normal(0, 1, Float32, 8, 16, oh, ow)
		poison(t, Float32, 8*16*oh*ow, x.NumElements())
		poison(t, Int32, 8*16*oh*ow)
		wantY, wantIdx, wantDX := poolRef64(x.Float64s(), gy.Float64s(), 8, 16, 64, 64, p, true)
		y, idx := MaxPool2d(x, p)
		requireClose(t, wantY, y, 1e-6, "max")
		require.Equal(t, wantIdx, ToSlice[int32](idx))
		requireClose(t, wantDX, MaxPool2dBackward(gy, idx, x.Shape(), p), 1e-6, "max backward")
		wantY, _, wantDX = poolRef64(x.Float64s(), gy.Float64s(), 8, 16, 64, 64, p, false)
		requireClose(t, wantY, AvgPool2d(x, p), 1e-6, "avg")
		requireClose(t, wantDX, AvgPool2dBackward(gy, x.Shape(), p), 1e-6, "avg backward")
	}
}

// A dirty buffer comes back to the recycler once unreachable, and not while
// a slice of it is held.
func TestRecycler(t *testing.T) {
	const n = 1<<18 + 3
	k := recycleKey{Float32, n}
	pooled := func() int {
		recycler.Lock()
		defer recycler.Unlock()
		return len(recycler.free[k])
	}
	held := HostData(allocDirty("test", CPU, Float32, []int{n}).Storage()).([]float32)
	allocDirty("test", CPU, Float32, []int{n})
	deadline := time.Now().Add(5 * time.Second)
	for pooled() == 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, 1, pooled(), "the dropped buffer is recycled, the held one is not")
	held[0] = 1
	runtime.KeepAlive(held)
	got := allocDirty("test", CPU, Float32, []int{n})
	require.Equal(t, 0, pooled())
	require.Equal(t, n, got.NumElements())
	// Small tensors, other dtypes and other devices are plain allocations.
	require.False(t, recyclable(CPU, Float32, 100))
	require.False(t, recyclable(CPU, Int64, n))
	require.False(t, recyclable(plainDevice{}, Float32, n))
	z := allocZeroed("test", CPU, Float32, []int{n})
	require.Zero(t, Sum(z, false).Item())
}

// Large host buffers start 64 bytes past a page boundary (hostPageOffset),
// fresh or recycled, for every dtype; small ones are plain allocations.
func TestLargeHostBuffersOffPage(t *testing.T) {
	addr := func(x *Tensor) uintptr { return uintptr(unsafe.Pointer(&HostBytes(x.Storage())[0])) }
	for _, dt := range []DType{Float32, Float64, BFloat16, Float16, Int32, Int64, Bool} {
		n := 1<<20 + 5
		x := Zeros(dt, n)
		require.Equal(t, uintptr(hostPageOffset), addr(x)%4096, "%v", dt)
		require.Len(t, HostBytes(x.Storage()), n*dt.Size())
		require.Zero(t, Sum(x.Cast(Float64), false).Item(), "%v: zeroed", dt)
		small := Zeros(dt, 100)
		require.Len(t, HostBytes(small.Storage()), 100*dt.Size())
	}
	// Go itself places large allocations on page boundaries: the offset is ours.
	raw := make([]float32, 1<<20)
	require.Zero(t, uintptr(unsafe.Pointer(&raw[0]))%4096)
	const n = 1<<18 + 7
	for range 3 {
		d := allocDirty("test", CPU, Float32, []int{n})
		require.Equal(t, uintptr(hostPageOffset), addr(d)%4096)
		b := HostData(d.Storage()).([]float32)
		require.Equal(t, n, len(b))
		require.Equal(t, n, cap(b), "no access past the tensor")
		runtime.GC()
	}
}
