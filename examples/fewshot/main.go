// Command fewshot meta-trains a small convolutional network for N-way
// K-shot classification of the embedded 8x8 digits with MAML (second
// order), first-order MAML and Reptile, with the digit classes split:
// episodes of meta-training use the digits 0-4, episodes of meta-testing
// the digits 5-9 (never seen in meta-training). A 5-way meta-test episode
// therefore always holds the classes 5-9, with labels assigned in random
// order, and K support images per class. It reports the mean query
// accuracy over meta-test episodes after the test-time SGD steps, for
// 5-way 1-shot and 5-shot, beside the same network fine-tuned from its
// random initialisation (no meta-training).
//
//	go run ./examples/fewshot [-preset quick|full] [-json]
//
// -json prints one line per (method, shots):
// {"method","ways","shots","accuracy","ci95"}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/tessera-ml/tessera/automl/meta"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

type config struct {
	Ways        int
	Shots       []int
	Query       int // query images per class
	Iters       int
	MetaBatch   int
	InnerSteps  int     // MAML/FOMAML inner steps in meta-training
	Alpha       float64 // inner and test-time SGD rate
	TestSteps   int     // SGD steps at meta-test time
	OuterLR     float64 // Adam rate (MAML, FOMAML)
	ReptileK    int
	ReptileLR   float64 // Reptile's outer rate ε
	Channels    int
	EvalEpisode int
	Workers     int
	Seed        uint64
	// Rotate adds the 90°, 180° and 270° rotations of the meta-training
	// digits as classes of their own (20 meta-training classes).
	Rotate bool
}

var presets = map[string]config{
	"quick": {Ways: 5, Shots: []int{1, 5}, Query: 5, Iters: 300, MetaBatch: 4, InnerSteps: 1, Alpha: 0.4, TestSteps: 3,
		OuterLR: 1e-3, ReptileK: 5, ReptileLR: 0.5, Channels: 16, EvalEpisode: 200, Workers: 2, Seed: 1},
	"full": {Ways: 5, Shots: []int{1, 5}, Query: 10, Iters: 2000, MetaBatch: 8, InnerSteps: 1, Alpha: 0.4, TestSteps: 3,
		OuterLR: 1e-3, ReptileK: 5, ReptileLR: 0.5, Channels: 32, EvalEpisode: 600, Workers: 2, Seed: 1},
	"tiny": {Ways: 3, Shots: []int{1}, Query: 2, Iters: 2, MetaBatch: 2, InnerSteps: 1, Alpha: 0.4, TestSteps: 2,
		OuterLR: 1e-3, ReptileK: 2, ReptileLR: 0.5, Channels: 4, EvalEpisode: 4, Workers: 2, Seed: 1},
}

var methods = []string{"maml", "fomaml", "reptile", "no-meta"}

type row struct {
	Method   string  `json:"method"`
	Ways     int     `json:"ways"`
	Shots    int     `json:"shots"`
	Accuracy float64 `json:"accuracy"`
	CI95     float64 `json:"ci95"`
	// TrainClassAccuracy is the same measure on episodes of the
	// meta-training classes (new images are not guaranteed: a diagnostic).
	TrainClassAccuracy float64 `json:"train_class_accuracy"`
	Seconds            float64 `json:"train_seconds"`
}

// newModel: conv 3x3 (pad 1) → ReLU → maxpool 2 twice, then a linear
// classifier: [n, 1, 8, 8] → [n, ways].
func newModel(seed uint64, ch, ways int) nn.Module {
	g := tensor.NewGenerator(seed)
	k3 := tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}
	return nn.NewSequential(
		nn.NewConv2d(g, 1, ch, k3, 1, true), nn.NewReLU(), nn.NewMaxPool2d(2, 2, 0),
		nn.NewConv2d(g, ch, ch, k3, 1, true), nn.NewReLU(), nn.NewMaxPool2d(2, 2, 0),
		nn.NewFlatten(), nn.NewLinear(g, ch*2*2, ways, true))
}

func learner(method string, cfg config) (*meta.Learner, *optim.Optimizer) {
	model := newModel(cfg.Seed, cfg.Channels, cfg.Ways)
	switch method {
	case "maml", "fomaml", "no-meta":
		m := meta.MAML
		if method == "fomaml" {
			m = meta.FOMAML
		}
		l := meta.NewLearner(model, meta.Config{Method: m, InnerSteps: cfg.InnerSteps, InnerLR: cfg.Alpha, Loss: meta.CrossEntropy, Workers: cfg.Workers})
		return l, optim.NewAdam(l.MetaParams(), optim.Options{LR: cfg.OuterLR})
	case "reptile":
		l := meta.NewLearner(model, meta.Config{Method: meta.Reptile, InnerSteps: cfg.ReptileK, InnerLR: cfg.Alpha / 4, Loss: meta.CrossEntropy, Workers: cfg.Workers})
		return l, optim.NewSGD(l.MetaParams(), optim.Options{LR: cfg.ReptileLR})
	}
	panic("unknown method " + method)
}

