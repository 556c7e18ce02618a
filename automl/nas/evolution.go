package nas

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/tessera-ml/tessera/tensor"
)

// EvolutionConfig configures regularized (aging) evolution (Real et al.
// 2019) over the discrete cells.
type EvolutionConfig struct {
	Nodes      int
	Population int // P
	Sample     int // S: tournament size
	Trials     int // budget: cells trained in all, the initial population included
	// Each trial trains NewNetwork(genotype, Channels, Cells) for Train
	// and scores it by validation accuracy.
	Channels, Cells int
	Train           TrainConfig
	Seed            uint64
	Progress        io.Writer
}

// Trial is one evaluated cell.
type Trial struct {
	Genotype Genotype
	ValAcc   float64
	Params   int
}

// Evolution runs regularized evolution: a population of P random cells,
// then, until the trial budget is spent, the best of S cells sampled from
// the population is mutated, the child is trained and evaluated and joins
// the population, and the oldest member is removed. It returns the best
// cell of the whole history and the curve of the best accuracy so far.
func Evolution(ctx context.Context, train, val Data, classes int, cfg EvolutionConfig) (SearchResult, []Trial, error) {
	var res SearchResult
	if cfg.Population < 2 || cfg.Sample < 1 || cfg.Sample > cfg.Population || cfg.Trials < cfg.Population {
		return res, nil, fmt.Errorf("nas: Evolution: population %d, sample %d, trials %d", cfg.Population, cfg.Sample, cfg.Trials)
	}
	start := time.Now()
	r := rand.New(rand.NewPCG(cfg.Seed, 23))
	var history []Trial
	evaluate := func(geno Genotype) (Trial, error) {
		seed := cfg.Seed*1000 + uint64(len(history))
		net := NewNetwork(tensor.NewGenerator(seed), geno, cfg.Channels, cfg.Cells, classes, withDType(train))
		tc := cfg.Train
		tc.Seed = seed
		if _, err := Train(ctx, net, train, tc); err != nil {
			return Trial{}, err
		}
		t := Trial{Genotype: geno, ValAcc: Accuracy(net, val), Params: numParams(net)}
		history = append(history, t)
		best := res.Genotype
		bestAcc := 0.0
		for _, h := range history {
			if h.ValAcc > bestAcc {
				best, bestAcc = h.Genotype, h.ValAcc
			}
		}
		res.Genotype = best
		res.Curve = append(res.Curve, CurvePoint{Step: len(history), Seconds: time.Since(start).Seconds(), ValAcc: t.ValAcc, BestAcc: bestAcc, Genotype: geno})
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "evolution trial %3d/%d  val acc %.3f  best %.3f  %5.1fs  %v\n",
				len(history), cfg.Trials, t.ValAcc, bestAcc, time.Since(start).Seconds(), geno)
		}
		return t, nil
	}
	var pop []Trial // oldest first
	for range cfg.Population {
		t, err := evaluate(RandomGenotype(r, cfg.Nodes))
		if err != nil {
			return res, history, err
		}
		pop = append(pop, t)
	}
	for len(history) < cfg.Trials {
		var parent Trial
		for k, i := range r.Perm(len(pop))[:cfg.Sample] {
			if k == 0 || pop[i].ValAcc > parent.ValAcc {
				parent = pop[i]
			}
		}
		child, err := evaluate(Mutate(r, parent.Genotype))
		if err != nil {
			return res, history, err
		}
		pop = append(pop[1:], child) // the oldest dies
	}
	res.Trials = len(history)
	res.Seconds = time.Since(start).Seconds()
	return res, history, nil
}
