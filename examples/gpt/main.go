// Command gpt trains a byte-level GPT-mini on the opening of Shakespeare's
// Coriolanus (embedded; public domain — the text of Karpathy's
// tinyshakespeare, from Project Gutenberg) on any data × pipeline × tensor
// grid of ranks, prints the loss of every step and samples text at the
// end. It needs no network and no files:
//
//	go run ./examples/gpt -quick                      # one process, about a minute on 2 cores
//	go run ./examples/gpt                             # the default preset: 4 layers, 600 steps, 5-8 minutes
//	go run ./examples/gpt -quick -dp 1 -pp 2 -tp 2    # 4 in-process ranks: pipeline 2 x tensor 2
//	go build -tags mpi -o gpt ./examples/gpt && mpirun -np 4 ./gpt -pp 2 -tp 2
//
// The model is nn.GPT (pre-LayerNorm blocks, causal self-attention, tied
// embeddings); on a grid it runs as parallel/tensorparallel's GPT (heads,
// MLP and vocabulary split over -tp ranks, -sp for sequence parallelism),
// cut into -pp stages run by parallel/pipeline (-schedule gpipe or 1f1b,
// -micro micro-batches), with -dp data-parallel replicas; the global
// gradient norm is clipped to -clip (computed over every shard and stage). Every step's
// batch is drawn from one random stream and split over the replicas, so
// the loss curve follows single-process training with the same seed (to
// float32 rounding). With -json the last line of output is
// {"grid","steps","losses","final_loss","val_loss","seconds","tokens_per_second","sample"}.
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	_ "github.com/tessera-ml/tessera/collectives/mpi" // the MPI backend when built with -tags mpi
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/parallel/mesh"
	"github.com/tessera-ml/tessera/parallel/pipeline"
	tp "github.com/tessera-ml/tessera/parallel/tensorparallel"
	"github.com/tessera-ml/tessera/tensor"
)

//go:embed coriolanus.txt
var corpus []byte

// Config is the run's settings (the command-line flags).
type Config struct {
	DP, PP, TP       int  // the grid; in process, DP·PP·TP goroutine ranks
	SequenceParallel bool // -sp
	Schedule         string
	Micro            int // micro-batches per step and replica
	Model            nn.GPTConfig
	Steps, Batch     int // steps, global batch (sequences of Model.Context bytes)
	LR               float64
	Clip             float64 // global gradient-norm bound (0: none)
	Seed             uint64
	Sample           int       // bytes sampled at the end
	EvalBatches      int       // validation batches at the end
	Progress         io.Writer // rank 0's progress lines; nil: none
}

// presets: default takes 5-8 minutes on 2 cores (loss 1.7), quick about
// one (loss 2.2).
var presets = map[string]Config{
	"default": {DP: 1, PP: 1, TP: 1, Schedule: "1f1b", Micro: 2, Steps: 600, Batch: 16, LR: 3e-3, Clip: 1, Seed: 1, Sample: 300, EvalBatches: 8,
		Model: nn.GPTConfig{Vocab: 256, Context: 64, Embed: 128, Heads: 4, Layers: 4}},
	"quick": {DP: 1, PP: 1, TP: 1, Schedule: "1f1b", Micro: 2, Steps: 300, Batch: 16, LR: 3e-3, Clip: 1, Seed: 1, Sample: 200, EvalBatches: 4,
		Model: nn.GPTConfig{Vocab: 256, Context: 64, Embed: 64, Heads: 4, Layers: 2}},
}

// Result summarises a run (rank 0's view).
type Result struct {
	Grid            string    `json:"grid"`
	Steps           int       `json:"steps"`
	Losses          []float64 `json:"losses"`
	FinalLoss       float64   `json:"final_loss"`
	ValLoss         float64   `json:"val_loss"`
	Seconds         float64   `json:"seconds"`
	TokensPerSecond float64   `json:"tokens_per_second"`
	Sample          string    `json:"sample"`
}

// batch returns step s's global batch: rows of Context+1 bytes at offsets
// drawn from one stream (the same on every rank), as inputs and targets.
func batch(g *tensor.Generator, text []byte, b, t int) (x, y *tensor.Tensor) {
	offs := g.RandInt(0, int64(len(text)-t-1), b).Int64s()
	xs, ys := make([]int64, b*t), make([]int64, b*t)
	for i, o := range offs {
		for j := range t {
			xs[i*t+j] = int64(text[int(o)+j])
			ys[i*t+j] = int64(text[int(o)+j+1])
		}
	}
	return tensor.FromSlice(xs, b, t), tensor.FromSlice(ys, b, t)
}

