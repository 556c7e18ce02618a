// Command collectives benchmarks Tessera's collectives in the form of
// NVIDIA's nccl-tests: for each operation and message size it prints the
// time per call, the algorithm bandwidth (algbw = size/time) and the bus
// bandwidth (busbw = algbw × factor: all-reduce 2(n-1)/n; all-gather,
// reduce-scatter and all-to-all (n-1)/n; broadcast and reduce 1), so that
// busbw can be compared with the hardware's bandwidth whatever n is.
//
// Local backend (ranks as goroutines), also measuring the memory copy rate:
//
//	go run ./bench/collectives -ranks 2,4,8
//	go run ./bench/collectives -json            # one JSON object per row
//
// MPI backend, compared with a plain C MPI_Allreduce program:
//
//	bench/collectives/mpi.sh                    # builds both, runs mpirun -np 4
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	_ "github.com/tessera-ml/tessera/collectives/mpi" // registers "mpi" when built with -tags mpi
	"github.com/tessera-ml/tessera/tensor"
)

// Row is one line of the table (and of -json output).
type Row struct {
	Backend string  `json:"backend"`
	Op      string  `json:"op"`
	Ranks   int     `json:"ranks"`
	Algo    string  `json:"algo,omitempty"`
	Bytes   int     `json:"size"`
	Count   int     `json:"count"`
	Type    string  `json:"type"`
	RedOp   string  `json:"redop,omitempty"`
	Iters   int     `json:"iters"`
	TimeUS  float64 `json:"time_us"`
	AlgBW   float64 `json:"algbw_gbs"`
	BusBW   float64 `json:"busbw_gbs"`
	Kind    string  `json:"kind,omitempty"` // "memcpy" rows carry the copy rate in algbw
	Threads int     `json:"threads,omitempty"`
}

type config struct {
	ops     []string
	minB    int
	maxB    int
	factor  int
	iters   int
	warmup  int
	dt      tensor.DType
	op      collectives.RedOp
	jsonOut bool
	algo    local.Algorithm
	maxTime time.Duration
}

func busFactor(op string, n int) float64 {
	switch op {
	case "allreduce":
		return 2 * float64(n-1) / float64(n)
	case "allgather", "reducescatter", "alltoall":
		return float64(n-1) / float64(n)
	}
	return 1
}

// buffers returns the tensors an op uses for a message of the given size
// (nccl-tests' size: the per-rank buffer for all-reduce, broadcast, reduce
// and all-to-all, the gathered output for all-gather, the input for
// reduce-scatter), or ok=false when size does not fit n ranks.
func buffers(op string, size, n int, dt tensor.DType) (a, b *tensor.Tensor, count int, ok bool) {
	count = size / dt.Size()
	switch op {
	case "allgather", "reducescatter", "alltoall":
		if count%n != 0 || count == 0 {
			return nil, nil, 0, false
		}
		big := tensor.Full(1, dt, count)
		small := tensor.Full(1, dt, count/n)
		if op == "alltoall" {
			return big, tensor.Full(1, dt, count), count, true
		}
		if op == "allgather" {
			return big, small, count, true
		}
		return small, big, count, true
	}
	if count == 0 {
		return nil, nil, 0, false
	}
	return tensor.Full(1, dt, count), nil, count, true
}

func call(ctx context.Context, c collectives.Comm, op string, a, b *tensor.Tensor, red collectives.RedOp) error {
	switch op {
	case "allreduce":
		return c.AllReduce(ctx, a, red)
	case "broadcast":
		return c.Broadcast(ctx, a, 0)
	case "reduce":
		return c.Reduce(ctx, a, red, 0)
	case "allgather":
		return c.AllGather(ctx, a, b)
	case "reducescatter":
		return c.ReduceScatter(ctx, a, b, red)
	case "alltoall":
		return c.AllToAll(ctx, a, b)
	}
	return fmt.Errorf("unknown op %q", op)
}

