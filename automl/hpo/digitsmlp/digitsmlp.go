// Package digitsmlp is a tuning objective for package hpo: the quickstart
// multi-layer perceptron (Flatten, depth × (Linear + ReLU), Linear; Adam
// with a cosine learning-rate decay) trained on the digits embedded in the
// module (data.DigitsSplit: 1,437 training images, 360 held out), scored
// by its accuracy on the held-out images after each epoch. The held-out
// split serves as the validation set of the search.
//
// examples/hpo tunes it with TPE and ASHA; bench/hpo measures how many
// epochs ASHA needs to match random search.
package digitsmlp

import (
	"context"
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/automl/hpo"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// Config is one configuration of the MLP and its training.
type Config struct {
	LR          float64 // Adam's peak learning rate (cosine decay to LR/20)
	WeightDecay float64 // Adam's L2 penalty
	Width       int     // hidden units per layer
	Depth       int     // hidden layers
	Batch       int     // batch size
	Epochs      int     // the schedule's length (the maximum budget)
	Seed        uint64  // initialisation and shuffling
}

// Suggest draws a configuration from the search space: lr log-uniform in
// [1e-4, 0.1], width log-int in [16, 512], depth in 1..3, batch in {16, 32,
// 64, 128}, weight decay log-uniform in [1e-6, 1e-2].
func Suggest(t *hpo.Trial, epochs int, seed uint64) Config {
	bs := map[string]int{"16": 16, "32": 32, "64": 64, "128": 128}
	return Config{
		LR:          t.SuggestFloat("lr", 1e-4, 0.1, hpo.Log()),
		Width:       t.SuggestInt("width", 16, 512, hpo.Log()),
		Depth:       t.SuggestInt("depth", 1, 3),
		Batch:       bs[t.SuggestCategorical("batch", []string{"16", "32", "64", "128"})],
		WeightDecay: t.SuggestFloat("weight_decay", 1e-6, 1e-2, hpo.Log()),
		Epochs:      epochs,
		Seed:        seed,
	}
}

// Run is a configuration in training.
type Run struct {
	cfg         Config
	model       *nn.Sequential
	opt         *optim.Optimizer
	sched       *optim.Scheduler
	loader      *data.Loader
	test        data.Dataset
	epoch       int
	trainImages int
}

// New builds the model and optimizer of cfg.
func New(cfg Config) (*Run, error) {
	if cfg.Width <= 0 || cfg.Depth < 0 || cfg.Batch <= 0 || cfg.Epochs <= 0 || !(cfg.LR > 0) || cfg.WeightDecay < 0 {
		return nil, fmt.Errorf("digitsmlp: bad config %+v", cfg)
	}
	train, test := data.DigitsSplit()
	g := tensor.NewGenerator(cfg.Seed)
	m := nn.NewSequential(nn.NewFlatten())
	in := 64
	for range cfg.Depth {
		m.Append(nn.NewLinear(g, in, cfg.Width, true))
		m.Append(nn.NewReLU())
		in = cfg.Width
	}
	m.Append(nn.NewLinear(g, in, data.DigitsClasses, true))
	opt := optim.NewAdam(nn.Params(m), optim.Options{LR: cfg.LR, WeightDecay: cfg.WeightDecay})
	loader, err := data.NewLoader(train, data.LoaderOptions{BatchSize: cfg.Batch, Shuffle: true, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	steps := cfg.Epochs * ((train.Len() + cfg.Batch - 1) / cfg.Batch)
	sched := optim.NewScheduler(opt, optim.Cosine{Steps: steps, MinLR: cfg.LR / 20})
	return &Run{cfg: cfg, model: m, opt: opt, sched: sched, loader: loader, test: test, trainImages: train.Len()}, nil
}

// Epochs returns the number of epochs trained so far.
func (r *Run) Epochs() int { return r.epoch }

// Epoch trains one more epoch and returns the held-out accuracy.
func (r *Run) Epoch(ctx context.Context) (float64, error) {
	r.model.Train(true)
	it := r.loader.Epoch(ctx, r.epoch)
	for b, ok := it.Next(); ok; b, ok = it.Next() {
		r.opt.ZeroGrad()
		loss := nn.CrossEntropy(r.model.Forward(autograd.Constant(b.X)), b.Y)
		if err := loss.Backward(); err != nil {
			it.Close()
			return 0, err
		}
		if err := r.opt.Step(); err != nil {
			it.Close()
			return 0, err
		}
		r.sched.Step()
	}
	it.Close()
	if err := it.Err(); err != nil {
		return 0, err
	}
	r.epoch++
	return r.Accuracy()
}

// Accuracy returns the accuracy on the held-out images.
func (r *Run) Accuracy() (float64, error) {
	r.model.Train(false)
	defer r.model.Train(true)
	loader, err := data.NewLoader(r.test, data.LoaderOptions{BatchSize: 360})
	if err != nil {
		return 0, err
	}
	it := loader.Epoch(context.Background(), 0)
	defer it.Close()
	correct, seen := 0.0, 0
	autograd.NoGrad(func() {
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			logits := r.model.Forward(autograd.Constant(b.X)).Value()
			pred := tensor.ArgMax(logits, -1, false)
			correct += tensor.Sum(tensor.Eq(pred, b.Y), false).Item()
			seen += b.X.Dim(0)
		}
	})
	if err := it.Err(); err != nil {
		return 0, err
	}
	return correct / float64(max(seen, 1)), nil
}

// Objective returns an hpo objective (maximise) that trains a suggested
// configuration for up to epochs epochs, reporting the held-out accuracy
// after each (step = epochs done) and stopping when the pruner says so.
// onEpoch, if not nil, is called after each epoch (e.g. to count budget).
func Objective(epochs int, seed uint64, onEpoch func(t *hpo.Trial, epoch int, acc float64)) hpo.Objective {
	return func(t *hpo.Trial) (float64, error) {
		r, err := New(Suggest(t, epochs, seed))
		if err != nil {
			return 0, err
		}
		acc := 0.0
		for e := 1; e <= epochs; e++ {
			if acc, err = r.Epoch(t.Context()); err != nil {
				return 0, err
			}
			if onEpoch != nil {
				onEpoch(t, e, acc)
			}
			if err := t.Report(e, acc); err != nil {
				return 0, err
			}
			if t.ShouldPrune() {
				return acc, hpo.ErrPruned
			}
		}
		return acc, nil
	}
}
