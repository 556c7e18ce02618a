package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// layout describes how a test matrix is laid out in its backing slice.
type layout int

const (
	rowMajor layout = iota // (i,j) at i*ld + j, ld = cols (+pad)
	colMajor               // (i,j) at i + j*ld, ld = rows (+pad)
	strided                // both strides > 1: (i,j) at i*2*ld + j*2
	numLayouts
)

func (l layout) String() string { return [...]string{"row", "col", "strided"}[l] }

// strides returns (rs, cs, len) for a rows×cols matrix; pad > 0 makes the
// leading dimension larger than the width.
func strides(l layout, rows, cols, pad int) (rs, cs, n int) {
	switch l {
	case rowMajor:
		rs, cs = cols+pad, 1
	case colMajor:
		rs, cs = 1, rows+pad
	default:
		rs, cs = 2*(cols+pad), 2
	}
	return rs, cs, max(need(rows, cols, rs, cs), 1)
}

// randFill fills x with values in ±[0.5, 1.5), never zero.
func randFill[T float](r *rand.Rand, x []T) {
	for i := range x {
		v := 0.5 + r.Float64()
		if r.IntN(2) == 0 {
			v = -v
		}
		x[i] = T(v)
	}
}

type gemmCase struct {
	m, n, k    int
	la, lb, lc layout
	pad        int
	alpha      float64
	beta       float64
}

func (g gemmCase) String() string {
	return fmt.Sprintf("m=%d,n=%d,k=%d/A=%v,B=%v,C=%v/pad=%d/alpha=%g,beta=%g", g.m, g.n, g.k, g.la, g.lb, g.lc, g.pad, g.alpha, g.beta)
}

type gemmFunc[T float] func(m, n, k int, alpha T, a []T, rsA, csA int, b []T, rsB, csB int, beta T, c []T, rsC, csC int)

// runCase checks one GEMM against a float64 naive reference.
// Tolerance: |err| <= tol*(k+1)*max|a|*max|b|*(|alpha|+|beta|+1), with tol
// 1e-6 for float32 (unit roundoff 6e-8, so k·u with headroom) and 1e-14 for float64.
func runCase[T float](t *testing.T, f gemmFunc[T], g gemmCase, tol float64, r *rand.Rand) {
	rsA, csA, na := strides(g.la, g.m, g.k, g.pad)
	rsB, csB, nb := strides(g.lb, g.k, g.n, g.pad)
	rsC, csC, ncl := strides(g.lc, g.m, g.n, g.pad)
	a, b, c := make([]T, na), make([]T, nb), make([]T, ncl)
	randFill(r, a)
	randFill(r, b)
	randFill(r, c)
	if g.beta == 0 {
		for i := 0; i < g.m; i++ {
			for j := 0; j < g.n; j++ {
				c[i*rsC+j*csC] = T(math.NaN())
			}
		}
	}
	c0 := append([]T(nil), c...)
	f(g.m, g.n, g.k, T(g.alpha), a, rsA, csA, b, rsB, csB, T(g.beta), c, rsC, csC)

	bound := tol * float64(g.k+1) * 1.5 * 1.5 * (math.Abs(g.alpha) + math.Abs(g.beta) + 1)
	touched := make([]bool, len(c))
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s float64
			for p := 0; p < g.k; p++ {
				s += float64(a[i*rsA+p*csA]) * float64(b[p*rsB+j*csB])
			}
			want := g.alpha * s
			if g.beta != 0 {
				want += g.beta * float64(c0[i*rsC+j*csC])
			}
			got := float64(c[i*rsC+j*csC])
			touched[i*rsC+j*csC] = true
			if math.IsNaN(got) || math.Abs(got-want) > bound {
				require.FailNowf(t, "mismatch", "%v: C[%d,%d] = %g, want %g (bound %g)", g, i, j, got, want, bound)
			}
		}
	}
	// Elements outside the C view are untouched.
	for i := range c {
		if !touched[i] && !(c[i] == c0[i] || (c[i] != c[i] && c0[i] != c0[i])) {
			require.FailNowf(t, "wrote outside C", "%v: element %d changed", g, i)
		}
	}
}

func testGemm[T float](t *testing.T, f gemmFunc[T], tol float64) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 7, 17, 63, 129}
	// Every size combination, every transpose combination, a few alpha/beta.
	ab := [][2]float64{{1, 0}, {1, 1}, {-0.5, 2}, {2, 0}, {0.75, -1}}
	idx := 0
	for _, m := range sizes {
		for _, n := range sizes {
			for _, k := range sizes {
				for la := layout(0); la < numLayouts; la++ {
					for lb := layout(0); lb < numLayouts; lb++ {
						lc := layout(idx % int(numLayouts))
						g := gemmCase{m: m, n: n, k: k, la: la, lb: lb, lc: lc, pad: idx % 3,
							alpha: ab[idx%len(ab)][0], beta: ab[idx%len(ab)][1]}
						idx++
						runCase(t, f, g, tol, r)
					}
				}
			}
		}
	}
	// Larger and lopsided shapes, every layout of C.
	big := [][3]int{{1000, 7, 129}, {7, 1000, 129}, {129, 129, 1000}, {1000, 63, 1}, {300, 257, 400}, {1, 1000, 17}, {1000, 1, 63}}
	for _, s := range big {
		for l := layout(0); l < numLayouts; l++ {
			g := gemmCase{m: s[0], n: s[1], k: s[2], la: l, lb: (l + 1) % numLayouts, lc: l, pad: 1, alpha: 1.25, beta: 0}
			runCase(t, f, g, tol, r)
			g.beta, g.la, g.lb, g.lc = -0.5, (l+2)%numLayouts, l, (l+1)%numLayouts
			runCase(t, f, g, tol, r)
		}
	}
}

