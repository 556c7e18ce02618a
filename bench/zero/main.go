// Command zero measures ZeRO (parallel/zero) against plain data
// parallelism: an MLP of Ψ parameters (16 bias-free Linear layers of
// 250x250 by default: Ψ = 1,000,000) trained with Adam in mixed precision
// (bfloat16 parameters and gradients, float32 master weights and moments)
// at every stage and world size. For each configuration it prints the
// model-state bytes per rank measured by the memory accounting
// (tensor.MemoryLedger: the peak of parameters + gradients + optimizer
// state, and each category's peak; the largest over the ranks) beside the
// paper's formula, the bytes one rank sends per step beside the traffic
// formula, and the milliseconds per step.
//
//	go run ./bench/zero                                  # DP, Z1-3 at N = 1, 2, 4, 8 (local backend)
//	go run ./bench/zero -json > zero.jsonl               # one JSON object per row
//	go run ./bench/zero -plot docs/modules/img/zero      # the figure, from this run
//	go run ./bench/zero -dtype float32                   # no master copies: DP 16Ψ, Z1 8Ψ+8Ψ/N, ...
//
// MPI backend, one process per rank (the world is mpirun's):
//
//	go build -tags mpi -o bzero ./bench/zero && mpirun -np 4 ./bzero -json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	_ "github.com/tessera-ml/tessera/collectives/mpi" // the MPI backend with -tags mpi
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/parallel/zero"
	"github.com/tessera-ml/tessera/tensor"
)

// Row is one configuration's result.
type Row struct {
	Backend         string  `json:"backend"`
	Stage           int     `json:"stage"` // 0: plain data parallel
	StageName       string  `json:"stage_name"`
	Ranks           int     `json:"ranks"`
	Params          int     `json:"params"` // Ψ
	DType           string  `json:"dtype"`
	ModelStateBytes int64   `json:"model_state_bytes_per_rank"` // measured peak of parameters + gradients + optimizer state
	FormulaBytes    int64   `json:"formula_bytes"`
	Ratio           float64 `json:"ratio"` // measured / formula
	ParamBytes      int64   `json:"param_bytes"`
	GradBytes       int64   `json:"grad_bytes"`
	OptimBytes      int64   `json:"optim_bytes"`
	OtherPeakBytes  int64   `json:"other_peak_bytes"` // gather and full-gradient buffers
	// ActivationPeakBytes is the process's peak of activations (outputs
	// of recorded ops, counted with tensor.SetMemoryTracking) during the
	// timed steps: all ranks of the local backend together, one rank's
	// under mpirun (RanksInProcess says which).
	ActivationPeakBytes int64   `json:"activation_peak_bytes_process"`
	RanksInProcess      int     `json:"ranks_in_process"`
	CommBytes           int64   `json:"comm_bytes_per_rank"`
	FormulaComm         int64   `json:"formula_comm_bytes"`
	MsPerStep           float64 `json:"ms_per_step"`
}

type settings struct {
	layers, width, batch int
	dt                   tensor.DType
	warmup, steps        int
	stages               []zero.Stage
	ranksInProcess       int
}

// formulas returns the model-state bytes per rank and the traffic per
// rank per step that the ZeRO paper gives for Ψ parameters, p bytes per
// parameter and per gradient element, o bytes of optimizer state per
// parameter, N ranks.
func formulas(st zero.Stage, psi int64, n int, p, o int64) (bytes, comm int64) {
	N := int64(n)
	switch st {
	case zero.StageDP:
		bytes = (2*p + o) * psi
	case zero.StageOptim:
		bytes = 2*p*psi + o*psi/N
	case zero.StageGrads:
		bytes = p*psi + (p+o)*psi/N
	default:
		bytes = (2*p + o) * psi / N
	}
	k := int64(2)
	if st == zero.StageParams {
		k = 3
	}
	return bytes, k * p * psi * (N - 1) / N
}