// run benchmarks every op and size on c; every rank runs it, rank 0's rows
// are returned. The time of one size is the wall time of iters calls
// between two barriers, divided by iters (as nccl-tests does), maximised
// over ranks with an all-reduce.
func run(ctx context.Context, c collectives.Comm, cfg config, emit func(Row)) error {
	n := c.Size()
	for _, op := range cfg.ops {
		for size := cfg.minB; size <= cfg.maxB; size *= cfg.factor {
			a, b, count, ok := buffers(op, size, n, cfg.dt)
			if !ok {
				continue
			}
			// Collect the previous size's buffers now, so that no garbage
			// collection triggered by this allocation runs during the timing
			// (as package testing does before a benchmark).
			runtime.GC()
			for range cfg.warmup {
				if err := call(ctx, c, op, a, b, cfg.op); err != nil {
					return err
				}
			}
			// Decide the iteration count on rank 0's first timing, shared by broadcast.
			t0 := time.Now()
			if err := call(ctx, c, op, a, b, cfg.op); err != nil {
				return err
			}
			est := tensor.FromSlice([]float64{time.Since(t0).Seconds()}, 1)
			if err := c.Broadcast(ctx, est, 0); err != nil {
				return err
			}
			iters := cfg.iters
			if one := tensor.HostData(est.Storage()).([]float64)[0]; one > 0 {
				iters = max(1, min(iters, int(cfg.maxTime.Seconds()/one)))
			}
			if err := c.Barrier(ctx); err != nil {
				return err
			}
			start := time.Now()
			for range iters {
				if err := call(ctx, c, op, a, b, cfg.op); err != nil {
					return err
				}
			}
			if err := c.Barrier(ctx); err != nil {
				return err
			}
			el := tensor.FromSlice([]float64{time.Since(start).Seconds() / float64(iters)}, 1)
			if err := c.AllReduce(ctx, el, collectives.Max); err != nil {
				return err
			}
			if c.Rank() != 0 {
				continue
			}
			sec := tensor.HostData(el.Storage()).([]float64)[0]
			r := Row{Backend: c.Backend(), Op: op, Ranks: n, Bytes: size, Count: count, Type: cfg.dt.String(),
				Iters: iters, TimeUS: sec * 1e6}
			if op == "allreduce" || op == "reduce" || op == "reducescatter" {
				r.RedOp = cfg.op.String()
			}
			if c.Backend() == "local" && op == "allreduce" {
				algo := cfg.algo
				if algo == local.Auto {
					algo = local.AutoAlgorithm(n, size, local.DefaultDirectMax)
				}
				r.Algo = algo.String()
			}
			r.AlgBW = float64(size) / sec / 1e9
			r.BusBW = r.AlgBW * busFactor(op, n)
			emit(r)
		}
	}
	return nil
}

// copyRate measures memmove bandwidth (bytes copied per second) with the
// given number of goroutines, each copying its own slice of a 256 MiB
// buffer; the best of reps.
func copyRate(threads int) float64 {
	const total = 256 << 20
	src, dst := make([]byte, total), make([]byte, total)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src) // fault the pages in
	best := 0.0
	for range 5 {
		var wg sync.WaitGroup
		t0 := time.Now()
		per := total / threads
		for t := range threads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				copy(dst[t*per:(t+1)*per], src[t*per:(t+1)*per])
			}()
		}
		wg.Wait()
		best = max(best, float64(total)/time.Since(t0).Seconds())
	}
	return best
}

type printer struct {
	json bool
	mu   sync.Mutex
	last string
}

func (p *printer) row(r Row) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
		return
	}
	if r.Kind == "memcpy" {
		fmt.Printf("# memory copy rate (%d thread(s), 256 MiB memmove): %.2f GB/s\n", r.Threads, r.AlgBW)
		return
	}
	head := fmt.Sprintf("%s %s, %d ranks", r.Backend, r.Op, r.Ranks)
	if head != p.last {
		p.last = head
		fmt.Printf("\n# %s\n", head)
		fmt.Printf("# %12s %12s %8s %6s %7s %10s %9s %9s\n", "size(B)", "count", "type", "redop", "algo", "time(us)", "algbw", "busbw")
		fmt.Printf("# %12s %12s %8s %6s %7s %10s %9s %9s\n", "", "(elements)", "", "", "", "", "(GB/s)", "(GB/s)")
	}
	fmt.Printf("  %12d %12d %8s %6s %7s %10.1f %9.3f %9.3f\n", r.Bytes, r.Count, r.Type, dash(r.RedOp), dash(r.Algo), r.TimeUS, r.AlgBW, r.BusBW)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func parseSize(s string) (int, error) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, s[:len(s)-1]
	}
	v, err := strconv.Atoi(s)
	return v * mult, err
}

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "collectives bench:", err)
		os.Exit(1)
	}
}

