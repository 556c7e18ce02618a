package cuda_test

// GPU tests: they skip without a GPU and fail when TESSERA_REQUIRE_GPU=1
// (see internal/testutil). Run them on the GPU machine with
// scripts/gpu-tests.sh. Every numerical check compares with a float64 (or
// bit-exact) CPU reference and states its tolerance.

import (
	"errors"
	"math"
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/internal/testutil"
)

func randF32(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}

// upload allocates from the caching allocator and copies x to the device.
func upload[T cuda.Scalar](t *testing.T, d *cuda.Device, x []T) cuda.DevicePtr {
	t.Helper()
	var z T
	n := int64(len(x)) * int64(sizeof(z))
	p, err := d.Alloc(n, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Free(p, nil) })
	require.NoError(t, cuda.CopyToDevice(d, p, x))
	return p
}

func sizeof[T cuda.Scalar](z T) int { return len(cuda.AsBytes([]T{z})) }

func alloc(t *testing.T, d *cuda.Device, bytes int64) cuda.DevicePtr {
	t.Helper()
	p, err := d.Alloc(bytes, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Free(p, nil) })
	return p
}

func download[T cuda.Scalar](t *testing.T, d *cuda.Device, p cuda.DevicePtr, n int) []T {
	t.Helper()
	out := make([]T, n)
	require.NoError(t, d.Synchronize())
	require.NoError(t, cuda.CopyFromDevice(d, out, p))
	return out
}

func kernels(t *testing.T) (*cuda.Device, *cuda.Kernels) {
	d := testutil.RequireGPU(t)
	k, err := d.Kernels()
	require.NoError(t, err)
	return d, k
}

func TestGPUDeviceQuery(t *testing.T) {
	d := testutil.RequireGPU(t)
	info := cuda.Info()
	t.Logf("\n%s", info)
	require.True(t, info.Available)
	assert.GreaterOrEqual(t, info.DriverVersion, 11080)
	assert.NotEmpty(t, info.DriverLibrary)
	p := d.Properties()
	assert.NotEmpty(t, p.Name)
	assert.GreaterOrEqual(t, p.Major, 7)
	assert.Greater(t, p.MultiProcessors, 0)
	assert.Greater(t, p.TotalMem, uint64(1<<30))
	assert.Equal(t, 32, p.WarpSize)
	free, total, err := d.MemInfo()
	require.NoError(t, err)
	assert.LessOrEqual(t, free, total)
	n, err := cuda.DeviceCount()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, n, 1)
	d2, err := cuda.Open(0)
	require.NoError(t, err)
	assert.Same(t, d, d2)
}

func TestGPUAllocCopyRoundTrip(t *testing.T) {
	d := testutil.RequireGPU(t)
	rng := rand.New(rand.NewSource(1))
	x := randF32(rng, 100_003)
	a := upload(t, d, x)
	b := alloc(t, d, int64(4*len(x)))
	require.NoError(t, d.MemcpyDtoD(b, a, int64(4*len(x))))
	assert.Equal(t, x, download[float32](t, d, b, len(x)))

	// Raw (uncached) allocation.
	r, err := d.MallocRaw(1 << 20)
	require.NoError(t, err)
	require.NoError(t, d.MemsetD32Async(r, math.Float32bits(2.5), 1<<18, nil))
	got := download[float32](t, d, r, 1<<18)
	assert.Equal(t, float32(2.5), got[0])
	assert.Equal(t, float32(2.5), got[len(got)-1])
	require.NoError(t, d.FreeRaw(r))

	// Asynchronous copies through pinned memory on a stream.
	s, err := d.NewStream(true)
	require.NoError(t, err)
	defer s.Destroy()
	hb, err := d.NewHostBuffer(4*len(x), 0)
	require.NoError(t, err)
	defer hb.Free()
	copy(cuda.HostSlice[float32](hb), x)
	c, err := d.Alloc(int64(4*len(x)), s)
	require.NoError(t, err)
	require.NoError(t, d.MemcpyHtoDAsync(c, hb.Bytes(), s))
	back := make([]float32, len(x))
	require.NoError(t, d.MemcpyDtoHAsync(cuda.AsBytes(back), c, s))
	require.NoError(t, s.Sync())
	assert.Equal(t, x, back)
	require.NoError(t, d.Free(c, s))

	st := d.Allocator().Stats()
	assert.Greater(t, st.Reserved, int64(0))
	assert.Greater(t, st.NumAllocs, int64(0))
}

