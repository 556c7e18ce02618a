// Command zero trains a multi-layer perceptron on the embedded
// handwritten digits (data.DigitsSplit) with ZeRO (parallel/zero) on
// in-process ranks, each rank on its share of every global batch, and
// prints per stage the test accuracy, the model-state bytes per rank
// measured by the memory accounting, the traffic and the largest
// difference of its final weights from plain data parallelism (stage 0):
//
//	go run ./examples/zero [-stages 0,1,2,3] [-ranks 4] [-dtype bfloat16|float32] [-hidden 256] [-epochs 10] [-batch 64] [-lr 0.002] [-clip 1] [-ckpt dir] [-json]
//
// The default (quick) preset takes well under a minute on 2 cores. Each
// epoch prints one progress line (rank 0). With -ckpt the last stage saves
// a sharded checkpoint there, consolidates it into model.safetensors and
// checks that the plain module loaded from it scores the same accuracy.
// With -json each stage prints one line {"stage", "ranks", "dtype",
// "test_accuracy", "final_loss", "params", "model_state_bytes_per_rank",
// "param_bytes", "grad_bytes", "optim_bytes", "comm_bytes_per_step",
// "max_diff_from_dp", "seconds"} and the progress goes to stderr.
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
	"strconv"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/parallel/zero"
	"github.com/tessera-ml/tessera/tensor"
)

// Config is the run's settings (the flags).
type Config struct {
	Stages               []zero.Stage
	Ranks                int
	DType                tensor.DType
	Hidden, Epochs       int
	Batch                int // global batch, split over the ranks
	LR, Clip             float64
	Ckpt                 string
	Progress, JSONOutput io.Writer
}

// Result is one stage's outcome.
type Result struct {
	Stage           int     `json:"stage"`
	Ranks           int     `json:"ranks"`
	DType           string  `json:"dtype"`
	TestAccuracy    float64 `json:"test_accuracy"`
	FinalLoss       float64 `json:"final_loss"`
	Params          int     `json:"params"`
	ModelStateBytes int64   `json:"model_state_bytes_per_rank"`
	ParamBytes      int64   `json:"param_bytes"`
	GradBytes       int64   `json:"grad_bytes"`
	OptimBytes      int64   `json:"optim_bytes"`
	CommBytes       int64   `json:"comm_bytes_per_step"`
	MaxDiffFromDP   float64 `json:"max_diff_from_dp"` // -1 when stage 0 did not run first
	Seconds         float64 `json:"seconds"`
	CkptAccuracy    float64 `json:"checkpoint_accuracy,omitempty"`
}

func newModel(hidden int, dt tensor.DType) *nn.Sequential {
	g := tensor.NewGenerator(1)
	o := nn.WithDType(dt)
	return nn.NewSequential(nn.NewFlatten(),
		nn.NewLinear(g, 64, hidden, true, o), nn.NewReLU(),
		nn.NewLinear(g, hidden, hidden, true, o), nn.NewReLU(),
		nn.NewLinear(g, hidden, data.DigitsClasses, true, o))
}

func accuracy(m nn.Module, x, y *tensor.Tensor, dt tensor.DType) float64 {
	var logits *autograd.Var
	autograd.NoGrad(func() { logits = m.Forward(autograd.Constant(x.Cast(dt))) })
	pred := tensor.ArgMax(logits.Value().Cast(tensor.Float32), -1, false).Int64s()
	ok := 0
	for i, p := range pred {
		if p == y.Int64s()[i] {
			ok++
		}
	}
	return float64(ok) / float64(len(pred))
}

