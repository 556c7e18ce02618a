package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The unpacked small-product path (sgemmDirect, issue 21) against the
// float64 reference of runCase (tolerance 1e-6·(k+1)·max|a|·max|b|·(|alpha|+|beta|+1)):
// every m, n in 1..40 (full strips, the masked or packed remainder of
// n%16 columns, every row-tile height) for a few k, with A, B and C each
// row- or column-major (C column-major is computed as Cᵀ = Bᵀ·Aᵀ; a
// column-major A in that frame, or a row-major one in the other, takes the
// T kernels; B the other way round is transposed first), with padded
// leading dimensions, and alpha/beta including beta = 0 over a C of
// NaNs. runCase also checks that nothing outside C's view is written (the
// masked stores).
func TestSgemmDirectSmall(t *testing.T) {
	ks := []int{1, 3, 4, 5, 8, 9, 17, 40}
	if testing.Short() || raceEnabled {
		ks = []int{1, 5, 9}
	}
	ab := [][2]float64{{1, 0}, {1, 1}, {-0.5, 2}, {2, 0}, {0.75, -1}}
	forKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 2))
		idx := 0
		for m := 1; m <= 40; m++ {
			for n := 1; n <= 40; n++ {
				for _, k := range ks {
					// Row- or column-major A, B and C: NN, TN, NT and TT
					// products in both frames.
					la, lb, lc := layout(idx%2), layout(idx/2%2), layout(idx/4%2)
					g := gemmCase{m: m, n: n, k: k, la: la, lb: lb, lc: lc, pad: idx % 3,
						alpha: ab[idx%len(ab)][0], beta: ab[idx%len(ab)][1]}
					idx++
					runCase(t, Sgemm, g, 1e-6, r)
				}
			}
		}
	})
}

// Sizes around the tile heights and the direct path's bounds (k ≤ 512,
// n ≤ 1024 in C's row-major frame), the square sizes of
// bench/small, odd shapes, every layout (the strided ones do not take the
// direct path, so both paths meet on the same sizes) and the transposed
// operands of a linear layer's products.
func TestSgemmDirectSizes(t *testing.T) {
	sizes := [][3]int{{16, 16, 16}, {32, 32, 32}, {64, 64, 64}, {128, 128, 128}, {17, 33, 65},
		{33, 47, 129}, {129, 31, 7}, {100, 100, 100}, {127, 129, 128}, {10, 40, 40}, {40, 1, 40},
		{1, 40, 40}, {255, 17, 3}, {7, 255, 64}, {200, 200, 200}, {256, 256, 256}, {257, 256, 100},
		{300, 600, 20}, {17, 1024, 33}, {600, 40, 512}, {40, 1025, 64}, {100, 90, 513}}
	if testing.Short() || raceEnabled {
		sizes = sizes[:12]
	}
	forKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 3))
		for i, s := range sizes {
			for l := layout(0); l < numLayouts; l++ {
				g := gemmCase{m: s[0], n: s[1], k: s[2], la: l, lb: l, lc: l, pad: i % 2, alpha: 1, beta: 0}
				runCase(t, Sgemm, g, 1e-6, r)
				// Transposed A (Aᵀ·B) and transposed B (A·Bᵀ), row-major C.
				g = gemmCase{m: s[0], n: s[1], k: s[2], la: colMajor, lb: rowMajor, lc: rowMajor, pad: 1, alpha: -1.5, beta: 0.5}
				runCase(t, Sgemm, g, 1e-6, r)
				g = gemmCase{m: s[0], n: s[1], k: s[2], la: rowMajor, lb: colMajor, lc: rowMajor, pad: 1, alpha: 1, beta: 0}
				runCase(t, Sgemm, g, 1e-6, r)
			}
		}
	})
}

// The direct path shared over threads (products of at least
// parallelMinWork with more than one thread): the same results, for
// thread counts above and below the number of row tiles, and with fewer
// row tiles than threads (column chunks).
func TestSgemmDirectThreads(t *testing.T) {
	for _, nt := range []int{2, 3, 8} {
		prev := SetMaxThreads(nt)
		forKernels(t, func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, uint64(nt)))
			for _, s := range [][3]int{{96, 96, 96}, {128, 128, 128}, {100, 120, 128}, {128, 17, 128}, {17, 128, 128},
				{16, 1000, 100}, {8, 300, 500}, {40, 70, 400}} {
				runCase(t, Sgemm, gemmCase{m: s[0], n: s[1], k: s[2], la: rowMajor, lb: rowMajor, lc: rowMajor, pad: 1, alpha: 1, beta: 0.5}, 1e-6, r)
				runCase(t, Sgemm, gemmCase{m: s[0], n: s[1], k: s[2], la: colMajor, lb: colMajor, lc: colMajor, alpha: 2, beta: 0}, 1e-6, r)
				runCase(t, Sgemm, gemmCase{m: s[0], n: s[1], k: s[2], la: rowMajor, lb: colMajor, lc: rowMajor, alpha: 1, beta: 0}, 1e-6, r)
				runCase(t, Sgemm, gemmCase{m: s[0], n: s[1], k: s[2], la: colMajor, lb: rowMajor, lc: rowMajor, pad: 2, alpha: 1, beta: 1}, 1e-6, r)
			}
		})
		SetMaxThreads(prev)
	}
}

// sgemmDirect does every column with AVX-512, the full 16-column strips
// with AVX2 and nothing with the generic kernel (or under purego), and what
// it does is right.
func TestSgemmDirectColumns(t *testing.T) {
	forKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 4))
		for _, n := range []int{1, 15, 16, 17, 40, 64} {
			m, k := 19, 9
			a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
			randFill(r, a)
			randFill(r, b)
			got := sgemmDirect(m, n, k, 1, a, k, 1, b, n, 0, c, n)
			want := 0
			switch Kernel() {
			case "avx512":
				want = n
			case "avx2":
				want = n / 16 * 16
			}
			require.Equal(t, want, got, "n=%d", n)
			for i := range m {
				for j := range got {
					var s float64
					for p := range k {
						s += float64(a[i*k+p]) * float64(b[p*n+j])
					}
					require.InDelta(t, s, float64(c[i*n+j]), 1e-6*float64(k+1)*2.25, "n=%d C[%d,%d]", n, i, j)
				}
			}
		}
	})
}
