// Command ddp measures data-parallel training steps: an MLP (784-1024-1024-10
// by default) trained with Adam on random data, every rank on its own batch,
// synchronised by each strategy of parallel/strategy. For every
// configuration rank 0 prints a row: milliseconds per step (median over
// the timed steps, each started together after a barrier), the
// communication left exposed (time Step waited for it, per step), and the
// bytes one rank sends per step (counted over the calls issued; the
// strategy's formula beside it).
//
// Local backend (ranks as goroutines, each with GOMAXPROCS/N of the CPU
// kernels' threads):
//
//	go run ./bench/ddp -ranks 1,2,4                   # allreduce, overlap on/off
//	go run ./bench/ddp -ranks 2 -strategies all -buckets 0.25,1,5,25,100
//	go run ./bench/ddp -ranks 2 -torch                # PyTorch DDP (gloo) in the same run, with the ratio
//	go run ./bench/ddp -json                          # one JSON object per row
//
// MPI backend, one process per rank (the world is mpirun's):
//
//	bench/ddp/mpi.sh                                  # NP=2: Tessera under mpirun and PyTorch DDP, alternating
//	go build -tags mpi -o bddp ./bench/ddp && mpirun -np 2 ./bddp -json
//
// -trace FILE writes a Chrome trace of one step of the first configuration
// (one track per rank).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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
	"github.com/tessera-ml/tessera/parallel/ddp"
	"github.com/tessera-ml/tessera/parallel/strategy"
	"github.com/tessera-ml/tessera/profiler"
	"github.com/tessera-ml/tessera/tensor"
)

// Row is one configuration's result (a line of the table, a -json object).
type Row struct {
	Backend          string  `json:"backend"`
	World            int     `json:"world"`
	Model            string  `json:"model"`
	Strategy         string  `json:"strategy"`
	Overlap          bool    `json:"overlap"`
	BucketMiB        float64 `json:"bucket_mib"`
	Staleness        int     `json:"staleness"`
	BatchPerRank     int     `json:"batch_per_rank"`
	MsPerStep        float64 `json:"ms_per_step"`
	MinMs            float64 `json:"min_ms"`
	CommExposedMs    float64 `json:"comm_exposed_ms"`
	BytesPerRank     int64   `json:"bytes_per_rank"`
	FormulaBytes     int64   `json:"formula_bytes"`
	AllReducePerStep float64 `json:"allreduce_per_step"`
	Buckets          int     `json:"buckets,omitempty"`
	Threads          int     `json:"threads"`
	TorchMs          float64 `json:"torch_ms_per_step,omitempty"`
	Ratio            float64 `json:"ratio,omitempty"`
}

// config is one configuration to measure.
type config struct {
	strategy  string
	overlap   bool
	bucketMiB float64
	staleness int
}

