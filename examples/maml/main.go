// Command maml reproduces the sine-regression experiment of MAML (Finn et
// al. 2017, §5.1 and Fig. 2) at a small scale: a 1→40→40→1 ReLU network is
// meta-trained with MAML (second order), first-order MAML and Reptile, and
// trained jointly on all tasks as the "pretrained" baseline; then each is
// fine-tuned with plain SGD (rate -alpha) on K support points of 100
// held-out sine tasks, and the query MSE (100 points per task) is reported
// after 0..10 adaptation steps.
//
//	go run ./examples/maml [-preset quick|full] [-json] [-out DIR]
//
// It prints progress to stderr, a table (or with -json one line per
// (method, steps): {"method","steps","mse","ci95"}) to stdout, and writes
// DIR/maml_curves.png (MSE against steps) and DIR/maml_fits.png (adapted
// fits on three tasks, like the paper's Fig. 2).
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
	"path/filepath"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/automl/meta"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// config is one run's settings.
type config struct {
	Iters       int     // meta-iterations per method
	MetaBatch   int     // tasks per meta-iteration
	K           int     // support shots
	Alpha       float64 // inner / fine-tuning SGD rate
	OuterLR     float64 // Adam rate of MAML, FOMAML and pretraining
	ReptileLR   float64 // Reptile's outer SGD rate ε
	ReptileK    int     // Reptile's inner steps during meta-training
	ReptileLRIn float64 // Reptile's inner SGD rate during meta-training
	EvalTasks   int
	EvalSteps   int
	Hidden      int
	Workers     int
	Seed        uint64
}

var presets = map[string]config{
	// quick: under 3 minutes on 2 cores.
	"quick": {Iters: 1500, MetaBatch: 10, K: 10, Alpha: 0.01, OuterLR: 2e-3, ReptileLR: 0.1, ReptileK: 5, ReptileLRIn: 0.02,
		EvalTasks: 100, EvalSteps: 10, Hidden: 40, Workers: 2, Seed: 1},
	// full: the paper's meta-batch of 25 and more iterations (its 70,000 are out of reach).
	"full": {Iters: 8000, MetaBatch: 25, K: 10, Alpha: 0.01, OuterLR: 1e-3, ReptileLR: 0.1, ReptileK: 5, ReptileLRIn: 0.02,
		EvalTasks: 100, EvalSteps: 10, Hidden: 40, Workers: 2, Seed: 1},
	// tiny: for tests.
	"tiny": {Iters: 5, MetaBatch: 2, K: 5, Alpha: 0.01, OuterLR: 1e-3, ReptileLR: 0.1, ReptileK: 2, ReptileLRIn: 0.02,
		EvalTasks: 3, EvalSteps: 10, Hidden: 8, Workers: 2, Seed: 1},
}

// methods in report order.
var methods = []string{"maml", "fomaml", "reptile", "pretrained"}

// point is one (method, steps) result.
type point struct {
	Method string  `json:"method"`
	Steps  int     `json:"steps"`
	MSE    float64 `json:"mse"`
	CI95   float64 `json:"ci95"` // half-width of the 95% interval of the mean over tasks
}

// result is what a run produces.
type result struct {
	Points []point
	// Fits[method][task] holds the predictions on fitX after 0, 1 and
	// EvalSteps adaptation steps.
	Fits    map[string][][3][]float64
	FitX    []float64
	FitTask []meta.Task
	Seconds map[string]float64
}

func newModel(seed uint64, hidden int) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	return nn.NewSequential(nn.NewLinear(g, 1, hidden, true), nn.NewReLU(),
		nn.NewLinear(g, hidden, hidden, true), nn.NewReLU(), nn.NewLinear(g, hidden, 1, true))
}

