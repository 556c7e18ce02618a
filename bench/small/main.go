// Command small measures Tessera's per-op cost on small operands (issue 21)
// beside its anchors, in the same run, alternating rounds:
//
//   - ops: add, mul, exp, sum and matmul at 10-1,000 elements through the
//     tensor API (a new output per call, as x + y in PyTorch), ns/op and
//     allocations per op, against eager PyTorch on one thread;
//
//   - mlp: one training step of a 1-40-40-1 ReLU MLP at batch 10 with Adam
//     (lr 1e-3) and MSE (zero grad, forward, loss, backward, step), against
//     the same step in PyTorch;
//
//   - gemm: square SGEMM (row-major C = A·B, preallocated C) at N = 16, 32,
//     64, 128 with 1 and 2 threads through kernels/cpu.Sgemm, against
//     OpenBLAS's cblas_sgemm called from a small C program (so no
//     interpreter's per-call cost is in the anchor).
//
//     go run ./bench/small [-cases ops,mlp,gemm] [-rounds 3] [-reps 5] [-json]
//
// Each round times Tessera's case and then its anchor; a side's figure is
// the least over -reps repetitions of the time per call of a batch of calls
// (about -rep-time long, the same number of calls on both sides), and the
// reported figure is each side's best round. The machines this runs on are
// shared and loaded: a repetition that the scheduler interrupted is slower,
// never faster, so the least is the figure that reproduces (a median moves
// with the load). The
// op table and the MLP run Tessera with GOMAXPROCS=1 (-threads), as the
// anchor runs PyTorch with one thread; the GEMM rows set both sides' thread
// counts. With -json each row is one line {"case", "size", "threads",
// "ours_ns", "anchor_ns", "ratio", "allocs", "anchor"}; ratio is
// ours_ns/anchor_ns (below 1: Tessera is faster), and anchor_ns is 0 when the
// anchor could not run (no python3 with torch, no cc or libopenblas).
//
// The anchors are bench/small/torch_small.py (run by /usr/bin/python3, which
// needs Debian's python3-torch) and bench/small/cblas/openblas_gemm.c (built with
// cc against libopenblas.so.0 from Debian's libopenblas0-pthread).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/kernels/cpu"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// row is one line of the table.
type row struct {
	Case     string  `json:"case"`
	Size     int     `json:"size"`
	Threads  int     `json:"threads"`
	OursNs   float64 `json:"ours_ns"`
	AnchorNs float64 `json:"anchor_ns"`
	Ratio    float64 `json:"ratio"`
	Allocs   float64 `json:"allocs"`
	Anchor   string  `json:"anchor"`
}

// bench is one case: run does one call; anchor asks the anchor for the
// same case's time per call given reps and iters.
type bench struct {
	name    string
	size    int
	threads int
	run     func()
	anchor  func(reps, iters int) (float64, error)
	anchorN string
}

// timed returns the least over reps of the time per call of iters calls.
func timed(f func(), reps, iters int) float64 {
	ts := make([]float64, reps)
	for r := range ts {
		t0 := time.Now()
		for range iters {
			f()
		}
		ts[r] = float64(time.Since(t0).Nanoseconds()) / float64(iters)
	}
	return slices.Min(ts)
}

// itersFor returns how many calls of f take about d (at least 1).
func itersFor(f func(), d time.Duration) int {
	f()
	n := 1
	for {
		t0 := time.Now()
		for range n {
			f()
		}
		el := time.Since(t0)
		if el >= d/4 || n >= 1<<22 {
			return max(1, int(float64(n)*float64(d)/float64(max(el, 1))))
		}
		n *= 4
	}
}

// measure runs the cases for rounds rounds, ours then the anchor's, and
// keeps each side's best round.
func measure(cases []bench, rounds, reps int, repTime time.Duration, progress io.Writer) []row {
	rows := make([]row, len(cases))
	for i, c := range cases {
		rows[i] = row{Case: c.name, Size: c.size, Threads: c.threads, Anchor: c.anchorN}
	}
	for r := range rounds {
		for i, c := range cases {
			prev := runtime.GOMAXPROCS(c.threads)
			prevT := cpu.SetMaxThreads(c.threads)
			iters := itersFor(c.run, repTime)
			ours := timed(c.run, reps, iters)
			if r == 0 {
				rows[i].Allocs = testing.AllocsPerRun(min(iters, 1000), c.run)
			}
			runtime.GOMAXPROCS(prev)
			cpu.SetMaxThreads(prevT)
			if rows[i].OursNs == 0 || ours < rows[i].OursNs {
				rows[i].OursNs = ours
			}
			if c.anchor == nil {
				continue
			}
			a, err := c.anchor(reps, iters)
			if err != nil {
				fmt.Fprintf(progress, "anchor %s for %s/%d: %v\n", c.anchorN, c.name, c.size, err)
				continue
			}
			if rows[i].AnchorNs == 0 || a < rows[i].AnchorNs {
				rows[i].AnchorNs = a
			}
		}
		fmt.Fprintf(progress, "round %d/%d done\n", r+1, rounds)
	}
	for i := range rows {
		if rows[i].AnchorNs > 0 {
			rows[i].Ratio = rows[i].OursNs / rows[i].AnchorNs
		}
	}
	return rows
}