type settings struct {
	sizes         []int
	model         string
	batch         int
	warmup, steps int
	configs       []config
	trace         string
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func newMLP(sizes []int) nn.Module {
	g := tensor.NewGenerator(1)
	m := nn.NewSequential()
	for i := 0; i+1 < len(sizes); i++ {
		m.Append(nn.NewLinear(g, sizes[i], sizes[i+1], true))
		if i+2 < len(sizes) {
			m.Append(nn.NewReLU())
		}
	}
	return m
}

// traceT0 maps a rank to the end of the barrier before its traced step:
// the common origin of the ranks' traces written by separate processes.
var traceT0 sync.Map

// measure runs one configuration on this rank and returns rank 0's row.
func measure(ctx context.Context, c collectives.Comm, st settings, cf config, rec *profiler.Recorder) (Row, error) {
	n := c.Size()
	row := Row{Backend: c.Backend(), World: n, Model: st.model, Strategy: cf.strategy, Overlap: cf.overlap,
		BucketMiB: cf.bucketMiB, Staleness: cf.staleness, BatchPerRank: st.batch, Threads: tensor.Threads()}
	s, err := strategy.New(cf.strategy, newMLP(st.sizes), c, strategy.Options{
		NewOptimizer: func(ps []*autograd.Var) *optim.Optimizer { return optim.NewAdam(ps, optim.Options{LR: 1e-3}) },
		DDP:          ddp.Options{BucketCapMiB: cf.bucketMiB, FirstBucketMiB: min(1, cf.bucketMiB), NoOverlap: !cf.overlap},
		Staleness:    cf.staleness,
		Profiler:     rec,
	})
	if err != nil {
		return row, err
	}
	if d := strategy.DDP(s); d != nil {
		row.Buckets = len(d.Buckets())
	}
	g := tensor.NewGenerator(uint64(100 + c.Rank()))
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, st.batch, st.sizes[0]))
	y := g.RandInt(0, int64(st.sizes[len(st.sizes)-1]), st.batch)
	m := s.Model()
	step := func(rec *profiler.Recorder) error {
		end := rec.Begin("forward", profiler.Compute)
		loss := nn.CrossEntropy(m.Forward(x), y)
		end()
		end = rec.Begin("backward", profiler.Compute)
		err := loss.Backward()
		end()
		if err != nil {
			return err
		}
		end = rec.Begin("step (wait + optimizer)", profiler.Compute)
		defer end()
		return s.Step()
	}
	var times []float64
	var before strategy.Stats
	for i := range st.warmup + st.steps {
		if i == st.warmup {
			before = s.Stats()
		}
		if err := c.Barrier(ctx); err != nil {
			return row, err
		}
		t0 := time.Now()
		if err := step(nil); err != nil {
			return row, err
		}
		if i >= st.warmup {
			times = append(times, float64(time.Since(t0).Microseconds())/1e3)
		}
	}
	after := s.Stats()
	if rec != nil {
		if err := c.Barrier(ctx); err != nil {
			return row, err
		}
		rec.Reset()
		traceT0.Store(c.Rank(), time.Now())
		if err := step(rec); err != nil {
			return row, err
		}
	}
	if err := s.Flush(); err != nil {
		return row, err
	}
	k := float64(st.steps)
	slices.Sort(times)
	row.MsPerStep = times[len(times)/2]
	if len(times)%2 == 0 {
		row.MsPerStep = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	row.MinMs = times[0]
	row.CommExposedMs = float64((after.WaitTime - before.WaitTime).Microseconds()) / 1e3 / k
	row.BytesPerRank = int64(float64(after.BytesSent-before.BytesSent) / k)
	row.FormulaBytes = s.Traffic().Sent
	row.AllReducePerStep = float64(after.AllReduceCalls-before.AllReduceCalls) / k
	return row, nil
}