func TestGPUEventsTiming(t *testing.T) {
	d, k := kernels(t)
	start, err := d.NewEvent(true)
	require.NoError(t, err)
	defer start.Destroy()
	end, err := d.NewEvent(true)
	require.NoError(t, err)
	defer end.Destroy()
	n := int64(64 << 20)
	p := alloc(t, d, 4*n)
	require.NoError(t, start.Record(nil))
	for i := 0; i < 5; i++ {
		require.NoError(t, k.Launch1D(cuda.FillKernel(cuda.F32), n, nil, n, float32(1), p))
	}
	require.NoError(t, end.Record(nil))
	require.NoError(t, end.Synchronize())
	done, err := end.Done()
	require.NoError(t, err)
	assert.True(t, done)
	el, err := cuda.Elapsed(start, end)
	require.NoError(t, err)
	t.Logf("5 fills of %d MiB: %v (%.0f GB/s)", 4*n>>20, el, float64(5*4*n)/el.Seconds()/1e9)
	assert.Greater(t, el, time.Duration(0))
	assert.Less(t, el, 10*time.Second)
}

func TestGPUOutOfMemory(t *testing.T) {
	d := testutil.RequireGPU(t)
	// Allocate 1 GiB chunks until the driver refuses.
	var ps []cuda.DevicePtr
	defer func() {
		for _, p := range ps {
			_ = d.FreeRaw(p)
		}
	}()
	var err error
	for i := 0; i < 1024; i++ {
		var p cuda.DevicePtr
		if p, err = d.MallocRaw(1 << 30); err != nil {
			break
		}
		ps = append(ps, p)
	}
	require.Error(t, err, "allocating 1 TiB should fail")
	assert.True(t, errors.Is(err, cuda.ErrOutOfMemory), "%v", err)
	var ce *cuda.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "cuMemAlloc_v2", ce.Call)
	assert.Equal(t, cuda.ErrorOutOfMemory, ce.Code)
	assert.Contains(t, ce.Name, "OUT_OF_MEMORY")
	t.Logf("OOM after %d GiB: %v", len(ps), err)
	for _, p := range ps {
		require.NoError(t, d.FreeRaw(p))
	}
	ps = nil

	// The caching allocator: a request larger than the device fails with
	// ErrOutOfMemory after running its GC hook and releasing the cache.
	_, total, err := d.MemInfo()
	require.NoError(t, err)
	_, err = d.Alloc(int64(total)*2, nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, cuda.ErrOutOfMemory), "%v", err)
	var oom *cuda.OOMError
	require.ErrorAs(t, err, &oom)
	assert.GreaterOrEqual(t, d.Allocator().Stats().OOMs, int64(1))
}

func TestGPUBadPTXReportsJITLog(t *testing.T) {
	d := testutil.RequireGPU(t)
	_, err := d.LoadModule([]byte(".version 7.8\n.target sm_70\n.address_size 64\n.visible .entry broken( { bogus_instruction; }\n"))
	require.Error(t, err)
	var ce *cuda.Error
	require.ErrorAs(t, err, &ce)
	assert.NotEmpty(t, ce.Log, "the JIT error log is attached")
	t.Logf("%v", err)
}

func TestGPUBinaryBroadcastAndUnary(t *testing.T) {
	d, k := kernels(t)
	rng := rand.New(rand.NewSource(2))
	const R, C = 37, 129
	a := randF32(rng, R*C)
	b := randF32(rng, C) // broadcast over rows
	pa, pb := upload(t, d, a), upload(t, d, b)
	out := alloc(t, d, 4*R*C)
	desc := cuda.Strided{Shape: []int64{R, C}, Strides: [3][]int64{{C, 1}, {C, 1}, {0, 1}}}
	require.NoError(t, k.Launch1D(cuda.BinaryKernel("mul", cuda.F32), R*C, nil, int64(R*C), desc, pa, pb, out))
	got := download[float32](t, d, out, R*C)
	for i := 0; i < R; i++ {
		for j := 0; j < C; j++ {
			require.Equal(t, a[i*C+j]*b[j], got[i*C+j], "exact: one rounding in both")
		}
	}
	// Transposed (strided) input through exp: out[j, i] = exp(a[i, j]).
	tdesc := cuda.Strided{Shape: []int64{C, R}, Strides: [3][]int64{{R, 1}, {1, C}, {0, 0}}}
	require.NoError(t, k.Launch1D(cuda.UnaryKernel("exp", cuda.F32), R*C, nil, int64(R*C), tdesc, pa, out))
	got = download[float32](t, d, out, R*C)
	for i := 0; i < R; i++ {
		for j := 0; j < C; j++ {
			want := math.Exp(float64(a[i*C+j]))
			require.InDelta(t, want, float64(got[j*R+i]), 3e-7*want, "expf: within 2 ulp (2 * 2^-23 relative)")
		}
	}
}

