// Command hpo tunes the quickstart multi-layer perceptron on the embedded
// digits — learning rate, width, depth, batch size and weight decay — with
// TPE proposing configurations and ASHA stopping poor ones early, on
// parallel workers, then draws the search:
//
//	go run ./examples/hpo -quick            # 24 trials, at most 9 epochs each (2-4 s on 2 shared cores)
//	go run ./examples/hpo                   # 60 trials, at most 27 epochs each
//	go run ./examples/hpo -storage sqlite:study.db   # durable; run it in several shells to share the study
//
// Each finished trial prints a progress line. The output directory (-out,
// default hpo-out) receives history.png (accuracy per trial with the best
// so far), intermediate.png (each trial's accuracy per epoch, pruned
// trials marked where they stopped), slice.png (accuracy against each
// hyperparameter) and trials.csv. With -json the last line of output is
// {"best_accuracy", "best_params", "trials", "complete", "pruned",
// "epochs", "seconds"} and the progress goes to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/automl/hpo"
	"github.com/tessera-ml/tessera/automl/hpo/digitsmlp"
	"github.com/tessera-ml/tessera/automl/hpo/sqlstore"
)

// Config is the run's settings.
type Config struct {
	Trials, MaxEpochs, Workers int
	Seed                       uint64
	Storage, Study, Out        string
	Progress                   io.Writer
}

var (
	full  = Config{Trials: 60, MaxEpochs: 27, Workers: 2, Seed: 1, Storage: "memory", Study: "digits-mlp", Out: "hpo-out"}
	quick = Config{Trials: 24, MaxEpochs: 9, Workers: 2, Seed: 1, Storage: "memory", Study: "digits-mlp", Out: "hpo-out"}
)

// Summary is what a run reports.
type Summary struct {
	BestAccuracy float64        `json:"best_accuracy"`
	BestParams   map[string]any `json:"best_params"`
	Trials       int            `json:"trials"`
	Complete     int            `json:"complete"`
	Pruned       int            `json:"pruned"`
	Epochs       int            `json:"epochs"`
	Seconds      float64        `json:"seconds"`
}

func openStorage(spec string) (hpo.Storage, error) {
	if spec == "" || spec == "memory" {
		return hpo.NewMemoryStorage(), nil
	}
	return sqlstore.Open(spec)
}

// Run tunes the MLP and writes the figures and CSV into cfg.Out (if set).
func Run(ctx context.Context, cfg Config) (Summary, []hpo.FrozenTrial, error) {
	var sum Summary
	if cfg.Trials < 1 || cfg.MaxEpochs < 1 || cfg.Workers < 1 {
		return sum, nil, fmt.Errorf("hpo: need -trials, -epochs and -workers >= 1")
	}
	st, err := openStorage(cfg.Storage)
	if err != nil {
		return sum, nil, err
	}
	defer st.Close()
	study, err := hpo.NewStudy(ctx, hpo.Options{
		Name: cfg.Study, Storage: st, Direction: hpo.Maximize, MaxTrials: cfg.Trials,
		Sampler: hpo.NewTPESampler(hpo.TPEOptions{Seed: cfg.Seed}),
		Pruner:  hpo.NewASHA(1, 3),
		// A worker that dies leaves its trial to be re-run by another.
		StaleAfter: 2 * time.Minute, RetryStale: true,
	})
	if err != nil {
		return sum, nil, err
	}
	start := time.Now()
	var mu sync.Mutex
	epochs, finished := 0, 0
	best := 0.0
	inner := digitsmlp.Objective(cfg.MaxEpochs, cfg.Seed, func(*hpo.Trial, int, float64) {
		mu.Lock()
		epochs++
		mu.Unlock()
	})
	obj := func(t *hpo.Trial) (float64, error) {
		acc, err := inner(t)
		mu.Lock()
		defer mu.Unlock()
		finished++
		state := "complete"
		switch {
		case err == hpo.ErrPruned:
			state = "pruned  "
		case err != nil:
			state = "failed  "
		}
		if err == nil && acc > best {
			best = acc
		}
		if cfg.Progress != nil {
			p := t.Params()
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(finished) * float64(cfg.Trials-finished))
			fmt.Fprintf(cfg.Progress, "trial %3d %s acc %.4f after %2d epochs  lr %.2e width %3v depth %v batch %3v wd %.1e  best %.4f  [%d/%d, %d epochs, %s, ETA %s]\n",
				t.Number(), state, acc, len(t.Frozen().Intermediate), p["lr"], p["width"], p["depth"], p["batch"], p["weight_decay"],
				best, finished, cfg.Trials, epochs, el.Round(time.Second), eta.Round(time.Second))
		}
		return acc, err
	}
	if err := study.Optimize(ctx, obj, 0, cfg.Workers); err != nil {
		return sum, nil, err
	}
	trials, err := study.Trials(ctx)
	if err != nil {
		return sum, nil, err
	}
	sum.Trials, sum.Epochs, sum.Seconds = len(trials), epochs, time.Since(start).Seconds()
	for _, t := range trials {
		switch t.State {
		case hpo.Complete:
			sum.Complete++
		case hpo.Pruned:
			sum.Pruned++
		}
	}
	if b, ok, err := study.Best(ctx); err != nil {
		return sum, nil, err
	} else if ok {
		sum.BestAccuracy, sum.BestParams = b.Value, b.ParamValues()
	}
	if cfg.Out != "" {
		if err := writeOutputs(cfg.Out, trials); err != nil {
			return sum, trials, err
		}
	}
	return sum, trials, nil
}

func main() {
	isQuick := flag.Bool("quick", false, "the quick preset: 24 trials of at most 9 epochs")
	cfg := full
	flag.IntVar(&cfg.Trials, "trials", 0, "trials in the study (0: the preset's)")
	flag.IntVar(&cfg.MaxEpochs, "epochs", 0, "maximum epochs per trial (0: the preset's)")
	flag.IntVar(&cfg.Workers, "workers", 2, "parallel workers (goroutines)")
	flag.Uint64Var(&cfg.Seed, "seed", 1, "seed of TPE and of the training runs")
	flag.StringVar(&cfg.Storage, "storage", "memory", "memory, sqlite:PATH or postgres:DSN (a durable study resumes and can be shared)")
	flag.StringVar(&cfg.Study, "study", "digits-mlp", "the study's name in the storage")
	flag.StringVar(&cfg.Out, "out", "hpo-out", "directory for the PNGs and CSV (\"\": none)")
	asJSON := flag.Bool("json", false, "print a final JSON line; progress goes to stderr")
	flag.Parse()
	preset := full
	if *isQuick {
		preset = quick
	}
	if cfg.Trials == 0 {
		cfg.Trials = preset.Trials
	}
	if cfg.MaxEpochs == 0 {
		cfg.MaxEpochs = preset.MaxEpochs
	}
	cfg.Progress = os.Stdout
	if *asJSON {
		cfg.Progress = os.Stderr
	}
	sum, _, err := Run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "hpo:", err)
		os.Exit(1)
	}
	if *asJSON {
		b, _ := json.Marshal(sum)
		fmt.Println(string(b))
		return
	}
	fmt.Fprintf(cfg.Progress, "best held-out accuracy %.4f with %v; %d trials (%d complete, %d pruned), %d epochs in %.0f s\n",
		sum.BestAccuracy, sum.BestParams, sum.Trials, sum.Complete, sum.Pruned, sum.Epochs, sum.Seconds)
	if cfg.Out != "" {
		fmt.Fprintf(cfg.Progress, "wrote %s/{history,intermediate,slice}.png and %s/trials.csv\n", cfg.Out, cfg.Out)
	}
}