// accuracy fine-tunes l on each episode's support set and returns the mean
// query accuracy and its 95% interval.
func accuracy(l *meta.Learner, eps []meta.Task, steps int, alpha float64) (float64, float64) {
	var accs []float64
	for _, t := range eps {
		vals := l.AdaptValues(t.XS, t.YS, steps, alpha)
		pred := tensor.ArgMax(l.Predict(vals[steps], t.XQ), -1, false)
		accs = append(accs, tensor.Mean(tensor.Eq(pred, t.YQ).Cast(tensor.Float64), false).Item())
	}
	var m, v float64
	for _, a := range accs {
		m += a
	}
	m /= float64(len(accs))
	for _, a := range accs {
		v += (a - m) * (a - m)
	}
	if len(accs) < 2 {
		return m, 0
	}
	return m, 1.96 * math.Sqrt(v/float64(len(accs)-1)/float64(len(accs)))
}

func run(cfg config, progress io.Writer) ([]row, error) {
	ctx := context.Background()
	var rows []row
	for _, shots := range cfg.Shots {
		trainEp, testEp, err := meta.DigitsEpisodes([]int64{0, 1, 2, 3, 4}, cfg.Ways, shots, cfg.Query)
		if err != nil {
			return nil, err
		}
		if cfg.Rotate {
			var classes []int64
			for r := range int64(4) {
				for c := range int64(5) {
					classes = append(classes, 10*r+c)
				}
			}
			if trainEp, err = meta.NewEpisodes(meta.Rotated(data.Digits(), 10), classes, cfg.Ways, shots, cfg.Query); err != nil {
				return nil, err
			}
		}
		trainEval := meta.SampleBatch(trainEp, rand.New(rand.NewPCG(cfg.Seed, 78)), cfg.EvalEpisode)
		eval := meta.SampleBatch(testEp, rand.New(rand.NewPCG(cfg.Seed, 77)), cfg.EvalEpisode)
		for _, m := range methods {
			l, opt := learner(m, cfg)
			start := time.Now()
			iters := cfg.Iters
			if m == "no-meta" {
				iters = 0
			}
			r := rand.New(rand.NewPCG(cfg.Seed, uint64(shots)))
			avg, last := math.NaN(), time.Time{}
			for it := range iters {
				loss, err := l.Step(ctx, meta.SampleBatch(trainEp, r, cfg.MetaBatch), opt, nil)
				if err != nil {
					return nil, fmt.Errorf("%s %d-shot: %w", m, shots, err)
				}
				if math.IsNaN(avg) {
					avg = loss
				}
				avg = 0.95*avg + 0.05*loss
				if progress != nil && (time.Since(last) > time.Second || it == iters-1) {
					last = time.Now()
					el := time.Since(start).Seconds()
					fmt.Fprintf(progress, "\r%d-way %d-shot %-8s iter %4d/%d  query loss %.3f  eta %3.0fs", cfg.Ways, shots, m, it+1, iters, avg, el/float64(it+1)*float64(iters-it-1))
				}
			}
			secs := time.Since(start).Seconds()
			acc, ci := accuracy(l, eval, cfg.TestSteps, cfg.Alpha)
			trainAcc, _ := accuracy(l, trainEval, cfg.TestSteps, cfg.Alpha)
			if progress != nil {
				fmt.Fprintf(progress, "\r%d-way %d-shot %-8s meta-test accuracy %.3f ± %.3f (meta-train classes %.3f) (%.0fs)%20s\n", cfg.Ways, shots, m, acc, ci, trainAcc, secs, "")
			}
			rows = append(rows, row{Method: m, Ways: cfg.Ways, Shots: shots, Accuracy: acc, CI95: ci, TrainClassAccuracy: trainAcc, Seconds: secs})
		}
	}
	return rows, nil
}

func mainErr(cfg config, jsonOut bool, stdout, stderr io.Writer) error {
	fmt.Fprintf(stderr, "digits %d-way few-shot: meta-train classes 0-4, meta-test classes 5-9; %d iterations x %d episodes; %d test steps of SGD %g\n",
		cfg.Ways, cfg.Iters, cfg.MetaBatch, cfg.TestSteps, cfg.Alpha)
	rows, err := run(cfg, stderr)
	if err != nil {
		return err
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "%-8s %5s %5s %18s %8s\n", "method", "ways", "shots", "accuracy (95% CI)", "train s")
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-8s %5d %5d %10.3f ± %5.3f %8.1f\n", r.Method, r.Ways, r.Shots, r.Accuracy, r.CI95, r.Seconds)
	}
	return nil
}

func main() {
	preset := flag.String("preset", "quick", "settings: quick (< 3 min on 2 cores), full or tiny")
	jsonOut := flag.Bool("json", false, "print one JSON line per (method, shots)")
	iters := flag.Int("iters", 0, "meta-iterations (0: the preset's)")
	rotate := flag.Bool("rotate", false, "add the rotated meta-training digits as classes of their own (20 meta-training classes)")
	flag.Parse()
	cfg, ok := presets[*preset]
	if !ok {
		fmt.Fprintf(os.Stderr, "fewshot: unknown preset %q\n", *preset)
		os.Exit(2)
	}
	if *iters > 0 {
		cfg.Iters = *iters
	}
	cfg.Rotate = *rotate
	if err := mainErr(cfg, *jsonOut, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fewshot:", err)
		os.Exit(1)
	}
}