// trainStage trains one stage and returns its result and rank 0's final
// parameters.
func trainStage(cfg Config, st zero.Stage, train, test *data.ArrayDataset) (Result, map[string][]float32, error) {
	res := Result{Stage: int(st), Ranks: cfg.Ranks, DType: cfg.DType.String()}
	var final map[string][]float32
	xtr, ytr := train.Tensors()
	xte, yte := test.Tensors()
	n := train.Len()
	per := cfg.Batch / cfg.Ranks
	stepsPerEpoch := n / cfg.Batch
	t0 := time.Now()
	err := parallel.Launch(context.Background(), cfg.Ranks, func(ctx context.Context, c collectives.Comm) error {
		z, err := zero.Wrap(newModel(cfg.Hidden, cfg.DType), c, zero.Options{Stage: st, MaxGradNorm: cfg.Clip,
			NewOptimizer: func(p []*autograd.Var) *optim.Optimizer { return optim.NewAdam(p, optim.Options{LR: cfg.LR}) }})
		if err != nil {
			return err
		}
		perm := rand.New(rand.NewPCG(7, 7)) // the same order on every rank
		for ep := range cfg.Epochs {
			order := make([]int64, n)
			for i, v := range perm.Perm(n) {
				order[i] = int64(v)
			}
			sum := 0.0
			for s := range stepsPerEpoch {
				idx := make([]int64, per)
				copy(idx, order[s*cfg.Batch+c.Rank()*per:])
				it := tensor.FromSlice(idx, per)
				x := tensor.IndexSelect(xtr, 0, it).Cast(cfg.DType)
				y := tensor.IndexSelect(ytr, 0, it)
				loss := nn.CrossEntropy(z.Forward(autograd.Constant(x)), y)
				if err := loss.Backward(); err != nil {
					return err
				}
				if err := z.Step(); err != nil {
					return err
				}
				sum += loss.Value().Cast(tensor.Float64).Item()
			}
			lt := tensor.FromSlice([]float64{sum / float64(stepsPerEpoch)}, 1)
			if err := c.AllReduce(ctx, lt, collectives.Avg); err != nil {
				return err
			}
			res.FinalLoss = lt.Item()
			if c.Rank() == 0 && cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "%v N=%d epoch %d/%d loss %.4f (%.1f s)\n", st, cfg.Ranks, ep+1, cfg.Epochs, res.FinalLoss, time.Since(t0).Seconds())
			}
		}
		sd, err := z.GatherStateDict(ctx)
		if err != nil {
			return err
		}
		ls := z.Ledger().Stats()
		if c.Rank() == 0 {
			plain := newModel(cfg.Hidden, cfg.DType)
			if err := plain.LoadStateDict(sd); err != nil {
				return err
			}
			res.TestAccuracy = accuracy(plain, xte, yte, cfg.DType)
			res.Params = z.NumParams()
			res.ModelStateBytes = ls.ModelState.Peak
			res.ParamBytes = ls.Category[tensor.MemoryParameters].Peak
			res.GradBytes = ls.Category[tensor.MemoryGradients].Peak
			res.OptimBytes = ls.Category[tensor.MemoryOptimizerState].Peak
			s := z.Stats()
			res.CommBytes = s.Bytes() / int64(max(1, s.Steps))
			final = map[string][]float32{}
			for k, v := range sd {
				final[k] = v.Cast(tensor.Float32).Float32s()
			}
		}
		if cfg.Ckpt != "" {
			if err := z.SaveSharded(cfg.Ckpt); err != nil {
				return err
			}
			if c.Rank() == 0 {
				out := filepath.Join(cfg.Ckpt, "model.safetensors")
				if err := zero.Consolidate(cfg.Ckpt, out); err != nil {
					return err
				}
				plain := newModel(cfg.Hidden, cfg.DType)
				if err := nn.Load(out, plain); err != nil {
					return err
				}
				res.CkptAccuracy = accuracy(plain, xte, yte, cfg.DType)
			}
		}
		return nil
	})
	res.Seconds = time.Since(t0).Seconds()
	return res, final, err
}