func mainErr() error {
	var (
		backend = flag.String("backend", "local", "local, or mpi (run under mpirun; build with -tags mpi)")
		ranks   = flag.String("ranks", "2,4,8", "world sizes for the local backend")
		ops     = flag.String("ops", "allreduce,allgather,reducescatter,broadcast,reduce,alltoall", "operations")
		minS    = flag.String("b", "8", "smallest size in bytes (K, M, G suffixes)")
		maxS    = flag.String("e", "64M", "largest size in bytes")
		factor  = flag.Int("f", 2, "size multiplication factor")
		iters   = flag.Int("n", 20, "iterations per size (fewer if one size would exceed -maxtime)")
		warmup  = flag.Int("w", 3, "warm-up iterations")
		dtS     = flag.String("type", "float32", "element type")
		opS     = flag.String("op", "sum", "reduction")
		jsonOut = flag.Bool("json", false, "print one JSON object per row instead of the table")
		algoS   = flag.String("algo", "auto", "local all-reduce algorithm: auto, ring, direct or tree")
		maxTime = flag.Float64("maxtime", 1, "time budget per size, in seconds")
		nocopy  = flag.Bool("nocopy", false, "skip the memory copy rate measurement")
		compare = flag.String("compare", "", "go.json,c.json: print the MPI backend / plain MPI_Allreduce ratio table and exit")
	)
	flag.Parse()
	if *compare != "" {
		return compareFiles(*compare)
	}
	var cfg config
	var err error
	cfg.ops = strings.Split(*ops, ",")
	if cfg.minB, err = parseSize(*minS); err != nil {
		return err
	}
	if cfg.maxB, err = parseSize(*maxS); err != nil {
		return err
	}
	if cfg.dt, err = tensor.ParseDType(*dtS); err != nil {
		return err
	}
	if cfg.op, err = collectives.ParseRedOp(*opS); err != nil {
		return err
	}
	cfg.factor, cfg.iters, cfg.warmup, cfg.jsonOut, cfg.maxTime = max(*factor, 2), *iters, *warmup, *jsonOut, time.Duration(*maxTime*float64(time.Second))
	switch *algoS {
	case "auto":
	case "ring":
		cfg.algo = local.Ring
	case "direct":
		cfg.algo = local.Direct
	case "tree":
		cfg.algo = local.Tree
	default:
		return fmt.Errorf("unknown -algo %q", *algoS)
	}
	p := &printer{json: cfg.jsonOut}
	ctx := context.Background()

	if *backend == "mpi" {
		c, err := collectives.Init(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		if c.Rank() == 0 && !cfg.jsonOut {
			fmt.Printf("# tessera collectives bench: backend %s, %d ranks, GOMAXPROCS %d\n", c.Backend(), c.Size(), runtime.GOMAXPROCS(0))
		}
		return run(ctx, c, cfg, p.row)
	}
	if !cfg.jsonOut {
		fmt.Printf("# tessera collectives bench: local backend, GOMAXPROCS %d, %s\n", runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))
	}
	var copyAll, copyOne float64
	if !*nocopy {
		for _, th := range []int{1, runtime.GOMAXPROCS(0)} {
			r := copyRate(th) / 1e9
			p.row(Row{Kind: "memcpy", Threads: th, AlgBW: r, Bytes: 256 << 20})
			if th == 1 {
				copyOne = r
			}
			copyAll = r
			if runtime.GOMAXPROCS(0) == 1 {
				break
			}
		}
	}
	var summary []string
	for _, s := range strings.Split(*ranks, ",") {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("bad -ranks: %w", err)
		}
		var last Row
		err = local.Run(ctx, n, func(ctx context.Context, c collectives.Comm) error {
			return run(ctx, c, cfg, func(r Row) {
				if r.Op == "allreduce" && r.Bytes >= last.Bytes {
					last = r
				}
				p.row(r)
			})
		}, local.WithAlgorithm(cfg.algo))
		if err != nil {
			return err
		}
		if copyAll > 0 && last.Bytes > 0 && n > 1 {
			// Traffic model: in shared memory an in-place all-reduce must
			// read and write each of the n buffers once, as much traffic as
			// a copy of n·S bytes, so at the copy rate busbw would be
			// copy rate · 2(n-1)/n² (a cache that holds the n buffers but
			// not the copy's source and destination can beat it).
			model := 2 * float64(n-1) / float64(n*n)
			summary = append(summary, fmt.Sprintf("# allreduce %d ranks at %d B: busbw %.2f GB/s = %.2f× the %d-thread copy rate (%.2f GB/s), %.2f× the 1-thread copy rate (%.2f GB/s); traffic model at the copy rate: %.3f×",
				n, last.Bytes, last.BusBW, last.BusBW/copyAll, runtime.GOMAXPROCS(0), copyAll, last.BusBW/copyOne, copyOne, model))
		}
	}
	if !cfg.jsonOut && len(summary) > 0 {
		fmt.Println()
		for _, l := range summary {
			fmt.Println(l)
		}
	}
	return nil
}
