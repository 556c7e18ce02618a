package pipeline_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/parallel/pipeline"
)

// A schedule is data: print it, simulate it, compare its bubble with the
// formula.
func ExampleSimulate() {
	s, _ := pipeline.OneFOneB(4, 8)
	fmt.Print(s)
	sim, _ := pipeline.Simulate(s, pipeline.Costs{Forward: 1, Backward: 2})
	fmt.Printf("bubble %.4f (formula %.4f), peak activations %v\n", sim.Bubble, s.Formula(), sim.Peak)
	g, _ := pipeline.GPipe(4, 8)
	gs, _ := pipeline.Simulate(g, pipeline.Costs{Forward: 1, Backward: 2})
	fmt.Printf("gpipe: bubble %.4f, peak activations %v\n", gs.Bubble, gs.Peak)
	// Output:
	// 1f1b p=4 m=8 v=1
	// rank 0: F0 F1 F2 F3 B0 F4 B1 F5 B2 F6 B3 F7 B4 B5 B6 B7
	// rank 1: F0 F1 F2 B0 F3 B1 F4 B2 F5 B3 F6 B4 F7 B5 B6 B7
	// rank 2: F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 F6 B5 F7 B6 B7
	// rank 3: F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5 F6 B6 F7 B7
	// bubble 0.2727 (formula 0.2727), peak activations [4 3 2 1]
	// gpipe: bubble 0.2727, peak activations [8 8 8 8]
}