func run(cfg Config, out io.Writer) ([]Result, error) {
	train, test := data.DigitsSplit()
	var results []Result
	var dp map[string][]float32
	for i, st := range cfg.Stages {
		c := cfg
		if i != len(cfg.Stages)-1 {
			c.Ckpt = ""
		}
		r, final, err := trainStage(c, st, train, test)
		if err != nil {
			return results, err
		}
		r.MaxDiffFromDP = -1
		if st == zero.StageDP {
			dp = final
		}
		if dp != nil {
			r.MaxDiffFromDP = 0
			for k, w := range dp {
				for j := range w {
					r.MaxDiffFromDP = math.Max(r.MaxDiffFromDP, math.Abs(float64(w[j]-final[k][j])))
				}
			}
		}
		results = append(results, r)
		if cfg.JSONOutput != nil {
			b, _ := json.Marshal(r)
			fmt.Fprintln(cfg.JSONOutput, string(b))
		} else {
			fmt.Fprintf(out, "%v N=%d %s: test accuracy %.4f, final loss %.4f, Ψ=%d, model states %.3f MB per rank (params %.3f, grads %.3f, optimizer %.3f), sent %.3f MB/step, max |w - w_DP| %.2g, %.1f s\n",
				st, r.Ranks, r.DType, r.TestAccuracy, r.FinalLoss, r.Params, float64(r.ModelStateBytes)/1e6,
				float64(r.ParamBytes)/1e6, float64(r.GradBytes)/1e6, float64(r.OptimBytes)/1e6, float64(r.CommBytes)/1e6, r.MaxDiffFromDP, r.Seconds)
			if r.CkptAccuracy > 0 {
				fmt.Fprintf(out, "checkpoint in %s consolidated into model.safetensors: the plain module scores %.4f\n", cfg.Ckpt, r.CkptAccuracy)
			}
		}
	}
	return results, nil
}

func parseArgs(args []string, stdout, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("zero", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stages := fs.String("stages", "0,1,2,3", "ZeRO stages (0: plain data parallel)")
	ranks := fs.Int("ranks", 4, "in-process ranks")
	dtype := fs.String("dtype", "bfloat16", "parameter dtype: bfloat16 (float32 masters) or float32")
	hidden := fs.Int("hidden", 256, "hidden width")
	epochs := fs.Int("epochs", 10, "epochs")
	batch := fs.Int("batch", 64, "global batch (a multiple of -ranks)")
	lr := fs.Float64("lr", 2e-3, "Adam learning rate")
	clip := fs.Float64("clip", 1, "global-norm gradient clipping (0: none)")
	ckpt := fs.String("ckpt", "", "save the last stage's sharded checkpoint here and consolidate it")
	jsonOut := fs.Bool("json", false, "one JSON line per stage; progress to stderr")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	cfg := Config{Ranks: *ranks, Hidden: *hidden, Epochs: *epochs, Batch: *batch, LR: *lr, Clip: *clip, Ckpt: *ckpt, Progress: stdout}
	if *jsonOut {
		cfg.JSONOutput, cfg.Progress = stdout, stderr
	}
	switch *dtype {
	case "bfloat16":
		cfg.DType = tensor.BFloat16
	case "float32":
		cfg.DType = tensor.Float32
	default:
		return cfg, fmt.Errorf("-dtype %q: want bfloat16 or float32", *dtype)
	}
	for _, f := range strings.Split(*stages, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 0 || v > 3 {
			return cfg, fmt.Errorf("-stages: %q is not a stage", f)
		}
		cfg.Stages = append(cfg.Stages, zero.Stage(v))
	}
	if cfg.Ranks < 1 || cfg.Batch < cfg.Ranks || cfg.Batch%cfg.Ranks != 0 || cfg.Epochs < 1 || cfg.Hidden < 1 {
		return cfg, fmt.Errorf("need -ranks >= 1, -batch a positive multiple of -ranks, -epochs and -hidden >= 1")
	}
	return cfg, nil
}

func main() {
	cfg, err := parseArgs(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		_, err = run(cfg, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "zero:", err)
		os.Exit(1)
	}
}
