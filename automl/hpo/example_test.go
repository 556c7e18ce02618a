package hpo_test

import (
	"context"
	"fmt"
	"math"

	"github.com/tessera-ml/tessera/automl/hpo"
)

// Minimise a function of a float, a log-scaled float and a categorical
// with TPE.
func Example() {
	ctx := context.Background()
	study, err := hpo.NewStudy(ctx, hpo.Options{Sampler: hpo.NewTPESampler(hpo.TPEOptions{Seed: 0})})
	if err != nil {
		panic(err)
	}
	err = study.Optimize(ctx, func(t *hpo.Trial) (float64, error) {
		x := t.SuggestFloat("x", -5, 5)
		y := t.SuggestFloat("y", 1e-4, 1, hpo.Log())
		c := t.SuggestCategorical("c", []string{"a", "b", "c"})
		f := (x-1)*(x-1) + (math.Log10(y)+2)*(math.Log10(y)+2)
		if c != "b" {
			f++
		}
		return f, nil
	}, 100, 1)
	if err != nil {
		panic(err)
	}
	best, _, _ := study.Best(ctx)
	fmt.Println(best.Value < 0.5, best.ParamValues()["c"])
	// Output: true b
}
