// Command ops measures Tessera's elementwise ops and reductions in GB/s and
// compares them with the machine's copy bandwidth measured in the same run
// (Go's copy over the same number of goroutines as Tessera uses).
//
//	go run ./bench/ops                 # table
//	go run ./bench/ops -json           # one JSON line per case
//	go run ./bench/ops -mib 256 -reps 7
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/tessera-ml/tessera/tensor"
)

type result struct {
	Op        string  `json:"op"`
	DType     string  `json:"dtype"`
	Elements  int     `json:"elements"`
	Threads   int     `json:"threads"`
	GBPerS    float64 `json:"gbps"`
	VsCopy    float64 `json:"vs_copy"`
	MedianSec float64 `json:"median_s"`
}

func median(reps int, f func()) float64 {
	f() // warm-up: page faults, pools
	ts := make([]float64, reps)
	for i := range ts {
		t0 := time.Now()
		f()
		ts[i] = time.Since(t0).Seconds()
	}
	sort.Float64s(ts)
	return ts[reps/2]
}

// parallelCopy is the anchor: the machine's streaming copy rate.
func parallelCopy(dst, src []float32, w int) {
	var wg sync.WaitGroup
	n := len(dst)
	for i := range w {
		lo, hi := n*i/w, n*(i+1)/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			copy(dst[lo:hi], src[lo:hi])
		}()
	}
	wg.Wait()
}

func main() {
	mib := flag.Int("mib", 256, "size of each float32 operand in MiB")
	reps := flag.Int("reps", 5, "timed repetitions (median reported)")
	asJSON := flag.Bool("json", false, "print one JSON line per case")
	flag.Parse()
	n := *mib << 20 / 4
	w := runtime.GOMAXPROCS(0)
	g := tensor.NewGenerator(1)
	x := g.Uniform(-1, 1, tensor.Float32, n)
	y := g.Uniform(-1, 1, tensor.Float32, n)
	out := tensor.Zeros(tensor.Float32, n)
	xs, os_ := tensor.HostData(x.Storage()).([]float32), tensor.HostData(out.Storage()).([]float32)

	bytes4 := float64(4 * n)
	copyGB := 2 * bytes4 / median(*reps, func() { parallelCopy(os_, xs, w) }) / 1e9
	cases := []struct {
		op    string
		bytes float64
		f     func()
	}{
		{"copy(go)", 2 * bytes4, func() { parallelCopy(os_, xs, w) }},
		{"copy", 2 * bytes4, func() { out.CopyFrom(x) }},
		{"add", 3 * bytes4, func() { tensor.AddInto(out, x, y) }},
		{"mul", 3 * bytes4, func() { tensor.MulInto(out, x, y) }},
		{"add(alloc)", 3 * bytes4, func() { tensor.Add(x, y) }},
		{"relu", 2 * bytes4, func() { tensor.UnaryInto(tensor.OpReLU, out, x, 0, 0) }},
		{"affine", 2 * bytes4, func() { tensor.UnaryInto(tensor.OpAffine, out, x, 2, 1) }},
		{"exp", 2 * bytes4, func() { tensor.UnaryInto(tensor.OpExp, out, x, 0, 0) }},
		{"tanh", 2 * bytes4, func() { tensor.UnaryInto(tensor.OpTanh, out, x, 0, 0) }},
		{"sum", bytes4, func() { tensor.Sum(x, false) }},
		{"sum(rows)", bytes4, func() { tensor.Sum(x.Reshape(-1, 1024), false, 1) }},
		{"sum(cols)", bytes4, func() { tensor.Sum(x.Reshape(-1, 1024), false, 0) }},
		{"softmax(1024)", 2 * bytes4, func() { tensor.Softmax(x.Reshape(-1, 1024), 1) }},
		{"transpose-copy", 2 * bytes4, func() { x.Reshape(-1, 1024).T().Contiguous() }},
		// the same two into a preallocated output (the rows above include
		// allocating and zeroing a fresh output, like add(alloc))
		{"softmax(into)", 2 * bytes4, func() { tensor.SoftmaxInto(out.Reshape(-1, 1024), x.Reshape(-1, 1024), 1) }},
		{"transpose(into)", 2 * bytes4, func() { out.Reshape(1024, -1).CopyFrom(x.Reshape(-1, 1024).T()) }},
	}
	if !*asJSON {
		fmt.Printf("%d MiB float32 operands, %d threads, median of %d; copy anchor %.1f GB/s\n", *mib, w, *reps, copyGB)
		fmt.Printf("%-16s %10s %10s\n", "op", "GB/s", "vs copy")
	}
	enc := json.NewEncoder(os.Stdout)
	for _, c := range cases {
		sec := median(*reps, c.f)
		gb := c.bytes / sec / 1e9
		r := result{Op: c.op, DType: "float32", Elements: n, Threads: w, GBPerS: gb, VsCopy: gb / copyGB, MedianSec: sec}
		if *asJSON {
			_ = enc.Encode(r)
			continue
		}
		fmt.Printf("%-16s %10.2f %10.2f\n", c.op, gb, r.VsCopy)
	}
}