// Train runs the training on the grid and returns rank 0's result.
func Train(cfg Config) (Result, error) {
	n := cfg.DP * cfg.PP * cfg.TP
	if cfg.DP < 1 || cfg.PP < 1 || cfg.TP < 1 || cfg.Steps < 1 || cfg.Micro < 1 || cfg.Batch%(cfg.DP*cfg.Micro) != 0 {
		return Result{}, fmt.Errorf("gpt: need -dp, -pp, -tp, -steps, -micro >= 1 and a batch divisible by dp*micro (%d, %d x %d)", cfg.Batch, cfg.DP, cfg.Micro)
	}
	ranks := n
	if env, err := collectives.ReadEnv(os.Getenv); err == nil && env.Size > 1 {
		ranks = 1 // launched: the job's processes are the ranks
	}
	var (
		mu  sync.Mutex
		res Result
	)
	err := parallel.Launch(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		r, err := trainRank(ctx, cfg, c)
		if err == nil && c.Rank() == 0 {
			mu.Lock()
			res = r
			mu.Unlock()
		}
		return err
	})
	return res, err
}

func trainRank(ctx context.Context, cfg Config, world collectives.Comm) (Result, error) {
	shape := mesh.Shape{Data: cfg.DP, Pipe: cfg.PP, Tensor: cfg.TP}
	res := Result{Grid: shape.String()}
	m, err := mesh.New(ctx, world, shape)
	if err != nil {
		return res, err
	}
	defer m.Close()
	group := tp.NewGroup(ctx, m.Tensor)
	group.SetTimeout(5 * time.Minute)
	full := nn.NewGPT(tensor.NewGenerator(cfg.Seed), cfg.Model)
	model := tp.NewGPT(group, full, tp.Options{SequenceParallel: cfg.SequenceParallel})
	stages, err := model.Stages(cfg.PP)
	if err != nil {
		return res, err
	}
	stage := stages[m.Coord.Pipe]
	sched, err := pipeline.ByName(cfg.Schedule, cfg.PP, cfg.Micro, 1)
	if err != nil {
		return res, err
	}
	pl, err := pipeline.New(m.Pipe, sched, []nn.Module{stage}, pipeline.Options{})
	if err != nil {
		return res, err
	}
	params := tp.Unique(stage)
	opt := optim.NewAdamW(params, optim.Options{LR: cfg.LR, WeightDecay: 0.01})
	lrs := optim.NewScheduler(opt, optim.Warmup{Steps: cfg.Steps / 10, StartFactor: 0.1, Then: optim.Cosine{Steps: cfg.Steps - cfg.Steps/10, MinLR: cfg.LR / 10}})

	split := len(corpus) * 9 / 10
	train, val := corpus[:split], corpus[split:]
	gen := tensor.NewGenerator(cfg.Seed + 1)
	perReplica := cfg.Batch / cfg.DP
	t := cfg.Model.Context
	start := time.Now()
	stepLoss := func(x, y *tensor.Tensor, learn bool) (float64, error) {
		x, y = x.Narrow(0, m.Coord.Data*perReplica, perReplica), y.Narrow(0, m.Coord.Data*perReplica, perReplica)
		xs, err := pipeline.MicroBatches(x, cfg.Micro)
		if err != nil {
			return 0, err
		}
		ys, err := pipeline.MicroBatches(y, cfg.Micro)
		if err != nil {
			return 0, err
		}
		lossFn := func(out *autograd.Var, i int) *autograd.Var { return model.Loss(out, ys[i]) }
		var loss float64
		if learn {
			opt.ZeroGrad()
			loss, err = pl.Step(ctx, xs, lossFn)
		} else {
			// no backward: run the schedule's forward passes only through Step
			// would need gradients; evaluate with the same pipeline under NoGrad
			autograd.NoGrad(func() { loss, err = pl.Step(ctx, xs, lossFn) })
		}
		if err == nil {
			err = group.Err()
		}
		if err != nil {
			return 0, err
		}
		l := tensor.FromSlice([]float64{loss}, 1)
		if m.Data.Size() > 1 {
			if err := m.Data.AllReduce(ctx, l, collectives.Avg); err != nil {
				return 0, err
			}
		}
		return l.Item(), nil
	}
	for s := range cfg.Steps {
		x, y := batch(gen, train, cfg.Batch, t)
		loss, err := stepLoss(x, y, true)
		if err != nil {
			return res, err
		}
		if err := model.SyncGrads(ctx, stage, m.Data, m.Ends); err != nil {
			return res, err
		}
		if cfg.Clip > 0 {
			if _, err := model.ClipGradNorm(ctx, stage, m.Pipe, cfg.Clip); err != nil {
				return res, err
			}
		}
		if err := opt.Step(); err != nil {
			return res, err
		}
		lrs.Step()
		res.Losses = append(res.Losses, loss)
		if world.Rank() == 0 && cfg.Progress != nil {
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(s+1) * float64(cfg.Steps-s-1))
			fmt.Fprintf(cfg.Progress, "step %4d/%d  loss %.4f  %6.0f tok/s  grid %v  ETA %s\n", s+1, cfg.Steps, loss,
				float64((s+1)*cfg.Batch*t)/el.Seconds(), shape, eta.Round(100*time.Millisecond))
		}
	}
	res.Seconds = time.Since(start).Seconds()
	res.Steps = cfg.Steps
	res.FinalLoss = res.Losses[len(res.Losses)-1]
	res.TokensPerSecond = float64(cfg.Steps*cfg.Batch*t) / res.Seconds

	vg := tensor.NewGenerator(cfg.Seed + 2)
	for range cfg.EvalBatches {
		x, y := batch(vg, val, cfg.Batch, t)
		l, err := stepLoss(x, y, false)
		if err != nil {
			return res, err
		}
		res.ValLoss += l / float64(cfg.EvalBatches)
	}
	sd, err := model.GatherStateDict(ctx, stage, m.Pipe)
	if err != nil {
		return res, err
	}
	if world.Rank() == 0 && cfg.Sample > 0 {
		single := nn.NewGPT(tensor.NewGenerator(cfg.Seed), cfg.Model)
		if err := single.LoadStateDict(sd); err != nil {
			return res, err
		}
		prompt := []int64{}
		for _, b := range []byte("MENENIUS:\n") {
			prompt = append(prompt, int64(b))
		}
		out := single.Generate(tensor.NewGenerator(cfg.Seed+3), prompt, cfg.Sample, 0.8)
		bs := make([]byte, len(out))
		for i, v := range out {
			bs[i] = byte(v)
		}
		res.Sample = string(bs)
	}
	return res, nil
}

