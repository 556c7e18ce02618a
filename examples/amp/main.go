// Command amp trains the quickstart's multi-layer perceptron on the
// embedded handwritten digits (data.DigitsSplit: 1,437 training and 360
// test images) once per precision mode, from the same initial weights and
// the same batches, and prints the test accuracy, the final training loss,
// the time and the bytes of model state of each:
//
//	go run ./examples/amp [-modes fp32,bf16,fp16,bf16-master,fp16-master] [-hidden 512] [-epochs 30] [-batch 64] [-lr 0.002] [-loss-weight 1] [-seed 1] [-json] [-png file]
//
// The modes:
//
//	fp32         float32 everywhere (the reference)
//	bf16, fp16   float32 parameters, the forward pass under amp.Autocast
//	             (linear layers in 16 bits, loss in float32), as torch.autocast;
//	             fp16 with an amp.GradScaler
//	bf16-master  16-bit parameters and gradients, float32 master weights
//	fp16-master  stepped by Adam (amp.Optimizer), under amp.Autocast;
//	             fp16 with loss scaling
//	fp16-noscale, fp16-master-noscale
//	             fp16 without loss scaling (not in the default list)
//
// The bytes are measured by the CPU device's memory accounting (a
// tensor.MemoryLedger holding the run's parameters, their gradients and
// optimizer state): live at the end of training, and the peak of their
// sum during training.
//
// Each epoch prints one progress line. With -json each mode prints one
// line {"mode", "test_accuracy", "final_loss", "seconds", "steps",
// "skipped_steps", "loss_scale", "params", "param_bytes", "grad_bytes",
// "optimizer_bytes", "peak_model_state_bytes", "epoch_loss"} and the
// progress goes to stderr. -png draws the loss curves.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/amp"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/examples/internal/fit"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// Config is the run's settings (the command-line flags).
type Config struct {
	Modes                 []string
	Hidden, Epochs, Batch int
	LR                    float64
	// LossWeight multiplies the loss before the backward pass (1: none).
	// A small weight (1e-5) makes the gradients small enough to underflow
	// in float16 without loss scaling; Adam's update barely depends on it.
	LossWeight float64
	Seed       uint64
	Progress   io.Writer // nil: no progress lines
}

// defaults are the flags' defaults (the quickstart's model and schedule):
// the five modes take about 30 s on 2 cores.
var defaults = Config{Modes: allModes, Hidden: 512, Epochs: 30, Batch: 64, LR: 2e-3, Seed: 1, LossWeight: 1}

var allModes = []string{"fp32", "bf16", "fp16", "bf16-master", "fp16-master"}

// Result is one mode's outcome.
type Result struct {
	Mode           string    `json:"mode"`
	TestAccuracy   float64   `json:"test_accuracy"`
	FinalLoss      float64   `json:"final_loss"` // mean training loss of the last epoch
	EpochLoss      []float64 `json:"epoch_loss"` // mean training loss of each epoch
	Seconds        float64   `json:"seconds"`
	Steps          int       `json:"steps"`
	SkippedSteps   int       `json:"skipped_steps"` // overflow steps the loss scaler skipped
	LossScale      float64   `json:"loss_scale"`    // the scale at the end (1 without a scaler)
	Params         int       `json:"params"`
	ParamBytes     int64     `json:"param_bytes"`
	GradBytes      int64     `json:"grad_bytes"`
	OptimizerBytes int64     `json:"optimizer_bytes"`
	// PeakModelStateBytes is the most bytes parameters, gradients and
	// optimizer state held together during training.
	PeakModelStateBytes int64 `json:"peak_model_state_bytes"`
	// In the fp32 mode only: the fraction of the nonzero gradient entries
	// (all steps) that float16 would flush to zero (|g| < 2^-24, its
	// smallest subnormal) and that would lose precision as subnormals
	// (|g| < 2^-14, its smallest normal number): what loss scaling is for.
	FP16Underflow float64 `json:"fp16_underflow_fraction,omitempty"`
	FP16Subnormal float64 `json:"fp16_subnormal_fraction,omitempty"`
}

