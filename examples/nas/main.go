// Command nas searches a convolutional cell for the embedded 8x8 digits
// with DARTS (first- and second-order) and regularized evolution, then
// retrains each found cell from scratch on the training set (several
// seeds) and compares its test accuracy with random cells of the same size
// (same nodes and edges per node, random inputs and operations).
//
//	go run ./examples/nas [-preset quick|full] [-json] [-out DIR]
//
// Searches use the digits' training split halved into search-train and
// search-validation sets; the test split is only used for the final
// accuracies. It prints progress to stderr, a table (or with -json one line
// per method: {"method","accuracy","params","search_seconds",...}) to
// stdout, and writes DIR/nas_search.png (the search curves) and
// DIR/nas_cell.png plus DIR/nas_cell_<method>.dot (the found cells).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tessera-ml/tessera/automl/nas"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

type config struct {
	Nodes          int
	SearchChannels int
	SearchCells    int // cells of the supernet and of the evolution's trial networks
	Cells          int // cells of the retrained networks
	DARTSEpochs    int
	Batch          int
	EvoPopulation  int
	EvoSample      int
	EvoTrials      int
	EvoEpochs      int
	Channels       int // retraining
	Epochs         int // retraining
	LR             float64
	Seeds          int // retraining seeds per found cell
	Random         int // random cells
	Subset         int // 0: all training samples; tests use fewer
	Seed           uint64
}

var presets = map[string]config{
	"quick": {Nodes: 3, SearchChannels: 8, SearchCells: 1, Cells: 2, DARTSEpochs: 5, Batch: 64, EvoPopulation: 6, EvoSample: 3, EvoTrials: 20, EvoEpochs: 3,
		Channels: 12, Epochs: 6, LR: 5e-3, Seeds: 2, Random: 4, Seed: 1},
	"full": {Nodes: 4, SearchChannels: 8, SearchCells: 2, Cells: 2, DARTSEpochs: 25, Batch: 64, EvoPopulation: 10, EvoSample: 3, EvoTrials: 60, EvoEpochs: 5,
		Channels: 16, Epochs: 30, LR: 3e-3, Seeds: 3, Random: 8, Seed: 1},
	"tiny": {Nodes: 2, SearchChannels: 2, SearchCells: 1, Cells: 1, DARTSEpochs: 1, Batch: 50, EvoPopulation: 2, EvoSample: 1, EvoTrials: 3, EvoEpochs: 1,
		Channels: 2, Epochs: 1, LR: 3e-3, Seeds: 1, Random: 2, Subset: 200, Seed: 1},
}

// row is one method's result.
type row struct {
	Method        string    `json:"method"`
	Accuracy      float64   `json:"accuracy"` // mean over seeds (random: median over cells)
	Accuracies    []float64 `json:"accuracies"`
	Params        int       `json:"params"`
	SearchSeconds float64   `json:"search_seconds"`
	Genotype      string    `json:"genotype,omitempty"`
}

type result struct {
	Rows   []row
	Curves map[string][]nas.CurvePoint
	Found  map[string]nas.Genotype
}