func TestGPUCastsBitExact(t *testing.T) {
	d, k := kernels(t)
	rng := rand.New(rand.NewSource(3))
	n := 1 << 16
	x := make([]float32, n)
	for i := range x {
		x[i] = math.Float32frombits(rng.Uint32())
		if math.IsNaN(float64(x[i])) {
			x[i] = 1
		}
	}
	px := upload(t, d, x)
	out := alloc(t, d, int64(2*n))
	desc := cuda.Strided{Shape: []int64{int64(n)}, Strides: [3][]int64{{1}, {1}, {0}}}
	for _, c := range []struct {
		to  cuda.DType
		ref func(float64) uint16
	}{{cuda.F16, cuda.RefF16}, {cuda.BF16, cuda.RefBF16}} {
		require.NoError(t, k.Launch1D(cuda.CastKernel(cuda.F32, c.to), int64(n), nil, int64(n), desc, px, out))
		got := download[uint16](t, d, out, n)
		for i := range x {
			require.Equal(t, c.ref(float64(x[i])), got[i], "%s of %g", c.to, x[i])
		}
	}
}

func TestGPURowKernels(t *testing.T) {
	d, k := kernels(t)
	rng := rand.New(rand.NewSource(4))
	const R, C = 19, 1000
	x := randF32(rng, R*C)
	for i := range x {
		x[i] *= 5
	}
	px := upload(t, d, x)
	out := alloc(t, d, 4*R*C)
	row := func(r int) []float32 { return x[r*C : (r+1)*C] }

	// Sum and max per row (tolerance: float32 accumulation of 1000 terms,
	// |err| <= 1e-5 * sum|x|).
	require.NoError(t, k.LaunchRows(cuda.ReduceKernel("sum", cuda.F32), R, nil, int64(R), int64(C), px, out, float32(1)))
	sums := download[float32](t, d, out, R)
	require.NoError(t, k.LaunchRows(cuda.ReduceKernel("max", cuda.F32), R, nil, int64(R), int64(C), px, out, float32(1)))
	maxs := download[float32](t, d, out, R)
	for r := 0; r < R; r++ {
		s, sa, m := 0.0, 0.0, math.Inf(-1)
		for _, v := range row(r) {
			s += float64(v)
			sa += math.Abs(float64(v))
			m = math.Max(m, float64(v))
		}
		assert.InDelta(t, s, float64(sums[r]), 1e-5*sa)
		assert.Equal(t, float32(m), maxs[r])
	}

	// Softmax and log-softmax vs float64 (rel 1e-5 / abs 1e-5).
	require.NoError(t, k.LaunchRows(cuda.RowKernel("softmax", cuda.F32), R, nil, int64(R), int64(C), px, out))
	sm := download[float32](t, d, out, R*C)
	require.NoError(t, k.LaunchRows(cuda.RowKernel("log_softmax", cuda.F32), R, nil, int64(R), int64(C), px, out))
	lsm := download[float32](t, d, out, R*C)
	for r := 0; r < R; r++ {
		m := math.Inf(-1)
		for _, v := range row(r) {
			m = math.Max(m, float64(v))
		}
		z := 0.0
		for _, v := range row(r) {
			z += math.Exp(float64(v) - m)
		}
		for c, v := range row(r) {
			ls := float64(v) - m - math.Log(z)
			assert.InDelta(t, math.Exp(ls), float64(sm[r*C+c]), 1e-5*math.Exp(ls)+1e-9)
			assert.InDelta(t, ls, float64(lsm[r*C+c]), 1e-5*math.Abs(ls)+1e-5)
		}
	}

	// Layer norm forward with affine parameters (abs 1e-4 on unit-scale output).
	gamma, beta := randF32(rng, C), randF32(rng, C)
	pg, pb := upload(t, d, gamma), upload(t, d, beta)
	mean, rstd := alloc(t, d, 4*R), alloc(t, d, 4*R)
	require.NoError(t, k.LaunchRows(cuda.RowKernel("layernorm_fwd", cuda.F32), R, nil,
		int64(R), int64(C), px, pg, pb, float32(1e-5), out, mean, rstd))
	y := download[float32](t, d, out, R*C)
	for r := 0; r < R; r++ {
		mu, v := 0.0, 0.0
		for _, e := range row(r) {
			mu += float64(e)
		}
		mu /= C
		for _, e := range row(r) {
			v += (float64(e) - mu) * (float64(e) - mu)
		}
		rs := 1 / math.Sqrt(v/C+1e-5)
		for c, e := range row(r) {
			want := (float64(e)-mu)*rs*float64(gamma[c]) + float64(beta[c])
			require.InDelta(t, want, float64(y[r*C+c]), 1e-4)
		}
	}

	// Cross-entropy forward: loss = logsumexp - logit[target] (abs 1e-4).
	tgt := make([]int64, R)
	for i := range tgt {
		tgt[i] = int64(rng.Intn(C))
	}
	tgt[3] = -100 // ignored
	pt := upload(t, d, tgt)
	lse := alloc(t, d, 4*R)
	require.NoError(t, k.LaunchRows(cuda.RowKernel("cross_entropy_fwd", cuda.F32), R, nil,
		int64(R), int64(C), px, pt, int64(-100), out, lse))
	loss := download[float32](t, d, out, R)
	for r := 0; r < R; r++ {
		if tgt[r] == -100 {
			assert.Zero(t, loss[r])
			continue
		}
		m, z := math.Inf(-1), 0.0
		for _, v := range row(r) {
			m = math.Max(m, float64(v))
		}
		for _, v := range row(r) {
			z += math.Exp(float64(v) - m)
		}
		assert.InDelta(t, m+math.Log(z)-float64(x[r*C+int(tgt[r])]), float64(loss[r]), 1e-4)
	}
}