func main() {
	preset := "default"
	for i, a := range os.Args[1:] {
		if a == "-quick" || a == "--quick" {
			preset = "quick"
		}
		if (a == "-preset" || a == "--preset") && i+2 < len(os.Args) {
			preset = os.Args[i+2]
		}
	}
	cfg, ok := presets[preset]
	if !ok {
		fmt.Fprintf(os.Stderr, "gpt: unknown preset %q (default, quick)\n", preset)
		os.Exit(2)
	}
	flag.String("preset", preset, "default or quick")
	flag.Bool("quick", false, "the quick preset (under 3 minutes on 2 cores)")
	flag.IntVar(&cfg.DP, "dp", cfg.DP, "data-parallel degree")
	flag.IntVar(&cfg.PP, "pp", cfg.PP, "pipeline-parallel degree (stages)")
	flag.IntVar(&cfg.TP, "tp", cfg.TP, "tensor-parallel degree")
	flag.BoolVar(&cfg.SequenceParallel, "sp", false, "sequence parallelism within the tensor-parallel groups")
	flag.StringVar(&cfg.Schedule, "schedule", cfg.Schedule, "pipeline schedule: gpipe or 1f1b")
	flag.IntVar(&cfg.Micro, "micro", cfg.Micro, "micro-batches per step and replica")
	flag.IntVar(&cfg.Steps, "steps", cfg.Steps, "training steps")
	flag.IntVar(&cfg.Batch, "batch", cfg.Batch, "global batch (sequences)")
	flag.IntVar(&cfg.Model.Layers, "layers", cfg.Model.Layers, "transformer blocks")
	flag.IntVar(&cfg.Model.Embed, "embed", cfg.Model.Embed, "embedding width")
	flag.IntVar(&cfg.Model.Heads, "heads", cfg.Model.Heads, "attention heads")
	flag.IntVar(&cfg.Model.Context, "context", cfg.Model.Context, "sequence length (bytes)")
	flag.Float64Var(&cfg.LR, "lr", cfg.LR, "peak learning rate (AdamW, warm-up then cosine)")
	flag.Float64Var(&cfg.Clip, "clip", cfg.Clip, "clip the global gradient norm (over every shard and stage) to this (0: off)")
	flag.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "random seed (initialisation and batches)")
	flag.IntVar(&cfg.Sample, "sample", cfg.Sample, "bytes to sample at the end")
	asJSON := flag.Bool("json", false, "print one final JSON line; progress goes to stderr")
	flag.Parse()
	cfg.Progress = os.Stdout
	if *asJSON {
		cfg.Progress = os.Stderr
	}
	res, err := Train(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gpt:", err)
		os.Exit(1)
	}
	if res.Steps == 0 {
		return // not rank 0 of a launched job
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return
	}
	fmt.Printf("grid %s: loss %.4f after %d steps (validation %.4f) in %.1f s, %.0f tokens/s\n--- sample ---\n%s\n",
		res.Grid, res.FinalLoss, res.Steps, res.ValLoss, res.Seconds, res.TokensPerSecond, res.Sample)
}
