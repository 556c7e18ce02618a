//go:build amd64 && !purego

package tensor

import "golang.org/x/sys/cpu"

// adamF32AVX2 runs the float32 Adam update over n elements (n a multiple of
// 8) with AVX2: the same operations in the same order as adamCPU's loop
// (no FMA), so the results are bit-identical. k holds the constants
// b1, c1, b2, c2, stepSize, rbc2, eps, wdL2, decay.
//
//go:noescape
func adamF32AVX2(w, gr, m, v *float32, n int, k *[9]float32)

var hasAdamAVX2 = cpu.X86.HasAVX2

func adamF32Vec(w, g, m, v []float32, k *[9]float32) int {
	if !hasAdamAVX2 {
		return 0
	}
	n := len(w) &^ 7
	if n > 0 {
		adamF32AVX2(&w[0], &g[0], &m[0], &v[0], n, k)
	}
	return n
}