// underflow counts the nonzero entries of g and those below 2^-24 and
// 2^-14 in magnitude.
func underflow(g *tensor.Tensor) (nonzero, under, sub float64) {
	a := tensor.Abs(g)
	count := func(lt float64) float64 {
		return tensor.Sum(tensor.LogicalAnd(tensor.CompareScalar(tensor.OpLt, a, lt), tensor.CompareScalar(tensor.OpGt, a, 0)).Cast(tensor.Float64), false).Item()
	}
	nonzero = tensor.Sum(tensor.CompareScalar(tensor.OpGt, a, 0).Cast(tensor.Float64), false).Item()
	return nonzero, count(math.Ldexp(1, -24)), count(math.Ldexp(1, -14))
}

// mode is a parsed precision mode.
type mode struct {
	low     tensor.DType // 16-bit compute dtype; Float32 for the reference
	master  bool         // 16-bit parameters with float32 masters
	noScale bool         // float16 without loss scaling (to show why it is needed)
}

func parseMode(s string) (mode, error) {
	switch s {
	case "fp32":
		return mode{low: tensor.Float32}, nil
	case "bf16":
		return mode{low: tensor.BFloat16}, nil
	case "fp16":
		return mode{low: tensor.Float16}, nil
	case "bf16-master":
		return mode{low: tensor.BFloat16, master: true}, nil
	case "fp16-master":
		return mode{low: tensor.Float16, master: true}, nil
	case "fp16-noscale":
		return mode{low: tensor.Float16, noScale: true}, nil
	case "fp16-master-noscale":
		return mode{low: tensor.Float16, master: true, noScale: true}, nil
	}
	return mode{}, fmt.Errorf("amp: unknown mode %q (want one of %s)", s, strings.Join(allModes, ", "))
}

// trainer hides the difference between a plain optimizer (with an optional
// scaler) and amp.Optimizer.
type trainer struct {
	model  nn.Module
	opt    *optim.Optimizer // plain modes
	master *amp.Optimizer   // master modes
	scaler *amp.GradScaler
	sched  *optim.Scheduler
	params []*autograd.Var
	ledger *tensor.MemoryLedger // counts this run's model state
}

func (tr *trainer) zeroGrad() {
	for _, p := range tr.params {
		p.ZeroGrad()
	}
}

// step returns whether the optimizer stepped (false: an overflow skipped it).
func (tr *trainer) step() (bool, error) {
	defer tr.sched.Step()
	if tr.master != nil {
		return tr.master.Step()
	}
	if tr.scaler == nil {
		return true, tr.opt.Step()
	}
	ok, err := tr.scaler.Step(tr.opt)
	tr.scaler.Update()
	return ok, err
}

func newTrainer(m mode, cfg Config, steps int) *trainer {
	g := tensor.NewGenerator(cfg.Seed)
	model := nn.Module(nn.NewSequential(nn.NewFlatten(),
		nn.NewLinear(g, 64, cfg.Hidden, true), nn.NewReLU(),
		nn.NewLinear(g, cfg.Hidden, data.DigitsClasses, true)))
	tr := &trainer{ledger: tensor.NewMemoryLedger()}
	for _, p := range nn.Params(model) {
		tr.ledger.Charge(p.Value(), tensor.MemoryParameters)
	}
	if m.low == tensor.Float16 && !m.noScale {
		tr.scaler = amp.NewGradScaler(amp.ScalerOptions{})
	}
	adam := func(ps []*autograd.Var) *optim.Optimizer { return optim.NewAdam(ps, optim.Options{LR: cfg.LR}) }
	var inner *optim.Optimizer
	if m.master {
		model = amp.CastModule(model, m.low)
		tr.master = amp.NewOptimizer(nn.Params(model), adam, amp.Config{Scaler: tr.scaler})
		inner = tr.master.Inner()
	} else {
		tr.opt = adam(nn.Params(model))
		inner = tr.opt
	}
	tr.model, tr.params = model, nn.Params(model)
	// Persistent gradient buffers: every backward pass accumulates into
	// the same tensors (as a fused float32 Linear does anyway), so the
	// memory accounting sees no per-step gradient garbage.
	for _, p := range tr.params {
		buf := tensor.ZerosLike(p.Value())
		tr.ledger.Charge(buf, tensor.MemoryGradients)
		p.SetGradBuffer(buf)
	}
	tr.sched = optim.NewScheduler(inner, optim.Cosine{Steps: steps, MinLR: cfg.LR / 20})
	return tr
}