func newModel(s settings) *nn.Sequential {
	g := tensor.NewGenerator(1)
	m := nn.NewSequential()
	for i := range s.layers {
		m.Append(nn.NewLinear(g, s.width, s.width, false, nn.WithDType(s.dt)))
		if i+1 < s.layers {
			m.Append(nn.NewTanh())
		}
	}
	return m
}

// runWorld runs every stage on the world of c and returns rank 0's rows.
func runWorld(ctx context.Context, c collectives.Comm, s settings) ([]Row, error) {
	var rows []Row
	for _, st := range s.stages {
		z, err := zero.Wrap(newModel(s), c, zero.Options{Stage: st, NewOptimizer: func(p []*autograd.Var) *optim.Optimizer {
			return optim.NewAdam(p, optim.Options{LR: 1e-3})
		}})
		if err != nil {
			return nil, err
		}
		data := tensor.NewGenerator(uint64(100 + c.Rank()))
		x := autograd.Constant(data.Normal(0, 1, s.dt, s.batch, s.width))
		y := autograd.Constant(data.Normal(0, 1, s.dt, s.batch, s.width))
		step := func() error {
			if err := nn.MSELoss(z.Forward(x), y).Backward(); err != nil {
				return err
			}
			return z.Step()
		}
		for range s.warmup {
			if err := step(); err != nil {
				return nil, err
			}
		}
		before := z.Stats()
		if err := c.Barrier(ctx); err != nil {
			return nil, err
		}
		if c.Rank() == 0 {
			tensor.ResetPeakMemoryStats(tensor.CPU)
		}
		if err := c.Barrier(ctx); err != nil {
			return nil, err
		}
		t0 := time.Now()
		for range s.steps {
			if err := step(); err != nil {
				return nil, err
			}
		}
		if err := c.Barrier(ctx); err != nil {
			return nil, err
		}
		ms := float64(time.Since(t0).Microseconds()) / 1e3 / float64(s.steps)
		act := tensor.MemoryStats(tensor.CPU).Category[tensor.MemoryActivations].Peak
		ls := z.Ledger().Stats()
		// the largest over the ranks (rank 0 holds no padding-only shards)
		vals := tensor.FromSlice([]int64{ls.ModelState.Peak, ls.Category[tensor.MemoryParameters].Peak,
			ls.Category[tensor.MemoryGradients].Peak, ls.Category[tensor.MemoryOptimizerState].Peak,
			ls.Category[tensor.MemoryOther].Peak}, 5)
		if err := c.AllReduce(ctx, vals, collectives.Max); err != nil {
			return nil, err
		}
		v := vals.Int64s()
		after := z.Stats()
		psi := int64(z.NumParams())
		p, o := int64(s.dt.Size()), int64(8)
		if s.dt != tensor.Float32 {
			o = 12
		}
		fb, fc := formulas(st, psi, c.Size(), p, o)
		r := Row{Backend: c.Backend(), Stage: int(st), StageName: st.String(), Ranks: c.Size(), Params: int(psi),
			DType: s.dt.String(), ModelStateBytes: v[0], FormulaBytes: fb, Ratio: float64(v[0]) / float64(fb),
			ParamBytes: v[1], GradBytes: v[2], OptimBytes: v[3], OtherPeakBytes: v[4],
			CommBytes: (after.Bytes() - before.Bytes()) / int64(s.steps), FormulaComm: fc, MsPerStep: ms,
			ActivationPeakBytes: act, RanksInProcess: s.ranksInProcess}
		if c.Rank() == 0 {
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func parseList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bad list entry %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func header(w io.Writer) {
	fmt.Fprintf(w, "%-6s %5s %9s %10s %10s %10s %11s %11s %6s %9s %12s %11s %11s %9s\n", "stage", "ranks", "Ψ",
		"params MB", "grads MB", "optim MB", "model MB", "formula MB", "ratio", "other MB", "act MB/proc", "comm MB", "formula MB", "ms/step")
}

func printRow(w io.Writer, r Row) {
	mb := func(b int64) float64 { return float64(b) / 1e6 }
	fmt.Fprintf(w, "%-6s %5d %9d %10.3f %10.3f %10.3f %11.3f %11.3f %6.3f %9.3f %12.3f %11.3f %11.3f %9.2f\n", r.StageName, r.Ranks, r.Params,
		mb(r.ParamBytes), mb(r.GradBytes), mb(r.OptimBytes), mb(r.ModelStateBytes), mb(r.FormulaBytes), r.Ratio,
		mb(r.OtherPeakBytes), mb(r.ActivationPeakBytes), mb(r.CommBytes), mb(r.FormulaComm), r.MsPerStep)
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("zero", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ranks := fs.String("ranks", "1,2,4,8", "world sizes (local backend; ignored under mpirun)")
	stages := fs.String("stages", "0,1,2,3", "stages (0: plain data parallel)")
	layers := fs.Int("layers", 16, "Linear layers")
	width := fs.Int("width", 250, "layer width (Ψ = layers·width²)")
	batch := fs.Int("batch", 16, "rows per rank")
	dtype := fs.String("dtype", "bfloat16", "parameter dtype: bfloat16 (mixed precision), float16 or float32")
	steps := fs.Int("steps", 5, "timed steps")
	warmup := fs.Int("warmup", 1, "untimed steps first")
	jsonOut := fs.Bool("json", false, "print one JSON object per row instead of the table")
	plotDir := fs.String("plot", "", "write zero-memory.png and zero-comm.png here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s := settings{layers: *layers, width: *width, batch: *batch, warmup: *warmup, steps: *steps}
	switch *dtype {
	case "bfloat16":
		s.dt = tensor.BFloat16
	case "float16":
		s.dt = tensor.Float16
	case "float32":
		s.dt = tensor.Float32
	default:
		return fmt.Errorf("-dtype %q: want bfloat16, float16 or float32", *dtype)
	}
	if s.layers < 1 || s.width < 1 || s.batch < 1 || s.steps < 1 || s.warmup < 0 {
		return fmt.Errorf("-layers, -width, -batch and -steps must be positive")
	}
	sl, err := parseList(*stages)
	if err != nil {
		return err
	}
	for _, v := range sl {
		if v > 3 {
			return fmt.Errorf("-stages: %d is not a stage", v)
		}
		s.stages = append(s.stages, zero.Stage(v))
	}
	worlds, err := parseList(*ranks)
	if err != nil {
		return err
	}
	env, err := collectives.ReadEnv(os.Getenv)
	if err != nil {
		return err
	}
	if env.Size > 1 {
		worlds = []int{1} // parallel.Launch takes the launcher's world
	}
	// count every allocation, so that autograd marks activations
	defer tensor.SetMemoryTracking(tensor.SetMemoryTracking(true))
	if !*jsonOut && env.Rank == 0 {
		fmt.Fprintf(stdout, "ZeRO: %d x Linear(%d, %d), Adam, %s parameters, batch %d per rank, %d timed steps\n",
			s.layers, s.width, s.width, s.dt, s.batch, s.steps)
		header(stdout)
	}
	var all []Row
	for _, w := range worlds {
		if w < 1 {
			return fmt.Errorf("-ranks: %d", w)
		}
		s.ranksInProcess = w
		var mu sync.Mutex
		var rows []Row
		err := parallel.Launch(context.Background(), w, func(ctx context.Context, c collectives.Comm) error {
			r, err := runWorld(ctx, c, s)
			mu.Lock()
			rows = append(rows, r...)
			mu.Unlock()
			return err
		})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if *jsonOut {
				b, _ := json.Marshal(r)
				fmt.Fprintln(stdout, string(b))
			} else {
				printRow(stdout, r)
			}
		}
		all = append(all, rows...)
	}
	if *plotDir != "" && len(all) > 0 {
		slices.SortStableFunc(all, func(a, b Row) int { return a.Stage - b.Stage })
		return plotRows(all, *plotDir)
	}
	return nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "zero:", err)
		os.Exit(1)
	}
}