// opCases are the tiny-op table's cases. matmul's size is the elements of
// each square operand (n×n with n = round(√size)).
func opCases(sizes []int, threads int, anchor func(string, int) func(int, int) (float64, error)) []bench {
	var cs []bench
	g := tensor.NewGenerator(1)
	for _, name := range []string{"add", "mul", "exp", "sum", "matmul"} {
		for _, size := range sizes {
			var run func()
			sz := size
			switch name {
			case "add", "mul", "exp", "sum":
				x := g.Uniform(-1, 1, tensor.Float32, size)
				y := g.Uniform(-1, 1, tensor.Float32, size)
				run = map[string]func(){
					"add": func() { tensor.Add(x, y) },
					"mul": func() { tensor.Mul(x, y) },
					"exp": func() { tensor.Exp(x) },
					"sum": func() { tensor.Sum(x, false) },
				}[name]
			case "matmul":
				n := int(math.Round(math.Sqrt(float64(size))))
				sz = n * n
				a := g.Uniform(-1, 1, tensor.Float32, n, n)
				b := g.Uniform(-1, 1, tensor.Float32, n, n)
				run = func() { tensor.MatMul(a, b) }
			}
			cs = append(cs, bench{name: name, size: sz, threads: threads, run: run, anchor: anchor(name, sz), anchorN: "torch"})
		}
	}
	return cs
}

// newMLPStep returns one training step of the 1-40-40-1 ReLU MLP at batch
// batch with Adam (forward, MSE, backward, step), and the model's
// parameters.
func newMLPStep(batch int) (func(), []*autograd.Var) {
	g := tensor.NewGenerator(1)
	m := nn.NewSequential(
		nn.NewLinear(g, 1, 40, true), nn.NewReLU(),
		nn.NewLinear(g, 40, 40, true), nn.NewReLU(),
		nn.NewLinear(g, 40, 1, true))
	ps := nn.Params(m)
	opt := optim.NewAdam(ps, optim.Options{LR: 1e-3})
	x := autograd.Constant(g.Uniform(-1, 1, tensor.Float32, batch, 1))
	y := autograd.Constant(g.Uniform(-1, 1, tensor.Float32, batch, 1))
	return func() {
		opt.ZeroGrad()
		l := nn.MSELoss(m.Forward(x), y)
		if err := l.Backward(); err != nil {
			panic(err)
		}
		if err := opt.Step(); err != nil {
			panic(err)
		}
	}, ps
}

// gemmCase is Sgemm on n×n row-major matrices with a preallocated C.
func gemmCase(n int) func() {
	g := tensor.NewGenerator(2)
	a := g.Uniform(-0.5, 0.5, tensor.Float32, n*n).Float32s()
	b := g.Uniform(-0.5, 0.5, tensor.Float32, n*n).Float32s()
	return gemmInto(n, a, b, make([]float32, n*n))
}

// gemmInto returns the call c = a·b (n×n, row-major).
func gemmInto(n int, a, b, c []float32) func() {
	return func() { cpu.Sgemm(n, n, n, 1, a, n, 1, b, n, 1, 0, c, n, 1) }
}

// anchorProc is a running anchor process serving one request per line.
type anchorProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startAnchor(name string, args ...string) (*anchorProc, error) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &anchorProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

func (p *anchorProc) ask(req string) (string, error) {
	if _, err := io.WriteString(p.in, req+"\n"); err != nil {
		return "", err
	}
	if !p.out.Scan() {
		if err := p.out.Err(); err != nil {
			return "", err
		}
		return "", errors.New("anchor exited")
	}
	return p.out.Text(), nil
}

func (p *anchorProc) close() {
	p.in.Close()
	_ = p.cmd.Wait()
}

// buildOpenBLAS compiles the C anchor into dir.
func buildOpenBLAS(ccName, src, dir string) (string, error) {
	bin := filepath.Join(dir, "openblas_gemm")
	out, err := exec.Command(ccName, "-O2", "-o", bin, src, "-l:libopenblas.so.0").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %v: %s", ccName, err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

func parseInts(s string) ([]int, error) {
	var v []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		v = append(v, n)
	}
	return v, nil
}

