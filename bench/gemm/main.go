// Command gemm benchmarks Tessera's pure-Go GEMM (kernels/cpu) against gonum's
// pure-Go BLAS on square row-major N×N×N problems.
//
//	go run ./bench/gemm                          # table, float32 and float64, 1 and 2 threads
//	go run ./bench/gemm -sizes 1024,2048 -json   # one JSON line per case and implementation
//
// Each rep repeats the call for at least -mintime and records GFLOP/s
// (2·N³ per call); the reported figure is the median of -reps reps. Tessera and
// gonum are measured interleaved, case by case, so both see the same machine
// load. The thread count bounds both: runtime.GOMAXPROCS and cpu.SetMaxThreads.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"github.com/tessera-ml/tessera/kernels/cpu"
)

type result struct {
	Op      string  `json:"op"`
	Impl    string  `json:"impl"`
	DType   string  `json:"dtype"`
	N       int     `json:"n"`
	Threads int     `json:"threads"`
	GFLOPS  float64 `json:"gflops"`
	Reps    int     `json:"reps"`
	Kernel  string  `json:"kernel,omitempty"`
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("bad value %q", f)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty list")
	}
	return out, nil
}

// measure returns the median GFLOP/s of reps reps of f, each repeating f for
// at least minTime, after one warm-up call.
func measure(n, reps int, minTime time.Duration, f func()) float64 {
	f()
	flop := 2 * float64(n) * float64(n) * float64(n)
	g := make([]float64, reps)
	for r := range g {
		calls := 0
		t0 := time.Now()
		for calls == 0 || time.Since(t0) < minTime {
			f()
			calls++
		}
		g[r] = flop * float64(calls) / time.Since(t0).Seconds() / 1e9
	}
	slices.Sort(g)
	if reps%2 == 1 {
		return g[reps/2]
	}
	return (g[reps/2-1] + g[reps/2]) / 2
}

func fill32(r *rand.Rand, x []float32) {
	for i := range x {
		x[i] = float32(r.Float64()*2 - 1)
	}
}

func fill64(r *rand.Rand, x []float64) {
	for i := range x {
		x[i] = r.Float64()*2 - 1
	}
}

func main() {
	sizesFlag := flag.String("sizes", "256,512,1024,2048", "comma-separated N (square N×N×N problems)")
	dtype := flag.String("dtype", "both", "float32, float64 or both")
	threadsFlag := flag.String("threads", "1,2", "comma-separated thread counts")
	reps := flag.Int("reps", 5, "reps per case (median reported)")
	gonumReps := flag.Int("gonum-reps", 3, "reps per case for gonum (it is slow at large N); 0 skips gonum")
	minTime := flag.Duration("mintime", 100*time.Millisecond, "minimum duration of one rep")
	jsonOut := flag.Bool("json", false, "print one JSON line per case and implementation instead of a table")
	flag.Parse()

	sizes, err := parseInts(*sizesFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gemm: -sizes:", err)
		os.Exit(2)
	}
	threads, err := parseInts(*threadsFlag)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gemm: -threads:", err)
		os.Exit(2)
	}
	var dtypes []string
	switch *dtype {
	case "float32", "float64":
		dtypes = []string{*dtype}
	case "both":
		dtypes = []string{"float32", "float64"}
	default:
		fmt.Fprintln(os.Stderr, "gemm: -dtype must be float32, float64 or both")
		os.Exit(2)
	}
	if *reps < 1 {
		*reps = 1
	}

	enc := json.NewEncoder(os.Stdout)
	if !*jsonOut {
		fmt.Printf("Tessera GEMM (kernel %s) vs gonum, GOARCH=%s, NumCPU=%d, median of %d reps (gonum %d)\n\n",
			cpu.Kernel(), runtime.GOARCH, runtime.NumCPU(), *reps, *gonumReps)
		fmt.Printf("%-8s %6s %7s %14s %14s %9s\n", "dtype", "N", "threads", "tessera GF/s", "gonum GF/s", "ratio")
	}
	procs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(procs)
	impl := gonum.Implementation{}
	r := rand.New(rand.NewPCG(1, 2))

	for _, dt := range dtypes {
		for _, n := range sizes {
			var tess, gon func()
			switch dt {
			case "float32":
				a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
				fill32(r, a)
				fill32(r, b)
				tess = func() { cpu.Sgemm(n, n, n, 1, a, n, 1, b, n, 1, 0, c, n, 1) }
				gon = func() { impl.Sgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, b, n, 0, c, n) }
			default:
				a, b, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
				fill64(r, a)
				fill64(r, b)
				tess = func() { cpu.Dgemm(n, n, n, 1, a, n, 1, b, n, 1, 0, c, n, 1) }
				gon = func() { impl.Dgemm(blas.NoTrans, blas.NoTrans, n, n, n, 1, a, n, b, n, 0, c, n) }
			}
			for _, th := range threads {
				runtime.GOMAXPROCS(th)
				cpu.SetMaxThreads(th)
				tg := measure(n, *reps, *minTime, tess)
				gg := 0.0
				if *gonumReps > 0 {
					gg = measure(n, *gonumReps, *minTime, gon)
				}
				if *jsonOut {
					_ = enc.Encode(result{Op: "gemm", Impl: "tessera", DType: dt, N: n, Threads: th, GFLOPS: round(tg), Reps: *reps, Kernel: cpu.Kernel()})
					if *gonumReps > 0 {
						_ = enc.Encode(result{Op: "gemm", Impl: "gonum", DType: dt, N: n, Threads: th, GFLOPS: round(gg), Reps: *gonumReps})
					}
					continue
				}
				ratio := "-"
				if gg > 0 {
					ratio = fmt.Sprintf("%.1fx", tg/gg)
				}
				fmt.Printf("%-8s %6d %7d %14.1f %14.1f %9s\n", dt, n, th, tg, gg, ratio)
			}
		}
	}
}

func round(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