// forKernels runs f once with every kernel this CPU and build have (avx512,
// avx2, generic), restoring the default afterwards. Under -short or the race
// detector only the default kernel runs.
func forKernels(t *testing.T, f func(t *testing.T)) {
	def := Kernel()
	defer useKernel(def)
	for _, ks := range kernelSets {
		if (testing.Short() || raceEnabled) && ks.name != def {
			continue
		}
		require.True(t, useKernel(ks.name))
		t.Run(ks.name, f)
	}
}

func TestSgemm(t *testing.T) {
	t.Logf("default kernel %s", Kernel())
	forKernels(t, func(t *testing.T) { testGemm(t, Sgemm, 1e-6) })
}

func TestDgemm(t *testing.T) {
	forKernels(t, func(t *testing.T) { testGemm(t, Dgemm, 1e-14) })
}

func TestGemmThreads(t *testing.T) {
	prev := SetMaxThreads(3)
	defer SetMaxThreads(prev)
	forKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, s := range [][3]int{{1000, 129, 200}, {129, 1000, 200}, {100, 100, 100}, {600, 600, 700}} {
			runCase(t, Sgemm, gemmCase{m: s[0], n: s[1], k: s[2], la: rowMajor, lb: rowMajor, lc: rowMajor, alpha: 1, beta: 0.5}, 1e-6, r)
			runCase(t, Dgemm, gemmCase{m: s[0], n: s[1], k: s[2], la: colMajor, lb: rowMajor, lc: colMajor, alpha: 1, beta: 0}, 1e-14, r)
		}
	})
}

// TestGemmWide covers more columns than one packed B block (nc) holds, in
// both orientations of C, and a broadcast operand (zero stride).
func TestGemmWide(t *testing.T) {
	forKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		runCase(t, Sgemm, gemmCase{m: 5, n: 4200, k: 3, la: rowMajor, lb: rowMajor, lc: colMajor, alpha: 1, beta: 1}, 1e-6, r)
		runCase(t, Dgemm, gemmCase{m: 4200, n: 5, k: 3, la: rowMajor, lb: colMajor, lc: rowMajor, alpha: 1, beta: 0}, 1e-14, r)
	})
	// A with row stride 0: every row of C is the same.
	a := []float64{1, 2, 3}
	b := []float64{1, 0, 0, 1, 1, 1} // 3×2 row-major
	c := make([]float64, 8)
	Dgemm(4, 2, 3, 1, a, 0, 1, b, 2, 1, 0, c, 2, 1)
	require.Equal(t, []float64{4, 5, 4, 5, 4, 5, 4, 5}, c)
}

func TestGemmConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 5))
			for i := 0; i < 3; i++ {
				runCase(t, Sgemm, gemmCase{m: 130 + g, n: 70 + i, k: 150, la: rowMajor, lb: colMajor, lc: rowMajor, alpha: 1, beta: 1}, 1e-6, r)
				runCase(t, Dgemm, gemmCase{m: 70 + i, n: 130 + g, k: 150, la: colMajor, lb: rowMajor, lc: colMajor, alpha: 1, beta: 0}, 1e-14, r)
			}
		}()
	}
	wg.Wait()
}

func TestGemmPanics(t *testing.T) {
	a := make([]float32, 6)
	require.PanicsWithValue(t, "cpu.Sgemm: negative size m=-1 n=2 k=3", func() {
		Sgemm(-1, 2, 3, 1, a, 3, 1, a, 2, 1, 0, a, 2, 1)
	})
	require.PanicsWithValue(t, "cpu.Sgemm: A (2x3, strides 3,1) needs 6 elements, have 5", func() {
		Sgemm(2, 2, 3, 1, a[:5], 3, 1, a, 2, 1, 0, a, 2, 1)
	})
	require.Panics(t, func() {
		Dgemm(2, 2, 2, 1, make([]float64, 4), 2, 1, make([]float64, 4), 2, 1, 0, make([]float64, 3), 2, 1)
	})
	require.Panics(t, func() {
		Dgemm(2, 2, 2, 1, make([]float64, 4), -2, 1, make([]float64, 4), 2, 1, 0, make([]float64, 4), 2, 1)
	})
}

func TestSetMaxThreads(t *testing.T) {
	prev := SetMaxThreads(1)
	require.Equal(t, 1, SetMaxThreads(prev))
	require.Equal(t, prev, MaxThreads())
	require.Contains(t, []string{"avx512", "avx2", "generic"}, Kernel())
}

func TestGemmNoAllocs(t *testing.T) {
	prev := SetMaxThreads(1)
	defer SetMaxThreads(prev)
	n := 200
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	Sgemm(n, n, n, 1, a, n, 1, b, n, 1, 0, c, n, 1)
	allocs := testing.AllocsPerRun(10, func() { Sgemm(n, n, n, 1, a, n, 1, b, n, 1, 0, c, n, 1) })
	// A constant number of small allocations per call (closures), never per element.
	require.LessOrEqual(t, allocs, 16.0)
}

func benchGemm[T float](b *testing.B, f gemmFunc[T]) {
	for _, n := range []int{64, 256, 512, 1024} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			x, y, z := make([]T, n*n), make([]T, n*n), make([]T, n*n)
			r := rand.New(rand.NewPCG(1, 1))
			randFill(r, x)
			randFill(r, y)
			b.SetBytes(0)
			b.ResetTimer()
			for b.Loop() {
				f(n, n, n, 1, x, n, 1, y, n, 1, 0, z, n, 1)
			}
			b.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkSgemm(b *testing.B) { benchGemm(b, Sgemm) }
func BenchmarkDgemm(b *testing.B) { benchGemm(b, Dgemm) }