// Train runs one mode.
func Train(name string, cfg Config) (Result, error) {
	m, err := parseMode(name)
	if err != nil {
		return Result{}, err
	}
	if cfg.Hidden <= 0 || cfg.Epochs <= 0 || cfg.Batch <= 0 || !(cfg.LR > 0) || !(cfg.LossWeight > 0) {
		return Result{}, fmt.Errorf("amp: need -hidden > 0, -epochs > 0, -batch > 0, -lr > 0 and -loss-weight > 0")
	}
	train, test := data.DigitsSplit()
	loader, err := data.NewLoader(train, data.LoaderOptions{BatchSize: cfg.Batch, Shuffle: true, Seed: cfg.Seed})
	if err != nil {
		return Result{}, err
	}
	tr := newTrainer(m, cfg, cfg.Epochs*loader.NumBatches())
	// autocast runs f under the mode's policy (directly for fp32).
	autocast := func(f func()) {
		if m.low == tensor.Float32 {
			f()
			return
		}
		amp.Autocast(amp.Policy{DType: m.low}, f)
	}
	res := Result{Mode: name, Params: nn.NumParams(tr.model), LossScale: 1}
	runtime.GC() // a master mode's float32 originals are garbage now
	tr.ledger.ResetPeak()
	start := time.Now()
	var nonzero, under, subnormal float64
	var untimed time.Duration
	for epoch := range cfg.Epochs {
		it := loader.Epoch(context.Background(), epoch)
		var lossSum float64
		seen := 0
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			tr.zeroGrad()
			var loss *autograd.Var
			autocast(func() { loss = nn.CrossEntropy(tr.model.Forward(autograd.Constant(b.X)), b.Y) })
			scaled := loss
			if cfg.LossWeight != 1 {
				autocast(func() { scaled = autograd.MulScalar(loss, cfg.LossWeight) })
			}
			if tr.scaler != nil {
				scaled = tr.scaler.ScaleLoss(scaled)
			}
			if err := scaled.Backward(); err != nil {
				it.Close()
				return res, err
			}
			if m.low == tensor.Float32 { // a measurement, not timed
				t0 := time.Now()
				for _, p := range tr.params {
					n, u, sub := underflow(p.Grad())
					nonzero += n
					under += u
					subnormal += sub
				}
				untimed += time.Since(t0)
			}
			stepped, err := tr.step()
			if err != nil {
				it.Close()
				return res, err
			}
			if !stepped {
				res.SkippedSteps++
			}
			res.Steps++
			lossSum += loss.Item() * float64(b.X.Dim(0))
			seen += b.X.Dim(0)
		}
		it.Close()
		if err := it.Err(); err != nil {
			return res, err
		}
		res.FinalLoss = lossSum / float64(seen)
		res.EpochLoss = append(res.EpochLoss, res.FinalLoss)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "%-11s epoch %2d/%d  loss %.4f  %.1f s\n", name, epoch+1, cfg.Epochs, res.FinalLoss, (time.Since(start) - untimed).Seconds())
		}
	}
	res.Seconds = (time.Since(start) - untimed).Seconds()
	if nonzero > 0 {
		res.FP16Underflow, res.FP16Subnormal = under/nonzero, subnormal/nonzero
	}
	if tr.scaler != nil {
		res.LossScale = tr.scaler.Scale()
	}
	runtime.GC()
	st := tr.ledger.Stats()
	res.ParamBytes = st.Category[tensor.MemoryParameters].Live
	res.GradBytes = st.Category[tensor.MemoryGradients].Live
	res.OptimizerBytes = st.Category[tensor.MemoryOptimizerState].Live
	res.PeakModelStateBytes = st.ModelState.Peak
	var acc float64
	autocast(func() { acc, err = fit.Evaluate(tr.model, test, 256, tensor.CPU) })
	res.TestAccuracy = acc
	if math.IsNaN(res.FinalLoss) {
		return res, fmt.Errorf("amp: %s diverged (loss NaN)", name)
	}
	return res, err
}