// train meta-trains (or pretrains) one model and returns a learner whose
// AdaptValues fine-tunes with rate cfg.Alpha.
func train(ctx context.Context, method string, cfg config, progress io.Writer) (*meta.Learner, error) {
	model := newModel(cfg.Seed, cfg.Hidden)
	sampler := meta.Sine{K: cfg.K}
	r := rand.New(rand.NewPCG(cfg.Seed, 100))
	var l *meta.Learner
	var opt *optim.Optimizer
	switch method {
	case "maml", "fomaml":
		m := meta.MAML
		if method == "fomaml" {
			m = meta.FOMAML
		}
		l = meta.NewLearner(model, meta.Config{Method: m, InnerSteps: 1, InnerLR: cfg.Alpha, Workers: cfg.Workers})
		opt = optim.NewAdam(l.MetaParams(), optim.Options{LR: cfg.OuterLR})
	case "reptile":
		l = meta.NewLearner(model, meta.Config{Method: meta.Reptile, InnerSteps: cfg.ReptileK, InnerLR: cfg.ReptileLRIn, Workers: cfg.Workers})
		opt = optim.NewSGD(l.MetaParams(), optim.Options{LR: cfg.ReptileLR})
	case "pretrained":
		l = meta.NewLearner(model, meta.Config{Method: meta.FOMAML, InnerSteps: 1, InnerLR: cfg.Alpha})
		opt = optim.NewAdam(nn.Params(model), optim.Options{LR: cfg.OuterLR})
	default:
		return nil, fmt.Errorf("unknown method %q", method)
	}
	start := time.Now()
	last := time.Time{}
	avg := math.NaN()
	for it := range cfg.Iters {
		tasks := meta.SampleBatch(sampler, r, cfg.MetaBatch)
		var loss float64
		var err error
		if method == "pretrained" {
			loss, err = pretrainStep(model, tasks, opt)
		} else {
			loss, err = l.Step(ctx, tasks, opt, nil)
		}
		if err != nil {
			return nil, err
		}
		if math.IsNaN(avg) {
			avg = loss
		}
		avg = 0.98*avg + 0.02*loss
		if progress != nil && (time.Since(last) > time.Second || it == cfg.Iters-1) {
			last = time.Now()
			el := time.Since(start).Seconds()
			eta := el / float64(it+1) * float64(cfg.Iters-it-1)
			fmt.Fprintf(progress, "\r%-10s iter %5d/%d  loss %.3f  %.0f it/s  eta %4.0fs", method, it+1, cfg.Iters, avg, float64(it+1)/el, eta)
		}
	}
	if progress != nil {
		fmt.Fprintln(progress)
	}
	return l, nil
}

// pretrainStep is one Adam step on the mean loss over the tasks' support
// and query points (joint training on the task distribution, the MAML
// paper's "pretrained" baseline).
func pretrainStep(model nn.Module, tasks []meta.Task, opt *optim.Optimizer) (float64, error) {
	opt.ZeroGrad()
	var total *autograd.Var
	for _, t := range tasks {
		for _, xy := range [][2]*tensor.Tensor{{t.XS, t.YS}, {t.XQ, t.YQ}} {
			l := meta.MSE(model.Forward(autograd.Constant(xy[0])), xy[1])
			if total == nil {
				total = l
			} else {
				total = autograd.Add(total, l)
			}
		}
	}
	total = autograd.MulScalar(total, 1/float64(2*len(tasks)))
	if err := total.Backward(); err != nil {
		return 0, err
	}
	return total.Item(), opt.Step()
}

// evaluate fine-tunes l on each task and returns the per-step MSE over tasks.
func evaluate(l *meta.Learner, tasks []meta.Task, steps int, alpha float64) [][]float64 {
	per := make([][]float64, steps+1)
	for _, t := range tasks {
		vals := l.AdaptValues(t.XS, t.YS, steps, alpha)
		for s, v := range vals {
			pred := l.Predict(v, t.XQ)
			per[s] = append(per[s], tensor.Mean(tensor.Square(tensor.Sub(pred, t.YQ)), false).Item())
		}
	}
	return per
}

func meanCI(xs []float64) (float64, float64) {
	var s, s2 float64
	for _, x := range xs {
		s += x
	}
	m := s / float64(len(xs))
	for _, x := range xs {
		s2 += (x - m) * (x - m)
	}
	if len(xs) < 2 {
		return m, 0
	}
	return m, 1.96 * math.Sqrt(s2/float64(len(xs)-1)/float64(len(xs)))
}

