package scaling_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/scaling"
)

// The squared norms of mean gradients at batches 8 and 64 follow
// E|G_B|² = |G|² + tr(Σ)/B; with |G|² = 2 and tr(Σ) = 64 the noise scale is 32.
func ExampleNoiseScale() {
	ns := scaling.NewNoiseScale(0.9)
	ns.Observe(8, 2+64.0/8, 64, 2+64.0/64)
	fmt.Printf("B_simple = %.1f\n", ns.BSimple())
	// Output: B_simple = 32.0
}

// A 1.86 M-parameter MLP (7.45 MB of float32 gradients), 10 ms of compute
// per 64 samples, over 10 Gb/s Ethernet with a ring all-reduce.
func ExampleCostModel() {
	m := scaling.CostModel{
		Compute:   scaling.Compute{PerSample: 10e-3 / 64, BackwardShare: 2.0 / 3},
		Link:      scaling.Ethernet10G,
		Algorithm: scaling.Ring,
		GradBytes: 7.45e6,
	}
	for _, p := range []int{2, 8, 32} {
		s, e := m.SpeedUpWeak(p, 64)
		fmt.Printf("ranks %d: step %.1f ms, speed-up %.1f, efficiency %.0f%%\n", p, 1e3*m.Step(p, 64).Total, s, 100*e)
	}
	// Output:
	// ranks 2: step 16.4 ms, speed-up 1.2, efficiency 61%
	// ranks 8: step 21.5 ms, speed-up 3.7, efficiency 47%
	// ranks 32: step 24.1 ms, speed-up 13.3, efficiency 41%
}
