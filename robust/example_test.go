package robust_test

import (
	"fmt"

	"github.com/tessera-ml/tessera/robust"
	"github.com/tessera-ml/tessera/tensor"
)

// Four honest workers send vectors near (1, 1); one Byzantine worker sends
// (1000, −1000). The mean follows it; the robust rules do not (the
// geometric median feels a bounded pull: the outlier adds a unit vector to
// the sum of directions it balances, however far away it is).
func Example() {
	grads := []*tensor.Tensor{
		tensor.FromSlice([]float64{1.0, 1.1}),
		tensor.FromSlice([]float64{0.9, 1.0}),
		tensor.FromSlice([]float64{1.1, 0.9}),
		tensor.FromSlice([]float64{1.0, 1.0}),
		tensor.FromSlice([]float64{1000, -1000}),
	}
	x := robust.Stack(grads)
	for _, name := range []string{"mean", "median", "trimmedmean", "krum", "geomed"} {
		rule, err := robust.ByName(name, 5, 1, robust.Options{})
		if err != nil {
			panic(err)
		}
		out, err := rule.Aggregate(x)
		if err != nil {
			panic(err)
		}
		v := out.Float64s()
		fmt.Printf("%-11s (%.2f, %.2f)\n", name, v[0], v[1])
	}
	_, err := robust.Krum{F: 2}.Aggregate(x)
	fmt.Println(err)
	// Output:
	// mean        (200.80, -199.20)
	// median      (1.00, 1.00)
	// trimmedmean (1.03, 0.97)
	// krum        (1.00, 1.00)
	// geomed      (1.02, 0.98)
	// robust: krum needs n ≥ 2f+3, have n=5, f=2: too few workers for f
}
