// Command ddp trains the quickstart MLP (or a small CNN) on the embedded
// handwritten digits with data parallelism: every rank holds a replica,
// loads its own shard of each epoch (data.LoaderOptions Rank/WorldSize)
// and the replicas are kept in step by the chosen strategy. It needs no
// network and no files:
//
//	go run ./examples/ddp -ranks 4                       # 4 in-process ranks (local backend)
//	go build -tags mpi -o ddp ./examples/ddp && mpirun -np 2 ./ddp   # -ranks is ignored
//	srun --mpi=pmix -n 2 ./ddp                           # under Slurm
//
// -batch is the global batch: each of N ranks trains on batch/N samples
// per step, so the run follows single-process training at the same batch
// (go run ./examples/quickstart) and reaches the same accuracy (about
// 0.97-0.98). -strategy picks allreduce (PyTorch DDP buckets, default),
// fusion (Horovod), sharded-ps (BigDL), central-ps; -staleness s makes the
// parameter-server strategies stale-synchronous. -trace writes a Chrome
// trace of the run (chrome://tracing, ui.perfetto.dev). Rank 0 prints one
// progress line per epoch; with -json the last line of output is
// {"test_accuracy", "seconds", "steps", "ranks", "strategy"}.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	_ "github.com/tessera-ml/tessera/collectives/mpi" // the MPI backend when built with -tags mpi
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/examples/internal/fit"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/parallel/strategy"
	"github.com/tessera-ml/tessera/profiler"
	"github.com/tessera-ml/tessera/tensor"
)

// Config is the run's settings (the command-line flags).
type Config struct {
	Ranks                 int // in-process ranks; 1: the launched job's world (mpirun, srun) or one process
	Model                 string
	Hidden, Epochs, Batch int
	LR                    float64
	Seed                  uint64
	Strategy              string
	BucketMiB             float64
	NoOverlap             bool
	FusionMiB             float64
	Staleness             int
	Trace                 string
	Progress              io.Writer // rank 0's progress lines; nil: none
}

// defaults are the flags' defaults: quickstart's settings (0.97-0.98).
var defaults = Config{Ranks: 2, Model: "mlp", Hidden: 512, Epochs: 30, Batch: 64, LR: 2e-3, Seed: 1, Strategy: "allreduce", BucketMiB: 25}

// Result summarises a run.
type Result struct {
	TestAccuracy float64   `json:"test_accuracy"`
	EpochLoss    []float64 `json:"-"`
	Seconds      float64   `json:"seconds"`
	Steps        int       `json:"steps"`
	Ranks        int       `json:"ranks"`
	Strategy     string    `json:"strategy"`
}

func newModel(name string, g *tensor.Generator, hidden int) (nn.Module, error) {
	switch name {
	case "mlp":
		return nn.NewSequential(nn.NewFlatten(),
			nn.NewLinear(g, 64, hidden, true), nn.NewReLU(),
			nn.NewLinear(g, hidden, data.DigitsClasses, true)), nil
	case "cnn":
		k3 := tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}
		return nn.NewSequential(
			&nn.Func{F: func(x *autograd.Var) *autograd.Var { return autograd.Reshape(x, -1, 1, 8, 8) }},
			nn.NewConv2d(g, 1, 16, k3, 1, true), nn.NewReLU(), nn.NewMaxPool2d(2, 2, 0),
			nn.NewConv2d(g, 16, 32, k3, 1, true), nn.NewReLU(), nn.NewMaxPool2d(2, 2, 0),
			nn.NewFlatten(),
			nn.NewLinear(g, 32*2*2, data.DigitsClasses, true)), nil
	}
	return nil, fmt.Errorf("ddp: unknown model %q (mlp, cnn)", name)
}