// runWorld measures every configuration on the ranks of one world and
// returns rank 0's rows.
func runWorld(ranks int, st settings) ([]Row, error) {
	var (
		mu   sync.Mutex
		rows []Row
		recs []*profiler.Recorder
	)
	err := parallel.Launch(context.Background(), ranks, func(ctx context.Context, c collectives.Comm) error {
		for i, cf := range st.configs {
			var rec *profiler.Recorder
			if i == 0 && st.trace != "" {
				rec = profiler.New(c.Rank())
				mu.Lock()
				recs = append(recs, rec)
				mu.Unlock()
			}
			row, err := measure(ctx, c, st, cf, rec)
			if err != nil {
				return fmt.Errorf("%+v: %w", cf, err)
			}
			if c.Rank() == 0 {
				mu.Lock()
				rows = append(rows, row)
				mu.Unlock()
			}
		}
		if st.trace != "" && ranks == 1 && c.Size() > 1 {
			return writeRankTrace(ctx, c, st.trace, recs[0])
		}
		return nil
	})
	if err == nil && st.trace != "" && (ranks > 1 || len(rows) > 0 && rows[0].World == 1) {
		err = writeTrace(st.trace, recs...)
	}
	return rows, err
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

// writeRankTrace writes this process's trace beside path; rank 0 then
// merges the ranks' files into path (the ranks share a file system).
func writeRankTrace(ctx context.Context, c collectives.Comm, path string, rec *profiler.Recorder) error {
	mine := fmt.Sprintf("%s.rank%d", path, c.Rank())
	t0, _ := traceT0.Load(c.Rank())
	f, err := os.Create(mine)
	if err != nil {
		return err
	}
	if err := profiler.WriteChromeAt(f, t0.(time.Time), rec); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := c.Barrier(ctx); err != nil {
		return err
	}
	if c.Rank() != 0 {
		return nil
	}
	var rs []io.Reader
	for r := range c.Size() {
		f, err := os.Open(fmt.Sprintf("%s.rank%d", path, r))
		if err != nil {
			return err
		}
		defer f.Close()
		rs = append(rs, f)
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := profiler.Merge(out, rs...); err != nil {
		out.Close()
		return err
	}
	for r := range c.Size() {
		os.Remove(fmt.Sprintf("%s.rank%d", path, r)) // merged; a leftover is harmless
	}
	return out.Close()
}

// torchRun runs PyTorch DDP (gloo) on world processes and returns its
// median ms per step.
func torchRun(python, script string, world int, st settings) (float64, error) {
	sizes := make([]string, len(st.sizes))
	for i, s := range st.sizes {
		sizes[i] = strconv.Itoa(s)
	}
	cmd := exec.Command(python, script, "--world", strconv.Itoa(world), "--batch", strconv.Itoa(st.batch),
		"--sizes", strings.Join(sizes, "-"), "--warmup", strconv.Itoa(st.warmup), "--steps", strconv.Itoa(st.steps),
		"--threads", strconv.Itoa(max(1, runtime.GOMAXPROCS(0)/world)))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s: %v\n%s", script, err, stderr.String())
	}
	var res struct {
		Ms float64 `json:"ms_per_step"`
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		return 0, fmt.Errorf("%s printed %q: %v", script, stdout.String(), err)
	}
	return res.Ms, nil
}

func printHeader() {
	fmt.Printf("%-7s %5s %-16s %-10s %4s %7s %5s %9s %9s %10s %12s %12s %5s",
		"backend", "world", "model", "strategy", "ovl", "bkt MiB", "batch", "ms/step", "min ms", "exposed ms", "bytes/rank", "formula", "ar/st")
	fmt.Printf(" %9s %6s\n", "torch ms", "ratio")
}

func printRow(r Row) {
	ovl := "off"
	if r.Overlap {
		ovl = "on"
	}
	strat := r.Strategy
	if r.Staleness > 0 {
		strat += fmt.Sprintf(",s=%d", r.Staleness)
	}
	fmt.Printf("%-7s %5d %-16s %-10s %4s %7.2f %5d %9.2f %9.2f %10.2f %12d %12d %5.1f",
		r.Backend, r.World, r.Model, strat, ovl, r.BucketMiB, r.BatchPerRank, r.MsPerStep, r.MinMs, r.CommExposedMs, r.BytesPerRank, r.FormulaBytes, r.AllReducePerStep)
	if r.TorchMs > 0 {
		fmt.Printf(" %9.2f %6.2f", r.TorchMs, r.Ratio)
	}
	fmt.Println()
}

func main() {
	ranksFlag := flag.String("ranks", "1,2", "in-process world sizes (local backend); ignored under mpirun")
	sizesFlag := flag.String("sizes", "784-1024-1024-10", "MLP layer sizes")
	batch := flag.Int("batch", 64, "batch per rank")
	warmup := flag.Int("warmup", 3, "untimed steps per configuration")
	steps := flag.Int("steps", 15, "timed steps per configuration")
	stratFlag := flag.String("strategies", "allreduce", "comma-separated strategies, or all: "+strings.Join(strategy.Names(), ","))
	bucketsFlag := flag.String("buckets", "25", "allreduce bucket caps in MiB (a sweep: 0.25,1,5,25,100)")
	overlapFlag := flag.String("overlap", "on,off", "allreduce: overlap settings to measure")
	stalenessFlag := flag.String("staleness", "0", "parameter-server strategies: staleness bounds to measure")
	torch := flag.Bool("torch", false, "also run PyTorch DDP (gloo, one process per rank) per world size and print the ratio to Tessera's allreduce")
	python := flag.String("python", "/usr/bin/python3", "python with torch, for -torch")
	script := flag.String("script", "bench/ddp/ddp_torch.py", "the PyTorch script, for -torch")
	trace := flag.String("trace", "", "write a Chrome trace of one step of the first configuration")
	asJSON := flag.Bool("json", false, "print one JSON object per row instead of the table")
	plotFrom := flag.String("plot", "", "comma-separated files of -json rows, or one FILE.trace.json: draw the figures into -png and exit")
	pngDir := flag.String("png", "docs/modules/img/ddp", "with -plot: the folder for the PNG figures")
	compare := flag.String("compare", "", "go.json,torch.json: print the ratio of mpi.sh's alternating runs (best of each) and exit")
	flag.Parse()
	if *plotFrom != "" {
		var err error
		if strings.HasSuffix(*plotFrom, ".trace.json") {
			err = plotTrace(*plotFrom, filepath.Join(*pngDir, strings.TrimSuffix(filepath.Base(*plotFrom), ".json")+".png"))
		} else {
			var rows []Row
			rows, err = readRows(strings.Split(*plotFrom, ","))
			if err == nil {
				err = plotRows(rows, *pngDir)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "ddp:", err)
			os.Exit(1)
		}
		return
	}
	if *compare != "" {
		if err := compareFiles(*compare); err != nil {
			fmt.Fprintln(os.Stderr, "ddp:", err)
			os.Exit(1)
		}
		return
	}
	st := settings{batch: *batch, warmup: *warmup, steps: *steps, trace: *trace, model: *sizesFlag}
	for _, s := range strings.Split(*sizesFlag, "-") {
		v, err := strconv.Atoi(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ddp: -sizes:", err)
			os.Exit(2)
		}
		st.sizes = append(st.sizes, v)
	}
	buckets, err1 := parseFloats(*bucketsFlag)
	stales, err2 := parseFloats(*stalenessFlag)
	if err1 != nil || err2 != nil || *steps < 1 {
		fmt.Fprintln(os.Stderr, "ddp: bad -buckets, -staleness or -steps")
		os.Exit(2)
	}
	strats := strings.Split(*stratFlag, ",")
	if *stratFlag == "all" {
		strats = strategy.Names()
	}
	for _, s := range strats {
		switch s {
		case "allreduce":
			for _, b := range buckets {
				for _, o := range strings.Split(*overlapFlag, ",") {
					st.configs = append(st.configs, config{strategy: s, bucketMiB: b, overlap: o == "on"})
				}
			}
		case "sharded-ps", "central-ps":
			for _, sv := range stales {
				st.configs = append(st.configs, config{strategy: s, staleness: int(sv), overlap: sv > 0})
			}
		default:
			st.configs = append(st.configs, config{strategy: s, overlap: true})
		}
	}
	worlds := []int{1}
	if env, _ := collectives.ReadEnv(os.Getenv); env.Size == 1 {
		worlds = nil
		for _, r := range strings.Split(*ranksFlag, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(r))
			if err != nil || v < 1 {
				fmt.Fprintln(os.Stderr, "ddp: bad -ranks")
				os.Exit(2)
			}
			worlds = append(worlds, v)
		}
	}
	if env, _ := collectives.ReadEnv(os.Getenv); !*asJSON && env.Rank == 0 {
		printHeader()
	}
	for _, w := range worlds {
		rows, err := runWorld(w, st)
		if err != nil {
			fmt.Fprintln(os.Stderr, "ddp:", err)
			os.Exit(1)
		}
		if *torch && len(rows) > 0 {
			ms, err := torchRun(*python, *script, rows[0].World, st)
			if err != nil {
				fmt.Fprintln(os.Stderr, "ddp: -torch:", err)
				os.Exit(1)
			}
			for i := range rows {
				if rows[i].Strategy == "allreduce" {
					rows[i].TorchMs, rows[i].Ratio = ms, rows[i].MsPerStep/ms
				}
			}
		}
		for _, r := range rows {
			if *asJSON {
				b, _ := json.Marshal(r)
				fmt.Println(string(b))
			} else {
				printRow(r)
			}
		}
	}
}

