// Command tensorparallel measures Megatron-LM tensor parallelism on the
// GPT-mini of examples/gpt: for tensor-parallel degrees 1, 2 and 4 (ranks
// as goroutines on the local backend, each with GOMAXPROCS/N of the CPU
// kernels' threads), with and without sequence parallelism, it prints
//
//   - the parameters each rank holds;
//
//   - the training step's time (median over the timed steps, each started
//     together after a barrier) and its throughput;
//
//   - per transformer layer, the collectives its forward and its backward
//     pass issue and their payload bytes, counted by the tensor-parallel
//     group (tensorparallel.Stats), beside Megatron's count: 2 all-reduces
//     forward and 2 backward per layer, each of the B·T·E activations
//     (with sequence parallelism: each all-reduce becomes an all-gather
//     plus a reduce-scatter of the same payload);
//
//   - the bytes one rank sends per layer and step under a ring algorithm,
//     2(n−1)/n of each all-reduce's payload and (n−1)/n of each
//     all-gather's or reduce-scatter's.
//
//     go run ./bench/tensorparallel                     # TP 1, 2, 4; SP off and on
//     go run ./bench/tensorparallel -json               # one JSON object per row
//     go run ./bench/tensorparallel -plot docs/modules/img   # and the PNG figure
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/parallel"
	tp "github.com/tessera-ml/tessera/parallel/tensorparallel"
	"github.com/tessera-ml/tessera/tensor"
)

// Row is one configuration's result (a line of the table, a -json object).
type Row struct {
	TP               int     `json:"tp"`
	SequenceParallel bool    `json:"sp"`
	Threads          int     `json:"threads_per_rank"`
	MsPerStep        float64 `json:"ms_per_step"` // median over the repetitions of each repetition's median
	MsMin            float64 `json:"ms_min"`      // the fastest repetition's median
	MsMax            float64 `json:"ms_max"`      // the slowest repetition's median
	Reps             int     `json:"reps"`
	ParamsPerRank    int     `json:"params_per_rank"` // rank 0's parameter count (the full model's at TP 1)
	TokensPerSecond  float64 `json:"tokens_per_second"`
	// per transformer layer, measured
	FwdAllReduce      int   `json:"layer_fwd_allreduce"`
	FwdAllGather      int   `json:"layer_fwd_allgather"`
	FwdReduceScatter  int   `json:"layer_fwd_reducescatter"`
	BwdAllReduce      int   `json:"layer_bwd_allreduce"`
	BwdAllGather      int   `json:"layer_bwd_allgather"`
	BwdReduceScatter  int   `json:"layer_bwd_reducescatter"`
	LayerPayloadBytes int64 `json:"layer_payload_bytes"` // forward + backward
	LayerRingBytes    int64 `json:"layer_ring_bytes"`    // sent by one rank, forward + backward
	// Megatron's count per layer: 2 all-reduces forward, 2 backward, of B·T·E values each
	MegatronFwd          int   `json:"megatron_fwd_allreduce"`
	MegatronBwd          int   `json:"megatron_bwd_allreduce"`
	MegatronPayloadBytes int64 `json:"megatron_payload_bytes"`
	MegatronRingBytes    int64 `json:"megatron_ring_bytes"`
	// the whole step (embedding, layers, head, vocabulary-parallel loss)
	StepCollectives  int   `json:"step_collectives"`
	StepPayloadBytes int64 `json:"step_payload_bytes"`
}

type settings struct {
	model         nn.GPTConfig
	batch         int
	warmup, steps int
	reps          int
	degrees       []int
	sp            []bool
}

// ringBytes is what one rank of n sends for all-reduces of payloadAR
// bytes and all-gathers or reduce-scatters of payloadOther bytes in total,
// with ring algorithms.
func ringBytes(n int, payloadAR, payloadOther int64) int64 {
	if n == 1 {
		return 0
	}
	return payloadAR*2*int64(n-1)/int64(n) + payloadOther*int64(n-1)/int64(n)
}

