package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/automl/hpo"
	"github.com/tessera-ml/tessera/automl/hpo/digitsmlp"
)

const (
	ashaMaxEpochs = 15
	randomConfigs = 16
)

// runASHA compares ASHA with random search on the quickstart MLP: random
// search trains randomConfigs configurations for ashaMaxEpochs epochs each;
// ASHA (random sampling, η = 3, rungs at 1, 3, 9 epochs, 2 workers) runs
// until some configuration's held-out accuracy reaches random search's
// best, or until it has spent 3× random search's budget.
func runASHA(ctx context.Context, cfg *config, jsonOut io.Writer) error {
	w := cfg.out
	fmt.Fprintf(w, "\nASHA vs random search on the quickstart MLP (digits), %d configs x %d epochs for random\n", randomConfigs, ashaMaxEpochs)
	var ratios []float64
	for seed := range uint64(cfg.ashaSeeds) {
		t0 := time.Now()
		rs, err := hpo.NewStudy(ctx, hpo.Options{Direction: hpo.Maximize, Sampler: hpo.NewRandomSampler(1000 + seed)})
		if err != nil {
			return err
		}
		if err := rs.Optimize(ctx, digitsmlp.Objective(ashaMaxEpochs, seed, nil), randomConfigs, 2); err != nil {
			return err
		}
		best, _, err := rs.Best(ctx)
		if err != nil {
			return err
		}
		target := best.Value
		budget := randomConfigs * ashaMaxEpochs
		randomSec := time.Since(t0).Seconds()

		t1 := time.Now()
		var mu sync.Mutex
		epochs, reachedAt := 0, -1
		bestSeen := 0.0
		actx, cancel := context.WithCancel(ctx)
		as, err := hpo.NewStudy(actx, hpo.Options{Direction: hpo.Maximize, Sampler: hpo.NewRandomSampler(2000 + seed), Pruner: hpo.NewASHA(1, 3)})
		if err != nil {
			cancel()
			return err
		}
		obj := digitsmlp.Objective(ashaMaxEpochs, seed, func(t *hpo.Trial, epoch int, acc float64) {
			mu.Lock()
			defer mu.Unlock()
			epochs++
			bestSeen = math.Max(bestSeen, acc)
			if reachedAt < 0 && acc >= target {
				reachedAt = epochs
				cancel()
			}
			if epochs >= 3*budget {
				cancel()
			}
		})
		err = as.Optimize(actx, obj, 0, 2)
		cancel()
		if err != nil && actx.Err() == nil {
			return err
		}
		ashaSec := time.Since(t1).Seconds()
		ratio := math.Inf(1)
		if reachedAt > 0 {
			ratio = float64(reachedAt) / float64(budget)
		}
		ratios = append(ratios, ratio)
		fmt.Fprintf(w, "seed %d: random best %.4f with %d epochs (%.0f s); ASHA reached it after %d epochs (ratio %.3f; best seen %.4f, %.0f s)\n",
			seed, target, budget, randomSec, reachedAt, ratio, bestSeen, ashaSec)
		if cfg.asJSON {
			b, _ := json.Marshal(map[string]any{"bench": "asha_vs_random", "seed": seed, "random_best": target,
				"random_epochs": budget, "asha_epochs_to_reach": reachedAt, "ratio": ratio})
			fmt.Fprintln(jsonOut, string(b))
		}
	}
	fmt.Fprintf(w, "median epoch-budget ratio ASHA/random: %.3f over %d seeds (goal <= 0.333)\n", median(ratios), len(ratios))
	return nil
}