// compareFiles reads the JSON rows of mpi.sh's alternating runs (Tessera's
// rows and ddp_torch.py's lines), keeps each side's best median per world
// and batch, and prints the ratios for Tessera's allreduce rows.
func compareFiles(spec string) error {
	files := strings.Split(spec, ",")
	if len(files) != 2 {
		return fmt.Errorf("-compare wants go.json,torch.json")
	}
	type key struct{ world, batch int }
	best := map[key]Row{}
	torch := map[key]float64{}
	read := func(path string, each func([]byte) error) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if strings.HasPrefix(line, "{") {
				if err := each([]byte(line)); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
		}
		return nil
	}
	if err := read(files[0], func(b []byte) error {
		var r Row
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		if r.Strategy != "allreduce" || !r.Overlap {
			return nil
		}
		k := key{r.World, r.BatchPerRank}
		if old, ok := best[k]; !ok || r.MsPerStep < old.MsPerStep {
			best[k] = r
		}
		return nil
	}); err != nil {
		return err
	}
	if err := read(files[1], func(b []byte) error {
		var t struct {
			World int     `json:"world"`
			Batch int     `json:"batch_per_rank"`
			Ms    float64 `json:"ms_per_step"`
		}
		if err := json.Unmarshal(b, &t); err != nil {
			return err
		}
		k := key{t.World, t.Batch}
		if old, ok := torch[k]; !ok || t.Ms < old {
			torch[k] = t.Ms
		}
		return nil
	}); err != nil {
		return err
	}
	printHeader()
	for k, r := range best {
		if ms, ok := torch[k]; ok {
			r.TorchMs, r.Ratio = ms, r.MsPerStep/ms
		}
		printRow(r)
	}
	return nil
}