// measure runs one configuration on n in-process ranks.
func measure(st settings, n int, sp bool) (Row, error) {
	row := Row{TP: n, SequenceParallel: sp, Threads: max(1, runtime.GOMAXPROCS(0)/n), MegatronFwd: 2, MegatronBwd: 2}
	act := int64(st.batch * st.model.Context * st.model.Embed * 4)
	row.MegatronPayloadBytes = 4 * act
	if n > 1 {
		row.MegatronRingBytes = 4 * act * 2 * int64(n-1) / int64(n)
	}
	var mu sync.Mutex
	err := parallel.Launch(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		g := tp.NewGroup(ctx, c)
		model := tp.NewGPT(g, nn.NewGPT(tensor.NewGenerator(1), st.model), tp.Options{SequenceParallel: sp})
		params := tp.Unique(model)
		if c.Rank() == 0 {
			count := 0
			for _, p := range params {
				count += p.Value().Shape().NumElements()
			}
			mu.Lock()
			row.ParamsPerRank = count
			mu.Unlock()
		}
		opt := optim.NewAdamW(params, optim.Options{LR: 1e-3})
		gen := tensor.NewGenerator(2)
		v := int64(st.model.Vocab)
		step := func() error {
			x, y := gen.RandInt(0, v, st.batch, st.model.Context), gen.RandInt(0, v, st.batch, st.model.Context)
			opt.ZeroGrad()
			if err := model.Loss(model.Logits(x), y).Backward(); err != nil {
				return err
			}
			if err := model.SyncSequenceParallelGrads(); err != nil {
				return err
			}
			return opt.Step()
		}
		for range st.warmup {
			if err := step(); err != nil {
				return err
			}
		}
		var times []float64
		for i := range st.steps {
			if err := c.Barrier(ctx); err != nil {
				return err
			}
			g.ResetStats()
			t0 := time.Now()
			if err := step(); err != nil {
				return err
			}
			times = append(times, time.Since(t0).Seconds()*1e3)
			if i == 0 && c.Rank() == 0 {
				s := g.Stats()
				mu.Lock()
				row.StepCollectives, row.StepPayloadBytes = s.Calls(), s.Bytes
				mu.Unlock()
			}
		}
		// One layer alone: its forward pass, then its backward pass.
		blk := model.Blocks[0]
		t := st.model.Context
		if sp {
			t /= n
		}
		x := autograd.Param(gen.Normal(0, 1, tensor.Float32, st.batch, t, st.model.Embed))
		g.ResetStats()
		y := blk.Forward(x)
		fwd := g.Stats()
		g.ResetStats()
		if err := y.Backward(tensor.OnesLike(y.Value())); err != nil {
			return err
		}
		bwd := g.Stats()
		if err := g.Err(); err != nil {
			return err
		}
		// every rank's median, then the slowest rank's (the step ends with it)
		slices.Sort(times)
		med := tensor.FromSlice([]float64{times[len(times)/2]}, 1)
		if err := c.AllReduce(ctx, med, collectives.Max); err != nil {
			return err
		}
		if c.Rank() == 0 {
			mu.Lock()
			row.MsPerStep = med.Item()
			row.TokensPerSecond = float64(st.batch*st.model.Context) / (row.MsPerStep / 1e3)
			row.FwdAllReduce, row.FwdAllGather, row.FwdReduceScatter = fwd.AllReduce, fwd.AllGather, fwd.ReduceScatter
			row.BwdAllReduce, row.BwdAllGather, row.BwdReduceScatter = bwd.AllReduce, bwd.AllGather, bwd.ReduceScatter
			row.LayerPayloadBytes = fwd.Bytes + bwd.Bytes
			ar := int64(fwd.AllReduce+bwd.AllReduce) * act
			row.LayerRingBytes = ringBytes(n, ar, row.LayerPayloadBytes-ar)
			mu.Unlock()
		}
		return nil
	})
	return row, err
}