func main() {
	casesF := flag.String("cases", "ops,mlp,gemm", "comma-separated groups: ops, mlp, gemm")
	sizesF := flag.String("sizes", "10,40,100,400,1000", "element counts of the op table")
	gemmF := flag.String("gemm-sizes", "16,32,64,128", "N of the square SGEMMs")
	gemmT := flag.String("gemm-threads", "1,2", "thread counts of the SGEMMs")
	batch := flag.Int("batch", 10, "batch size of the MLP step")
	threads := flag.Int("threads", 1, "GOMAXPROCS for the op table and the MLP (PyTorch runs with one thread)")
	rounds := flag.Int("rounds", 3, "alternating rounds (each side keeps its best)")
	reps := flag.Int("reps", 9, "repetitions per round (the least is the round's figure)")
	repTime := flag.Duration("rep-time", 500*time.Microsecond, "length of one repetition")
	asJSON := flag.Bool("json", false, "print one JSON line per row")
	python := flag.String("python", "/usr/bin/python3", "python with torch (empty: no PyTorch anchor)")
	script := flag.String("script", "bench/small/torch_small.py", "the PyTorch anchor script")
	ccName := flag.String("cc", "cc", "C compiler for the OpenBLAS anchor (empty: no OpenBLAS anchor)")
	csrc := flag.String("csrc", "bench/small/cblas/openblas_gemm.c", "the OpenBLAS anchor's source")
	flag.Parse()

	sizes, err := parseInts(*sizesF)
	if err != nil {
		fmt.Fprintln(os.Stderr, "-sizes:", err)
		os.Exit(2)
	}
	gsizes, err := parseInts(*gemmF)
	if err != nil {
		fmt.Fprintln(os.Stderr, "-gemm-sizes:", err)
		os.Exit(2)
	}
	gthreads, err := parseInts(*gemmT)
	if err != nil {
		fmt.Fprintln(os.Stderr, "-gemm-threads:", err)
		os.Exit(2)
	}
	groups := map[string]bool{}
	for _, g := range strings.Split(*casesF, ",") {
		groups[strings.TrimSpace(g)] = true
	}

	var torch *anchorProc
	if *python != "" && (groups["ops"] || groups["mlp"]) {
		if torch, err = startAnchor(*python, *script); err != nil {
			fmt.Fprintln(os.Stderr, "PyTorch anchor:", err)
			torch = nil
		} else {
			defer torch.close()
		}
	}
	torchAnchor := func(name string, size int) func(int, int) (float64, error) {
		if torch == nil {
			return nil
		}
		return func(reps, iters int) (float64, error) {
			req, _ := json.Marshal(map[string]any{"case": name, "size": size, "reps": reps, "iters": iters})
			line, err := torch.ask(string(req))
			if err != nil {
				return 0, err
			}
			var r struct{ Ns float64 }
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return 0, fmt.Errorf("%q: %v", line, err)
			}
			return r.Ns, nil
		}
	}
	var blas *anchorProc
	if *ccName != "" && groups["gemm"] {
		dir, err := os.MkdirTemp("", "bench-small")
		if err == nil {
			defer os.RemoveAll(dir)
			var bin string
			if bin, err = buildOpenBLAS(*ccName, *csrc, dir); err == nil {
				blas, err = startAnchor(bin)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "OpenBLAS anchor:", err)
			blas = nil
		} else {
			defer blas.close()
		}
	}

	var cases []bench
	if groups["ops"] {
		cases = append(cases, opCases(sizes, *threads, torchAnchor)...)
	}
	if groups["mlp"] {
		step, _ := newMLPStep(*batch)
		cases = append(cases, bench{name: "mlp", size: *batch, threads: *threads, run: step,
			anchor: torchAnchor("mlp", *batch), anchorN: "torch"})
	}
	if groups["gemm"] {
		for _, n := range gsizes {
			for _, t := range gthreads {
				c := bench{name: "sgemm", size: n, threads: t, run: gemmCase(n), anchorN: "openblas"}
				if blas != nil {
					c.anchor = func(reps, iters int) (float64, error) {
						line, err := blas.ask(fmt.Sprintf("%d %d %d %d", n, t, reps, iters))
						if err != nil {
							return 0, err
						}
						return strconv.ParseFloat(strings.TrimSpace(line), 64)
					}
				}
				cases = append(cases, c)
			}
		}
	}
	rows := measure(cases, *rounds, *reps, *repTime, os.Stderr)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		for _, r := range rows {
			_ = enc.Encode(r)
		}
		return
	}
	fmt.Println("| case | size | threads | Tessera ns | anchor | anchor ns | ratio | allocs/op |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		ratio, an := "-", "-"
		if r.AnchorNs > 0 {
			ratio = fmt.Sprintf("%.2fx", r.Ratio)
			an = fmt.Sprintf("%.0f", r.AnchorNs)
		}
		fmt.Printf("| %s | %d | %d | %.0f | %s | %s | %s | %.0f |\n", r.Case, r.Size, r.Threads, r.OursNs, r.Anchor, an, ratio, r.Allocs)
	}
}