func TestGPUGatherScatterIm2col(t *testing.T) {
	d, k := kernels(t)
	rng := rand.New(rand.NewSource(5))
	// Embedding lookup: out[j, :] = table[idx[j], :].
	const V, E, J = 50, 16, 300
	table := randF32(rng, V*E)
	idx := make([]int64, J)
	for i := range idx {
		idx[i] = int64(rng.Intn(V))
	}
	pt, pi := upload(t, d, table), upload(t, d, idx)
	out := alloc(t, d, 4*J*E)
	perr := upload(t, d, []int32{0})
	require.NoError(t, k.Launch1D(cuda.RowKernel("gather", cuda.F32), J*E, nil,
		int64(1), int64(V), int64(J), int64(E), pt, pi, int64(0), int64(1), int64(0), out, perr))
	got := download[float32](t, d, out, J*E)
	for j := 0; j < J; j++ {
		require.Equal(t, table[int(idx[j])*E:int(idx[j])*E+E], got[j*E:(j+1)*E])
	}
	// Its adjoint, scatter-add (atomics: tolerance 1e-5 abs).
	grad := randF32(rng, J*E)
	pgr := upload(t, d, grad)
	acc := upload(t, d, make([]float32, V*E))
	require.NoError(t, k.Launch1D(cuda.RowKernel("scatter_add", cuda.F32), J*E, nil,
		int64(1), int64(V), int64(J), int64(E), pgr, pi, int64(0), int64(1), int64(0), acc, perr))
	gacc := download[float32](t, d, acc, V*E)
	want := make([]float64, V*E)
	for j := 0; j < J; j++ {
		for e := 0; e < E; e++ {
			want[int(idx[j])*E+e] += float64(grad[j*E+e])
		}
	}
	for i := range want {
		require.InDelta(t, want[i], float64(gacc[i]), 1e-5)
	}
	assert.Equal(t, []int32{0}, download[int32](t, d, perr, 1), "no index out of range")

	// im2col vs a direct CPU loop; col2im is its adjoint:
	// <im2col(x), c> == <x, col2im(c)>.
	const N, Ch, H, W, KH, KW, S, P = 2, 3, 9, 7, 3, 2, 2, 1
	OH, OW := (H+2*P-KH)/S+1, (W+2*P-KW)/S+1
	img := randF32(rng, N*Ch*H*W)
	pimg := upload(t, d, img)
	ncol := N * Ch * KH * KW * OH * OW
	col := alloc(t, d, int64(4*ncol))
	geo := []any{int64(N), int64(Ch), int64(H), int64(W), int32(KH), int32(KW), int32(S), int32(S),
		int32(P), int32(P), int32(1), int32(1), int64(OH), int64(OW)}
	require.NoError(t, k.Launch1D(cuda.RowKernel("im2col", cuda.F32), int64(ncol), nil,
		append(append([]any{}, geo...), pimg, col)...))
	gcol := download[float32](t, d, col, ncol)
	i := 0
	for b := 0; b < N; b++ {
		for c := 0; c < Ch; c++ {
			for ki := 0; ki < KH; ki++ {
				for kj := 0; kj < KW; kj++ {
					for y := 0; y < OH; y++ {
						for xx := 0; xx < OW; xx++ {
							iy, ix := y*S-P+ki, xx*S-P+kj
							var v float32
							if iy >= 0 && iy < H && ix >= 0 && ix < W {
								v = img[((b*Ch+c)*H+iy)*W+ix]
							}
							require.Equal(t, v, gcol[i])
							i++
						}
					}
				}
			}
		}
	}
	cvec := randF32(rng, ncol)
	pc := upload(t, d, cvec)
	back := alloc(t, d, int64(4*len(img)))
	require.NoError(t, k.Launch1D(cuda.RowKernel("col2im", cuda.F32), int64(len(img)), nil,
		append(append([]any{}, geo...), pc, back)...))
	gback := download[float32](t, d, back, len(img))
	lhs, rhs := 0.0, 0.0
	for i := range gcol {
		lhs += float64(gcol[i]) * float64(cvec[i])
	}
	for i := range img {
		rhs += float64(img[i]) * float64(gback[i])
	}
	assert.InDelta(t, lhs, rhs, 1e-3)
}