func run(st settings, w io.Writer, asJSON bool) ([]Row, error) {
	var rows []Row
	if !asJSON {
		fmt.Fprintf(w, "GPT-mini %d layers, E=%d, %d heads, T=%d, batch %d, vocab %d, float32; %d cores\n",
			st.model.Layers, st.model.Embed, st.model.Heads, st.model.Context, st.batch, st.model.Vocab, runtime.GOMAXPROCS(0))
		fmt.Fprintf(w, "%3s %5s %9s %9s %9s | %-22s %-22s %11s %11s | %-18s %11s %11s\n", "tp", "sp", "params", "ms/step", "tok/s",
			"layer fwd (AR/AG/RS)", "layer bwd (AR/AG/RS)", "payload B", "ring B/rank", "Megatron fwd+bwd", "payload B", "ring B/rank")
	}
	type cfg struct {
		n  int
		sp bool
	}
	var cfgs []cfg
	for _, n := range st.degrees {
		for _, sp := range st.sp {
			if !sp || (n > 1 && st.model.Context%n == 0) {
				cfgs = append(cfgs, cfg{n, sp})
			}
		}
	}
	// Repetitions alternate the configurations, so a change of the
	// machine's load hits them alike; each row reports the median of its
	// repetitions' step times.
	reps := max(1, st.reps)
	times := make([][]float64, len(cfgs))
	rows = make([]Row, len(cfgs))
	for range reps {
		for i, c := range cfgs {
			r, err := measure(st, c.n, c.sp)
			if err != nil {
				return nil, fmt.Errorf("tp %d sp %v: %w", c.n, c.sp, err)
			}
			rows[i] = r
			times[i] = append(times[i], r.MsPerStep)
		}
	}
	for i := range rows {
		r := &rows[i]
		slices.Sort(times[i])
		r.MsPerStep = times[i][len(times[i])/2]
		r.MsMin, r.MsMax, r.Reps = times[i][0], times[i][len(times[i])-1], reps
		r.TokensPerSecond = float64(st.batch*st.model.Context) / (r.MsPerStep / 1e3)
		if asJSON {
			b, _ := json.Marshal(r)
			fmt.Fprintln(w, string(b))
			continue
		}
		fmt.Fprintf(w, "%3d %5v %9d %9.1f %9.0f | %-22s %-22s %11d %11d | %-18s %11d %11d\n", r.TP, r.SequenceParallel, r.ParamsPerRank, r.MsPerStep, r.TokensPerSecond,
			fmt.Sprintf("%d/%d/%d", r.FwdAllReduce, r.FwdAllGather, r.FwdReduceScatter),
			fmt.Sprintf("%d/%d/%d", r.BwdAllReduce, r.BwdAllGather, r.BwdReduceScatter),
			r.LayerPayloadBytes, r.LayerRingBytes, fmt.Sprintf("%d+%d all-reduce", r.MegatronFwd, r.MegatronBwd), r.MegatronPayloadBytes, r.MegatronRingBytes)
	}
	return rows, nil
}

// readRows reads saved -json rows (one object per line).
func readRows(path string) ([]Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r Row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("bad degree %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func main() {
	st := settings{model: nn.GPTConfig{Vocab: 256, Context: 64, Embed: 128, Heads: 8, Layers: 4}, batch: 8, warmup: 2, steps: 7, sp: []bool{false, true}}
	degrees := flag.String("tp", "1,2,4", "tensor-parallel degrees")
	flag.IntVar(&st.model.Embed, "embed", st.model.Embed, "embedding width")
	flag.IntVar(&st.model.Layers, "layers", st.model.Layers, "transformer blocks")
	flag.IntVar(&st.model.Heads, "heads", st.model.Heads, "attention heads")
	flag.IntVar(&st.model.Context, "context", st.model.Context, "sequence length")
	flag.IntVar(&st.batch, "batch", st.batch, "batch (sequences)")
	flag.IntVar(&st.steps, "steps", st.steps, "timed steps (the median is reported)")
	flag.IntVar(&st.reps, "reps", 1, "repetitions of the whole sweep, alternating the configurations (the median is reported)")
	noSP := flag.Bool("no-sp", false, "skip the sequence-parallel rows")
	asJSON := flag.Bool("json", false, "one JSON object per row")
	plotDir := flag.String("plot", "", "write tensorparallel.png (step time and bytes per layer) to this directory")
	curves := flag.String("curves", "", "comma-separated examples/gpt -json outputs (the single process first): draw gpt-loss.png in -plot's directory and exit")
	from := flag.String("from", "", "draw -plot's figure from these saved -json rows instead of measuring")
	flag.Parse()
	if *from != "" {
		rows, err := readRows(*from)
		if err == nil {
			err = plotRows(rows, *plotDir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tensorparallel:", err)
			os.Exit(1)
		}
		return
	}
	if *curves != "" {
		runs, err := readRuns(strings.Split(*curves, ","))
		if err == nil {
			err = plotCurves(runs, *plotDir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "tensorparallel:", err)
			os.Exit(1)
		}
		return
	}
	var err error
	if st.degrees, err = ints(*degrees); err != nil {
		fmt.Fprintln(os.Stderr, "tensorparallel:", err)
		os.Exit(2)
	}
	if *noSP {
		st.sp = []bool{false}
	}
	rows, err := run(st, os.Stdout, *asJSON)
	if err != nil {
		fmt.Fprintln(os.Stderr, "tensorparallel:", err)
		os.Exit(1)
	}
	if *plotDir != "" {
		if err := plotRows(rows, *plotDir); err != nil {
			fmt.Fprintln(os.Stderr, "tensorparallel:", err)
			os.Exit(1)
		}
	}
}
