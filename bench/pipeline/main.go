// Command pipeline measures the pipeline schedules of parallel/pipeline:
// for GPipe, 1F1B and interleaved 1F1B at each p and m it runs training
// steps of p·v equal stages on p in-process ranks (the local backend) and
// prints, per configuration, the measured bubble (the ranks' idle share of
// the step, from the profiler spans of their actions: 1 − Σ busy /
// (p·wall)), the formula ((p−1)/(m+p−1), interleaved (p−1)/(v·m+p−1)), the
// simulator's bubble for the same costs, and the peak number of
// micro-batches whose activations a rank held (the executor's count; for
// interleaved, (micro-batch, chunk) pairs divided by v).
//
//	go run ./bench/pipeline                       # p = 2, 4; m = 1..16; 20 ms forward, 40 ms backward per rank
//	go run ./bench/pipeline -p 4 -m 8 -json       # one JSON object per row
//	go run ./bench/pipeline -png docs/modules/img/pipeline   # + a timeline PNG per schedule at p=4, m=8
//	go run ./bench/pipeline -plot rows.json -png DIR  # bubble.png: measured bubble and peak activations against m
//	go run ./bench/pipeline -sim -schedules interleaved -p 4 -m 8 -v 4 -png DIR   # any (p, m, v), simulated only
//	go run ./bench/pipeline -work compute -width 512          # real arithmetic only (needs p free cores)
//
// -work wait (the default) gives every stage's forward and backward a
// fixed wall time: the layer's arithmetic, then a sleep for the rest (see
// stage.go), so the stages of p ranks run concurrently even on a 2-core
// machine shared with other jobs; the bubble then measures the schedule
// and the executor (transfers, bookkeeping), not the CPU's contention.
// -work compute runs the arithmetic alone, one kernel thread per rank.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/parallel/pipeline"
	"github.com/tessera-ml/tessera/profiler"
	"github.com/tessera-ml/tessera/tensor"
)

// Row is one configuration's result.
type Row struct {
	Schedule        string  `json:"schedule"`
	P               int     `json:"p"`
	M               int     `json:"m"`
	V               int     `json:"v"`
	BubbleMeasured  float64 `json:"bubble_measured"`
	BubbleFormula   float64 `json:"bubble_formula"`
	BubbleSimulated float64 `json:"bubble_simulated"`
	// IdealMs is the simulated step with the measured action times and
	// free transfers. LatencyMs is the transfer latency (ms) with which the
	// simulator gives the measured bubble: the cost per hop that explains
	// the difference.
	LatencyMs       float64 `json:"implied_latency_ms"`
	PeakActivations float64 `json:"peak_activations"`
	PeakPerRank     []int   `json:"peak_per_rank"`
	StepMs          float64 `json:"step_ms"`
	IdealMs         float64 `json:"ideal_ms"`
	FwdMs           float64 `json:"fwd_ms"`
	BwdMs           float64 `json:"bwd_ms"`
	// FwdActMs and BwdActMs are the measured mean durations of one
	// forward and one backward action (one chunk, one micro-batch).
	FwdActMs float64 `json:"fwd_action_ms"`
	BwdActMs float64 `json:"bwd_action_ms"`
	Work     string  `json:"work"`
	Steps    int     `json:"steps"`

	timeline *pipeline.Sim
	sim      *pipeline.Sim
}

