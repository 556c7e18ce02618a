//go:build amd64 && !purego

package tensor

import (
	"math"
	"testing"
)

// TestAdamAVX2BitIdentical: the AVX2 kernel gives exactly the portable
// loop's results (same operations, same order, no FMA).
func TestAdamAVX2BitIdentical(t *testing.T) {
	if !hasAdamAVX2 {
		t.Skip("no AVX2")
	}
	defer func(old bool) { hasAdamAVX2 = old }(hasAdamAVX2)
	for _, dec := range []bool{false, true} {
		gen := NewGenerator(3)
		const n = 1000 // not a multiple of 8: the tail runs in Go
		w0 := gen.Normal(0, 1, Float32, n).Float32s()
		var res [2][]float32
		for pass, vec := range []bool{true, false} {
			hasAdamAVX2 = vec
			w := append([]float32(nil), w0...)
			m, v := make([]float32, n), make([]float32, n)
			g2 := NewGenerator(4)
			for s := 1; s <= 4; s++ {
				g := g2.Normal(0, 1, Float32, n).Float32s()
				adamCPU(w, g, m, v, AdamHyper{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.05, Step: s, Decoupled: dec})
			}
			res[pass] = w
		}
		for i := range res[0] {
			if math.Float32bits(res[0][i]) != math.Float32bits(res[1][i]) {
				t.Fatalf("decoupled=%v: element %d: AVX2 %v, portable %v", dec, i, res[0][i], res[1][i])
			}
		}
	}
}