func main() {
	cfg := defaults
	modes := flag.String("modes", strings.Join(allModes, ","), "comma-separated precision modes: "+strings.Join(allModes, ", "))
	flag.IntVar(&cfg.Hidden, "hidden", defaults.Hidden, "width of the hidden layer")
	flag.IntVar(&cfg.Epochs, "epochs", defaults.Epochs, "training epochs")
	flag.IntVar(&cfg.Batch, "batch", defaults.Batch, "batch size")
	flag.Float64Var(&cfg.LR, "lr", defaults.LR, "peak learning rate (Adam, cosine decay)")
	flag.Float64Var(&cfg.LossWeight, "loss-weight", defaults.LossWeight, "multiply the loss by this before the backward pass (1e-5 shows float16 underflow)")
	flag.Uint64Var(&cfg.Seed, "seed", defaults.Seed, "random seed (initialisation and shuffling)")
	asJSON := flag.Bool("json", false, "print one JSON line per mode; progress goes to stderr")
	png := flag.String("png", "", "write the loss curves (and each mode relative to fp32) to this PNG file")
	flag.Parse()
	cfg.Progress = os.Stdout
	if *asJSON {
		cfg.Progress = os.Stderr
	}
	var results []Result
	for _, name := range strings.Split(*modes, ",") {
		res, err := Train(strings.TrimSpace(name), cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "amp:", err)
			os.Exit(1)
		}
		results = append(results, res)
		if *asJSON {
			b, _ := json.Marshal(res)
			fmt.Println(string(b))
		}
	}
	if *png != "" {
		if err := writePlot(*png, results); err != nil {
			fmt.Fprintln(os.Stderr, "amp:", err)
			os.Exit(1)
		}
	}
	if *asJSON {
		return
	}
	fmt.Printf("\n%-19s %8s %8s %7s %7s %8s %9s %9s %9s %9s\n", "mode", "test acc", "loss", "seconds", "skipped", "scale", "params/Ψ", "grads/Ψ", "optim/Ψ", "peak/Ψ")
	for _, r := range results {
		psi := float64(r.Params)
		fmt.Printf("%-19s %8.4f %8.4f %7.1f %7d %8g %9.2f %9.2f %9.2f %9.2f\n", r.Mode, r.TestAccuracy, r.FinalLoss, r.Seconds,
			r.SkippedSteps, r.LossScale, float64(r.ParamBytes)/psi, float64(r.GradBytes)/psi, float64(r.OptimizerBytes)/psi,
			float64(r.PeakModelStateBytes)/psi)
	}
	fmt.Printf("(Ψ = %d parameters; bytes per parameter measured by the memory accounting)\n", results[0].Params)
	for _, r := range results {
		if r.Mode == "fp32" {
			fmt.Printf("fp32 gradients: %.2g of the nonzero entries would flush to zero in float16, %.2g would be subnormal\n", r.FP16Underflow, r.FP16Subnormal)
		}
	}
}