func run(ctx context.Context, cfg config, progress io.Writer) (*result, error) {
	trainDS, testDS := data.DigitsSplit()
	train, test := nas.FromDataset(trainDS, tensor.Float32), nas.FromDataset(testDS, tensor.Float32)
	if cfg.Subset > 0 {
		train, _ = train.Split(cfg.Seed, cfg.Subset)
		test, _ = test.Split(cfg.Seed, min(cfg.Subset, test.Len()))
	}
	str, sva := train.Split(cfg.Seed+1, train.Len()/2)
	res := &result{Curves: map[string][]nas.CurvePoint{}, Found: map[string]nas.Genotype{}}
	searchSecs := map[string]float64{}
	for _, second := range []bool{false, true} {
		name := "darts-1st"
		if second {
			name = "darts-2nd"
		}
		fmt.Fprintf(progress, "%s: %d epochs on %d + %d images\n", name, cfg.DARTSEpochs, str.Len(), sva.Len())
		r, err := nas.DARTS(ctx, str, sva, 10, nas.DARTSConfig{Nodes: cfg.Nodes, Channels: cfg.SearchChannels, Cells: cfg.SearchCells,
			Epochs: cfg.DARTSEpochs, Batch: cfg.Batch, WLR: 0.05, WMomentum: 0.9, WWeightDecay: 3e-4, AlphaLR: 3e-3, AlphaWeightDecay: 1e-3,
			SecondOrder: second, Seed: cfg.Seed, Progress: progress})
		if err != nil {
			return nil, err
		}
		res.Curves[name], res.Found[name], searchSecs[name] = r.Curve, r.Genotype, r.Seconds
		fmt.Fprintf(progress, "%s done: %.0fs, cpu %.0fs in all\n", name, r.Seconds, cpuSeconds())
	}
	fmt.Fprintf(progress, "evolution: %d trials of %d epochs\n", cfg.EvoTrials, cfg.EvoEpochs)
	er, _, err := nas.Evolution(ctx, str, sva, 10, nas.EvolutionConfig{Nodes: cfg.Nodes, Population: cfg.EvoPopulation, Sample: cfg.EvoSample,
		Trials: cfg.EvoTrials, Channels: cfg.SearchChannels, Cells: cfg.SearchCells,
		Train: nas.TrainConfig{Epochs: cfg.EvoEpochs, Batch: cfg.Batch, LR: cfg.LR}, Seed: cfg.Seed, Progress: progress})
	if err != nil {
		return nil, err
	}
	res.Curves["evolution"], res.Found["evolution"], searchSecs["evolution"] = er.Curve, er.Genotype, er.Seconds
	fmt.Fprintf(progress, "evolution done: %.0fs, cpu %.0fs in all\n", er.Seconds, cpuSeconds())

	retrain := func(geno nas.Genotype, seed uint64) (float64, int, error) {
		net := nas.NewNetwork(tensor.NewGenerator(seed), geno, cfg.Channels, cfg.Cells, 10)
		start := time.Now()
		if _, err := nas.Train(ctx, net, train, nas.TrainConfig{Epochs: cfg.Epochs, Batch: cfg.Batch, LR: cfg.LR, Seed: seed}); err != nil {
			return 0, 0, err
		}
		acc := nas.Accuracy(net, test)
		fmt.Fprintf(progress, "  retrained (seed %d, %d params, %.1fs, cpu %.0fs in all): test accuracy %.4f  %v\n", seed, nn.NumParams(net), time.Since(start).Seconds(), cpuSeconds(), acc, geno)
		return acc, nn.NumParams(net), nil
	}
	for _, m := range []string{"darts-1st", "darts-2nd", "evolution"} {
		fmt.Fprintf(progress, "retraining the %s cell, %d seeds, %d epochs\n", m, cfg.Seeds, cfg.Epochs)
		rw := row{Method: m, SearchSeconds: searchSecs[m], Genotype: res.Found[m].String()}
		for s := range cfg.Seeds {
			acc, params, err := retrain(res.Found[m], cfg.Seed*100+uint64(s))
			if err != nil {
				return nil, err
			}
			rw.Accuracies = append(rw.Accuracies, acc)
			rw.Params = params
			rw.Accuracy += acc / float64(cfg.Seeds)
		}
		res.Rows = append(res.Rows, rw)
	}
	fmt.Fprintf(progress, "training %d random cells of the same size\n", cfg.Random)
	rr := rand.New(rand.NewPCG(cfg.Seed, 555))
	rw := row{Method: "random"}
	var params []int
	for i := range cfg.Random {
		acc, p, err := retrain(nas.RandomGenotype(rr, cfg.Nodes), cfg.Seed*100+uint64(i))
		if err != nil {
			return nil, err
		}
		rw.Accuracies = append(rw.Accuracies, acc)
		params = append(params, p)
	}
	rw.Accuracy = median(rw.Accuracies)
	rw.Params = int(median(intsToFloats(params)))
	res.Rows = append(res.Rows, rw)
	return res, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func intsToFloats(xs []int) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

func mainErr(cfg config, jsonOut bool, out string, stdout, stderr io.Writer) error {
	start := time.Now()
	res, err := run(context.Background(), cfg, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "total %.0fs wall, %.0fs cpu\n", time.Since(start).Seconds(), cpuSeconds())
	if jsonOut {
		enc := json.NewEncoder(stdout)
		for _, r := range res.Rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
	} else {
		fmt.Fprintf(stdout, "%-10s %9s %8s %9s  %s\n", "method", "test acc", "params", "search s", "cell / per-seed accuracies")
		for _, r := range res.Rows {
			fmt.Fprintf(stdout, "%-10s %9.4f %8d %9.1f  %v %s\n", r.Method, r.Accuracy, r.Params, r.SearchSeconds, r.Accuracies, r.Genotype)
		}
	}
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		if err := plotSearch(filepath.Join(out, "nas_search.png"), res); err != nil {
			return err
		}
		if err := plotCells(filepath.Join(out, "nas_cell.png"), res); err != nil {
			return err
		}
		for m, g := range res.Found {
			if err := os.WriteFile(filepath.Join(out, "nas_cell_"+m+".dot"), []byte(g.DOT()), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func main() {
	preset := flag.String("preset", "quick", "settings: quick (< 3 min on 2 cores), full or tiny")
	jsonOut := flag.Bool("json", false, "print one JSON line per method")
	out := flag.String("out", ".", "directory for the PNGs and DOT files (empty: none)")
	darts := flag.Int("darts-epochs", 0, "DARTS epochs (0: the preset's)")
	trials := flag.Int("trials", 0, "evolution trials (0: the preset's)")
	epochs := flag.Int("epochs", 0, "retraining epochs (0: the preset's)")
	seeds := flag.Int("seeds", 0, "retraining seeds per found cell (0: the preset's)")
	random := flag.Int("random", 0, "random cells (0: the preset's)")
	flag.Parse()
	cfg, ok := presets[*preset]
	if !ok {
		fmt.Fprintf(os.Stderr, "nas: unknown preset %q\n", *preset)
		os.Exit(2)
	}
	for _, o := range []struct{ v, dst *int }{{darts, &cfg.DARTSEpochs}, {trials, &cfg.EvoTrials}, {epochs, &cfg.Epochs}, {seeds, &cfg.Seeds}, {random, &cfg.Random}} {
		if *o.v > 0 {
			*o.dst = *o.v
		}
	}
	if err := mainErr(cfg, *jsonOut, *out, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "nas:", err)
		os.Exit(1)
	}
}