func TestGPUAdamW(t *testing.T) {
	d, k := kernels(t)
	rng := rand.New(rand.NewSource(6))
	const n = 10_000
	p, g, m, v := randF32(rng, n), randF32(rng, n), randF32(rng, n), randF32(rng, n)
	for i := range v {
		v[i] = float32(math.Abs(float64(v[i])))
	}
	pp, pg, pm, pv := upload(t, d, p), upload(t, d, g), upload(t, d, m), upload(t, d, v)
	lr, b1, b2, eps, wd := 1e-3, 0.9, 0.999, 1e-8, 0.01
	step := 7.0
	bc1, bc2 := 1-math.Pow(b1, step), 1-math.Pow(b2, step)
	require.NoError(t, k.Launch1D(cuda.RowKernel("adam", cuda.F32), n, nil, int64(n), pp, pg, pm, pv,
		float32(lr), float32(b1), float32(b2), float32(eps), float32(wd), float32(bc1), float32(bc2), int32(1)))
	gp := download[float32](t, d, pp, n)
	for i := 0; i < n; i++ {
		pi := float64(p[i]) * (1 - lr*wd)
		mi := b1*float64(m[i]) + (1-b1)*float64(g[i])
		vi := b2*float64(v[i]) + (1-b2)*float64(g[i])*float64(g[i])
		want := pi - lr*(mi/bc1)/(math.Sqrt(vi/bc2)+eps)
		// float32 arithmetic: 1e-6 absolute on |p| <= 1, plus 1e-5 of the step.
		require.InDelta(t, want, float64(gp[i]), 1e-6+1e-5*math.Abs(want-float64(p[i])), "element %d", i)
	}
}

func TestGPUPhiloxMatchesCPUStream(t *testing.T) {
	d, k := kernels(t)
	const n = 100_001
	seed, offset := uint64(0x1234_5678_9abc_def0), uint64(1001) // offsets count 32-bit words
	out := alloc(t, d, 4*n)
	require.NoError(t, k.Launch1D(cuda.PhiloxKernel("uniform", cuda.F32), n, nil,
		int64(n), seed, offset, -2.0, 3.0, out))
	u := download[float32](t, d, out, n)
	for j := 0; j < n; j++ {
		require.Equal(t, cuda.RefUniformF32(seed, offset, j, -2, 3), u[j], "uniform element %d is bit-exact", j)
	}
	require.NoError(t, k.Launch1D(cuda.PhiloxKernel("normal", cuda.F32), n, nil,
		int64(n), seed, offset, 1.0, 2.0, out))
	z := download[float32](t, d, out, n)
	diff := 0
	for j := 0; j < n; j++ {
		want := cuda.RefNormalF32(seed, offset, j, 1, 2)
		if want != z[j] {
			diff++
			ulp := math.Abs(float64(math.Float32bits(want)) - float64(math.Float32bits(z[j])))
			require.LessOrEqual(t, ulp, 1.0, "normal element %d: %v vs %v", j, z[j], want)
		}
	}
	t.Logf("normal f32: %d of %d differ from the CPU reference (each by 1 ulp)", diff, n)
	assert.Less(t, diff, n/1000)
}