// Train runs the data-parallel training and returns rank 0's result.
func Train(cfg Config) (Result, error) {
	if cfg.Hidden <= 0 || cfg.Epochs <= 0 || cfg.Batch <= 0 || !(cfg.LR > 0) || cfg.Ranks < 1 {
		return Result{}, fmt.Errorf("ddp: need -ranks >= 1, -hidden > 0, -epochs > 0, -batch > 0 and -lr > 0")
	}
	var (
		mu   sync.Mutex
		res  Result
		recs []*profiler.Recorder
	)
	err := parallel.Launch(context.Background(), cfg.Ranks, func(ctx context.Context, c collectives.Comm) error {
		var rec *profiler.Recorder
		if cfg.Trace != "" {
			rec = profiler.New(c.Rank())
			mu.Lock()
			recs = append(recs, rec)
			mu.Unlock()
		}
		r, err := trainRank(ctx, cfg, c, rec)
		if err != nil {
			return err
		}
		if c.Rank() == 0 {
			mu.Lock()
			res = r
			mu.Unlock()
		}
		if rec != nil && cfg.Ranks == 1 && c.Size() > 1 {
			// One file per process under a launcher; profiler.Merge joins them.
			return writeTrace(strings.TrimSuffix(cfg.Trace, ".json")+fmt.Sprintf(".rank%d.json", c.Rank()), rec)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	if cfg.Trace != "" && (cfg.Ranks > 1 || len(recs) == 1 && res.Ranks == 1) {
		if err := writeTrace(cfg.Trace, recs...); err != nil {
			return res, err
		}
	}
	return res, nil
}

func writeTrace(path string, recs ...*profiler.Recorder) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := profiler.WriteChrome(f, recs...); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func trainRank(ctx context.Context, cfg Config, c collectives.Comm, rec *profiler.Recorder) (Result, error) {
	n, rank := c.Size(), c.Rank()
	res := Result{Ranks: n, Strategy: cfg.Strategy}
	if cfg.Batch%n != 0 {
		return res, fmt.Errorf("ddp: the global batch %d is not a multiple of the %d ranks", cfg.Batch, n)
	}
	perRank := cfg.Batch / n
	train, test := data.DigitsSplit()
	model, err := newModel(cfg.Model, tensor.NewGenerator(cfg.Seed), cfg.Hidden)
	if err != nil {
		return res, err
	}
	s, err := strategy.New(cfg.Strategy, model, c, strategy.Options{
		NewOptimizer:       func(ps []*autograd.Var) *optim.Optimizer { return optim.NewAdam(ps, optim.Options{LR: cfg.LR}) },
		DDP:                ddp.Options{BucketCapMiB: cfg.BucketMiB, NoOverlap: cfg.NoOverlap},
		FusionThresholdMiB: cfg.FusionMiB,
		Staleness:          cfg.Staleness,
		Profiler:           rec,
	})
	if err != nil {
		return res, err
	}
	loader, err := data.NewLoader(train, data.LoaderOptions{BatchSize: perRank, Shuffle: true, Seed: cfg.Seed, Rank: rank, WorldSize: n, Prefetch: 2})
	if err != nil {
		return res, err
	}
	var sched *optim.Scheduler
	if opt := s.Optimizer(); opt != nil {
		steps := cfg.Epochs * loader.NumBatches()
		sched = optim.NewScheduler(opt, optim.Cosine{Steps: steps, MinLR: cfg.LR / 20})
	}
	m := s.Model()
	start := time.Now()
	for epoch := range cfg.Epochs {
		m.Train(true)
		it := loader.Epoch(ctx, epoch)
		var lossSum, correct, seen float64
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			end := rec.Begin("forward", profiler.Compute)
			logits := m.Forward(autograd.Constant(b.X))
			loss := nn.CrossEntropy(logits, b.Y)
			end()
			end = rec.Begin("backward", profiler.Compute)
			err := loss.Backward()
			end()
			if err != nil {
				it.Close()
				return res, err
			}
			end = rec.Begin("step", profiler.Compute)
			err = s.Step()
			end()
			if err != nil {
				it.Close()
				return res, err
			}
			if sched != nil {
				sched.Step()
			}
			res.Steps++
			bs := float64(b.X.Dim(0))
			lossSum += loss.Item() * bs
			correct += tensor.Sum(tensor.Eq(tensor.ArgMax(logits.Value(), -1, false), b.Y), false).Item()
			seen += bs
		}
		it.Close()
		if err := it.Err(); err != nil {
			return res, err
		}
		// Global loss and accuracy of the epoch: one all-reduce of three numbers.
		metrics := tensor.FromSlice([]float64{lossSum, correct, seen}, 3)
		if err := c.AllReduce(ctx, metrics, collectives.Sum); err != nil {
			return res, err
		}
		v := metrics.Float64s()
		res.EpochLoss = append(res.EpochLoss, v[0]/v[2])
		if rank == 0 && cfg.Progress != nil {
			el := time.Since(start)
			eta := time.Duration(float64(el) / float64(epoch+1) * float64(cfg.Epochs-epoch-1))
			fmt.Fprintf(cfg.Progress, "epoch %2d/%d  loss %.4f  acc %.4f  %7.0f samples/s  %d ranks x %d  ETA %s\n",
				epoch+1, cfg.Epochs, v[0]/v[2], v[1]/v[2], v[2]*float64(epoch+1)/el.Seconds(), n, perRank, eta.Round(100*time.Millisecond))
		}
	}
	if err := s.Flush(); err != nil {
		return res, err
	}
	res.Seconds = time.Since(start).Seconds()
	if rank == 0 {
		acc, err := fit.Evaluate(model, test, 256, tensor.CPU)
		if err != nil {
			return res, err
		}
		res.TestAccuracy = acc
	}
	return res, nil
}

func main() {
	cfg := defaults
	flag.IntVar(&cfg.Ranks, "ranks", defaults.Ranks, "in-process ranks (local backend); ignored under mpirun/srun")
	flag.StringVar(&cfg.Model, "model", defaults.Model, "mlp or cnn")
	flag.IntVar(&cfg.Hidden, "hidden", defaults.Hidden, "width of the MLP's hidden layer")
	flag.IntVar(&cfg.Epochs, "epochs", defaults.Epochs, "training epochs")
	flag.IntVar(&cfg.Batch, "batch", defaults.Batch, "global batch size (split evenly over the ranks)")
	flag.Float64Var(&cfg.LR, "lr", defaults.LR, "peak learning rate (Adam, cosine decay)")
	flag.Uint64Var(&cfg.Seed, "seed", defaults.Seed, "random seed (initialisation and shuffling)")
	flag.StringVar(&cfg.Strategy, "strategy", defaults.Strategy, "synchronisation: "+strings.Join(strategy.Names(), ", "))
	flag.Float64Var(&cfg.BucketMiB, "bucket-mib", defaults.BucketMiB, "allreduce: bucket cap in MiB")
	flag.BoolVar(&cfg.NoOverlap, "no-overlap", false, "allreduce: start the all-reduces after backward")
	flag.Float64Var(&cfg.FusionMiB, "fusion-mib", 0, "fusion: threshold in MiB (0: 64, negative: none)")
	flag.IntVar(&cfg.Staleness, "staleness", 0, "sharded-ps, central-ps: staleness bound s (0: synchronous)")
	flag.StringVar(&cfg.Trace, "trace", "", "write a Chrome trace of the run to this file")
	quick := flag.Bool("quick", false, "a short run (10 epochs)")
	asJSON := flag.Bool("json", false, "print one final JSON line; progress goes to stderr")
	flag.Parse()
	if env, err := collectives.ReadEnv(os.Getenv); err == nil && env.Size > 1 {
		cfg.Ranks = 1 // launched by mpirun or srun: the ranks are the job's processes
	}
	if *quick {
		cfg.Epochs = 10
	}
	cfg.Progress = os.Stdout
	if *asJSON {
		cfg.Progress = os.Stderr
	}
	res, err := Train(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ddp:", err)
		os.Exit(1)
	}
	if res.Ranks == 0 {
		return // not rank 0 of a launched job
	}
	if *asJSON {
		b, _ := json.Marshal(res)
		fmt.Println(string(b))
		return
	}
	fmt.Printf("test accuracy %.4f on %d ranks (%s) after %d steps in %.1f s\n", res.TestAccuracy, res.Ranks, res.Strategy, res.Steps, res.Seconds)
}