type settings struct {
	schedules []string
	ps, ms    []int
	v         int
	fwd, bwd  time.Duration
	work      string
	width     int
	batch     int
	steps     int
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

func run(args []string, w io.Writer) error {
	fs := flag.NewFlagSet("pipeline", flag.ContinueOnError)
	schedules := fs.String("schedules", "gpipe,1f1b,interleaved", "schedules to measure")
	ps := fs.String("p", "2,4", "pipeline depths (ranks)")
	ms := fs.String("m", "1-16", "micro-batch counts (a list, or a range a-b)")
	v := fs.Int("v", 2, "model chunks per rank of the interleaved schedule")
	fwd := fs.Duration("fwd", 20*time.Millisecond, "a rank's forward time per micro-batch (split over its v chunks)")
	bwd := fs.Duration("bwd", 0, "a rank's backward time per micro-batch (default 2×fwd)")
	work := fs.String("work", "wait", "stage work: wait (fixed wall time per action) or compute (arithmetic only)")
	width := fs.Int("width", 64, "layer width (x·W with W width×width)")
	batch := fs.Int("batch", 16, "rows per micro-batch")
	steps := fs.Int("steps", 5, "timed steps per configuration (after one warm-up step); the median bubble is reported")
	jsonOut := fs.Bool("json", false, "print one JSON object per row instead of the table")
	pngDir := fs.String("png", "", "write a timeline PNG per schedule (measured and simulated) to this directory")
	pngP := fs.Int("png-p", 4, "p of the timelines")
	pngM := fs.Int("png-m", 8, "m of the timelines")
	simOnly := fs.Bool("sim", false, "simulate only (no model, no ranks): the formula and simulated bubble and peaks of every configuration, with -png a simulated timeline of each")
	plotFrom := fs.String("plot", "", "draw bubble.png (to -png's directory) from this file of -json rows, and measure nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *plotFrom != "" {
		rows, err := readRows(*plotFrom)
		if err != nil {
			return err
		}
		if *pngDir == "" {
			return fmt.Errorf("-plot needs -png DIR")
		}
		path, err := plotBubbles(rows, *pngDir)
		if err == nil {
			fmt.Fprintln(w, "wrote", path)
		}
		return err
	}
	st := settings{schedules: strings.Split(*schedules, ","), v: *v, fwd: *fwd, bwd: *bwd, work: *work, width: *width, batch: *batch, steps: max(*steps, 1)}
	if st.bwd == 0 {
		st.bwd = 2 * st.fwd
	}
	if st.work != "wait" && st.work != "compute" {
		return fmt.Errorf("-work %q: wait or compute", st.work)
	}
	var err error
	if st.ps, err = parseInts(*ps); err != nil {
		return err
	}
	if st.ms, err = parseInts(*ms); err != nil {
		return err
	}
	if !*jsonOut {
		times := fmt.Sprintf("fwd=%v bwd=%v per rank and micro-batch", st.fwd, st.bwd)
		if st.work == "compute" {
			times = "action times as computed"
		}
		if *simOnly {
			st.work, st.steps = "sim (no measurement)", 0
		}
		fmt.Fprintf(w, "pipeline bench: work=%s %s, width %d, %d rows per micro-batch, median of %d steps\n",
			st.work, times, st.width, st.batch, st.steps)
		fmt.Fprintf(w, "%-12s %2s %3s %2s %9s %9s %9s %6s %9s %9s %10s\n", "schedule", "p", "m", "v", "measured", "formula", "simulated", "peak", "step ms", "ideal ms", "latency ms")
	}
	var rows []Row
	for _, name := range st.schedules {
		for _, p := range st.ps {
			for _, m := range st.ms {
				vv := 1
				if name == "interleaved" {
					vv = st.v
				}
				sched, err := pipeline.ByName(name, p, m, vv)
				if err != nil {
					if name == "interleaved" && m%p != 0 {
						continue // Megatron's interleaving needs m to be a multiple of p
					}
					return err
				}
				measureOrSim := measure
				if *simOnly {
					measureOrSim = simulate
				}
				row, err := measureOrSim(sched, st)
				if err != nil {
					return fmt.Errorf("%s p=%d m=%d: %w", name, p, m, err)
				}
				rows = append(rows, row)
				if *jsonOut {
					b, _ := json.Marshal(row)
					fmt.Fprintln(w, string(b))
				} else {
					measured := fmt.Sprintf("%9.4f", row.BubbleMeasured)
					if *simOnly {
						measured = fmt.Sprintf("%9s", "-")
					}
					fmt.Fprintf(w, "%-12s %2d %3d %2d %s %9.4f %9.4f %6.1f %9.1f %9.1f %10.3f\n", row.Schedule, row.P, row.M, row.V,
						measured, row.BubbleFormula, row.BubbleSimulated, row.PeakActivations, row.StepMs, row.IdealMs, row.LatencyMs)
				}
			}
		}
	}
	if *pngDir != "" {
		if err := os.MkdirAll(*pngDir, 0o755); err != nil {
			return err
		}
		for _, r := range rows {
			if *simOnly || (r.P == *pngP && r.M == *pngM) {
				name := fmt.Sprintf("timeline-%s-p%d-m%d.png", r.Schedule, r.P, r.M)
				if *simOnly {
					name = fmt.Sprintf("sim-%s-p%d-m%d-v%d.png", r.Schedule, r.P, r.M, r.V)
				}
				path := filepath.Join(*pngDir, name)
				if err := plotTimeline(r, path); err != nil {
					return err
				}
				if !*jsonOut {
					fmt.Fprintln(w, "wrote", path)
				}
			}
		}
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if a, b, ok := strings.Cut(f, "-"); ok {
			lo, err1 := strconv.Atoi(a)
			hi, err2 := strconv.Atoi(b)
			if err1 != nil || err2 != nil || hi < lo {
				return nil, fmt.Errorf("bad range %q", f)
			}
			for i := lo; i <= hi; i++ {
				out = append(out, i)
			}
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// measure runs 1+steps training steps of sched and returns the row of the
// step with the median measured bubble.
func measure(sched *pipeline.Schedule, st settings) (Row, error) {
	p, v := sched.P, sched.V
	fwd, bwd := st.fwd/time.Duration(v), st.bwd/time.Duration(v)
	row := Row{Schedule: sched.Name, P: p, M: sched.M, V: v, BubbleFormula: sched.Formula(), Work: st.work, Steps: st.steps,
		FwdMs: ms(st.fwd), BwdMs: ms(st.bwd)}
	sim, err := pipeline.Simulate(sched, pipeline.Costs{Forward: ms(fwd), Backward: ms(bwd)})
	if err != nil {
		return row, err
	}
	row.BubbleSimulated, row.sim = sim.Bubble, sim
	results := make([]*pipeline.Sim, 0, st.steps)
	peaks := make([]int, p)
	g := tensor.NewGenerator(1)
	x := g.Normal(0, 1, tensor.Float32, sched.M*st.batch, st.width)
	xs, err := pipeline.MicroBatches(x, sched.M)
	if err != nil {
		return row, err
	}
	if st.work == "compute" {
		defer tensor.SetThreads(tensor.SetThreads(1))
	}
	recs := make([][]*profiler.Recorder, st.steps+1)
	for i := range recs {
		recs[i] = make([]*profiler.Recorder, p)
		for r := range p {
			recs[i][r] = profiler.New(r)
		}
	}
	err = local.Run(context.Background(), p, func(ctx context.Context, c collectives.Comm) error {
		r := c.Rank()
		chunks := make([]nn.Module, v)
		for ch := range chunks {
			chunks[ch] = newStage(tensor.NewGenerator(uint64(sched.Stage(r, ch)+1)), st.width, fwd, bwd, st.work == "wait")
		}
		for i := range st.steps + 1 {
			pl, err := pipeline.New(c, sched, chunks, pipeline.Options{Recorder: recs[i][r]})
			if err != nil {
				return err
			}
			if err := c.Barrier(ctx); err != nil {
				return err
			}
			if _, err := pl.Step(ctx, xs, func(out *autograd.Var, _ int) *autograd.Var { return autograd.Mean(out, false) }); err != nil {
				return err
			}
			peaks[r] = pl.Peak()
			for _, ch := range chunks {
				nn.ZeroGrad(ch)
			}
		}
		return nil
	})
	if err != nil {
		return row, err
	}
	for i := 1; i <= st.steps; i++ {
		results = append(results, pipeline.Measure(recs[i]))
	}
	slices.SortFunc(results, func(a, b *pipeline.Sim) int { return cmp.Compare(a.Bubble, b.Bubble) })
	med := results[len(results)/2]
	row.BubbleMeasured, row.timeline = med.Bubble, med
	row.StepMs = med.Makespan * 1e3
	// The simulator with the measured mean action times (in compute mode
	// the only times there are; in wait mode the nominal ones plus the
	// sleeps' overshoot): the ideal step and the latency per transfer that
	// explains the measured bubble.
	var sum [2]float64
	var n [2]int
	for _, slots := range med.Slots {
		for _, sl := range slots {
			sum[sl.Action.Kind] += (sl.End - sl.Start) * 1e3
			n[sl.Action.Kind]++
		}
	}
	row.FwdActMs, row.BwdActMs = sum[0]/float64(max(n[0], 1)), sum[1]/float64(max(n[1], 1))
	if ideal, err := pipeline.Simulate(sched, pipeline.Costs{Forward: row.FwdActMs, Backward: row.BwdActMs}); err == nil {
		row.IdealMs = ideal.Makespan
	}
	row.LatencyMs = impliedLatency(sched, row.FwdActMs, row.BwdActMs, row.BubbleMeasured)
	row.PeakPerRank = peaks
	row.PeakActivations = float64(slices.Max(peaks)) / float64(v)
	return row, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// impliedLatency returns the per-transfer latency (in the units of f and
// b) with which Simulate's bubble equals measured, by bisection (0 when
// the measurement is at or below the latency-free simulation).
func impliedLatency(sched *pipeline.Schedule, f, b, measured float64) float64 {
	bubble := func(l float64) float64 {
		sim, err := pipeline.Simulate(sched, pipeline.Costs{Forward: f, Backward: b, Comm: l})
		if err != nil {
			return 0
		}
		return sim.Bubble
	}
	if bubble(0) >= measured {
		return 0
	}
	lo, hi := 0.0, f
	for bubble(hi) < measured && hi < 1e3*f {
		lo, hi = hi, 2*hi
	}
	for range 40 {
		mid := (lo + hi) / 2
		if bubble(mid) < measured {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// simulate is measure without a model: the simulator's row for sched with
// the nominal action times (measured fields zero).
func simulate(sched *pipeline.Schedule, st settings) (Row, error) {
	v := sched.V
	fwd, bwd := ms(st.fwd)/float64(v), ms(st.bwd)/float64(v)
	sim, err := pipeline.Simulate(sched, pipeline.Costs{Forward: fwd, Backward: bwd})
	if err != nil {
		return Row{}, err
	}
	return Row{Schedule: sched.Name, P: sched.P, M: sched.M, V: v, BubbleFormula: sched.Formula(), BubbleSimulated: sim.Bubble,
		PeakPerRank: sim.Peak, PeakActivations: float64(sim.PeakMax()) / float64(v), IdealMs: sim.Makespan, StepMs: sim.Makespan,
		FwdMs: ms(st.fwd), BwdMs: ms(st.bwd), FwdActMs: fwd, BwdActMs: bwd, Work: "sim", sim: sim}, nil
}