func run(ctx context.Context, cfg config, progress io.Writer) (*result, error) {
	// Meta-test tasks: fixed by the seed, 100 query points each.
	er := rand.New(rand.NewPCG(cfg.Seed, 7))
	evalTasks := meta.SampleBatch(meta.Sine{K: cfg.K, KQuery: 100}, er, cfg.EvalTasks)
	res := &result{Fits: map[string][][3][]float64{}, Seconds: map[string]float64{}}
	for i := range 101 {
		res.FitX = append(res.FitX, -5+0.1*float64(i))
	}
	fitX := tensor.FromSlice(res.FitX, len(res.FitX), 1).Cast(tensor.Float32)
	res.FitTask = evalTasks[:min(3, len(evalTasks))]
	for _, m := range methods {
		start := time.Now()
		l, err := train(ctx, m, cfg, progress)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		res.Seconds[m] = time.Since(start).Seconds()
		per := evaluate(l, evalTasks, cfg.EvalSteps, cfg.Alpha)
		for s, xs := range per {
			mse, ci := meanCI(xs)
			res.Points = append(res.Points, point{Method: m, Steps: s, MSE: mse, CI95: ci})
		}
		for _, t := range res.FitTask {
			vals := l.AdaptValues(t.XS, t.YS, cfg.EvalSteps, cfg.Alpha)
			var f [3][]float64
			for j, s := range []int{0, 1, cfg.EvalSteps} {
				f[j] = l.Predict(vals[s], fitX).Float64s()
			}
			res.Fits[m] = append(res.Fits[m], f)
		}
	}
	return res, nil
}

func main() {
	preset := flag.String("preset", "quick", "settings: quick (< 3 min on 2 cores), full or tiny")
	jsonOut := flag.Bool("json", false, "print one JSON line per (method, steps)")
	out := flag.String("out", ".", "directory for maml_curves.png and maml_fits.png (empty: no PNGs)")
	iters := flag.Int("iters", 0, "meta-iterations per method (0: the preset's)")
	seed := flag.Uint64("seed", 0, "seed (0: the preset's)")
	flag.Parse()
	cfg, ok := presets[*preset]
	if !ok {
		fmt.Fprintf(os.Stderr, "maml: unknown preset %q\n", *preset)
		os.Exit(2)
	}
	if *iters > 0 {
		cfg.Iters = *iters
	}
	if *seed > 0 {
		cfg.Seed = *seed
	}
	if err := mainErr(cfg, *jsonOut, *out, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "maml:", err)
		os.Exit(1)
	}
}

func mainErr(cfg config, jsonOut bool, out string, stdout, stderr io.Writer) error {
	fmt.Fprintf(stderr, "sine regression: K=%d, alpha=%g, %d iterations x %d tasks per method, %d meta-test tasks\n",
		cfg.K, cfg.Alpha, cfg.Iters, cfg.MetaBatch, cfg.EvalTasks)
	res, err := run(context.Background(), cfg, stderr)
	if err != nil {
		return err
	}
	if jsonOut {
		enc := json.NewEncoder(stdout)
		for _, p := range res.Points {
			if err := enc.Encode(p); err != nil {
				return err
			}
		}
	} else {
		printTable(stdout, res, cfg.EvalSteps)
	}
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		if err := plotCurves(filepath.Join(out, "maml_curves.png"), res, cfg); err != nil {
			return err
		}
		if err := plotFits(filepath.Join(out, "maml_fits.png"), res, cfg); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s and %s\n", filepath.Join(out, "maml_curves.png"), filepath.Join(out, "maml_fits.png"))
	}
	return nil
}

func printTable(w io.Writer, res *result, steps int) {
	fmt.Fprintf(w, "meta-test MSE (mean over tasks ± 95%% CI) after n SGD steps\n%-6s", "steps")
	for _, m := range methods {
		fmt.Fprintf(w, " %16s", m)
	}
	fmt.Fprintln(w)
	for s := 0; s <= steps; s++ {
		fmt.Fprintf(w, "%-6d", s)
		for _, m := range methods {
			for _, p := range res.Points {
				if p.Method == m && p.Steps == s {
					fmt.Fprintf(w, " %8.3f ± %5.3f", p.MSE, p.CI95)
				}
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%-6s", "train s")
	for _, m := range methods {
		fmt.Fprintf(w, " %16.1f", res.Seconds[m])
	}
	fmt.Fprintln(w)
}
