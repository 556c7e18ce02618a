// Command train times one training step (forward, backward, optimizer update)
// of the models of issue 4 on the CPU (or another device with -device):
//
//   - mlp: 784-1024-1024-10, ReLU, cross-entropy, Adam, float32, batch 128 and 512;
//   - cnn: conv 1→32 3x3, ReLU, maxpool 2, conv 32→64 3x3, ReLU, maxpool 2,
//     linear 1600→10, cross-entropy, Adam, batch 128 on 1x28x28 inputs.
//
// Each case runs -warmup steps, then -steps timed steps, and reports the
// median time per step. With -json it prints one JSON line per case,
// {"model": "mlp", "batch": 128, "ms_per_step": ...}, as
// bench/compare/train_torch.py does for PyTorch.
//
//	go run ./bench/train [-cases mlp:128,mlp:512,cnn:128] [-steps 30] [-warmup 5] [-json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

type model struct {
	params  []*autograd.Var
	forward func(x *autograd.Var) *autograd.Var
}

func uniformParam(g *tensor.Generator, dev tensor.Device, fanIn int, shape ...int) *autograd.Var {
	b := 1 / math.Sqrt(float64(fanIn))
	return autograd.Param(g.Uniform(-b, b, tensor.Float32, shape...).To(dev))
}

// newMLP is 784-1024-1024-10 with ReLU (PyTorch's nn.Linear layout and init).
func newMLP(g *tensor.Generator, dev tensor.Device) *model {
	sizes := []int{784, 1024, 1024, 10}
	var ws, bs []*autograd.Var
	for i := 0; i+1 < len(sizes); i++ {
		ws = append(ws, uniformParam(g, dev, sizes[i], sizes[i+1], sizes[i]))
		bs = append(bs, uniformParam(g, dev, sizes[i], sizes[i+1]))
	}
	m := &model{}
	for i := range ws {
		m.params = append(m.params, ws[i], bs[i])
	}
	m.forward = func(x *autograd.Var) *autograd.Var {
		h := autograd.Flatten(x, 1, -1)
		for i := range ws {
			h = autograd.Linear(h, ws[i], bs[i])
			if i+1 < len(ws) {
				h = autograd.ReLU(h)
			}
		}
		return h
	}
	return m
}

// newCNN is the small CNN of issue 4.
func newCNN(g *tensor.Generator, dev tensor.Device) *model {
	c1w := uniformParam(g, dev, 9, 32, 1, 3, 3)
	c1b := uniformParam(g, dev, 9, 32)
	c2w := uniformParam(g, dev, 32*9, 64, 32, 3, 3)
	c2b := uniformParam(g, dev, 32*9, 64)
	fw := uniformParam(g, dev, 1600, 10, 1600)
	fb := uniformParam(g, dev, 1600, 10)
	pool := tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}
	return &model{
		params: []*autograd.Var{c1w, c1b, c2w, c2b, fw, fb},
		forward: func(x *autograd.Var) *autograd.Var {
			h := autograd.MaxPool2d(autograd.ReLU(autograd.Conv2d(x, c1w, c1b, tensor.ConvParams{}, 1)), pool)
			h = autograd.MaxPool2d(autograd.ReLU(autograd.Conv2d(h, c2w, c2b, tensor.ConvParams{}, 1)), pool)
			return autograd.Linear(autograd.Flatten(h, 1, -1), fw, fb)
		},
	}
}

// crossEntropy is the mean negative log-likelihood of labels under
// softmax(logits).
func crossEntropy(logits *autograd.Var, labels *tensor.Tensor) *autograd.Var {
	lp := autograd.LogSoftmax(logits, 1)
	picked := autograd.Gather(lp, 1, labels.Reshape(-1, 1))
	return autograd.Neg(autograd.Mean(picked, false))
}

type result struct {
	Model     string  `json:"model"`
	Batch     int     `json:"batch"`
	MsPerStep float64 `json:"ms_per_step"`
	Threads   int     `json:"threads"`
	Steps     int     `json:"steps"`
	MinMs     float64 `json:"min_ms"`
	Loss      float64 `json:"final_loss"`
}

func runCase(name string, batch, warmup, steps int, dev tensor.Device) (result, error) {
	g := tensor.NewGenerator(1)
	var m *model
	var x *tensor.Tensor
	switch name {
	case "mlp":
		m = newMLP(g, dev)
		x = g.Uniform(0, 1, tensor.Float32, batch, 784).To(dev)
	case "cnn":
		m = newCNN(g, dev)
		x = g.Uniform(0, 1, tensor.Float32, batch, 1, 28, 28).To(dev)
	default:
		return result{}, fmt.Errorf("unknown model %q (mlp or cnn)", name)
	}
	y := g.RandInt(0, 10, batch).To(dev)
	opt := optim.NewAdam(m.params, optim.Options{LR: 1e-3})
	xv := autograd.Constant(x)
	var loss float64
	step := func() error {
		for _, p := range m.params {
			p.SetGrad(nil)
		}
		l := crossEntropy(m.forward(xv), y)
		if err := l.Backward(); err != nil {
			return err
		}
		if err := opt.Step(); err != nil {
			return err
		}
		loss = l.Item() // waits for the device
		return nil
	}
	for range warmup {
		if err := step(); err != nil {
			return result{}, err
		}
	}
	times := make([]float64, steps)
	for i := range times {
		t0 := time.Now()
		if err := step(); err != nil {
			return result{}, err
		}
		times[i] = float64(time.Since(t0).Microseconds()) / 1000
	}
	slices.Sort(times)
	med := times[len(times)/2]
	if len(times)%2 == 0 {
		med = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	return result{Model: name, Batch: batch, MsPerStep: med, MinMs: times[0], Threads: runtime.GOMAXPROCS(0), Steps: steps, Loss: loss}, nil
}

func main() {
	cases := flag.String("cases", "mlp:128,mlp:512,cnn:128", "comma-separated model:batch cases")
	steps := flag.Int("steps", 30, "timed steps per case (the median is reported)")
	warmup := flag.Int("warmup", 5, "untimed warm-up steps per case")
	asJSON := flag.Bool("json", false, "print one JSON line per case")
	devName := flag.String("device", "cpu", "device (cpu, cuda, ...)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
	flag.Parse()
	dev, err := tensor.GetDevice(*devName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "train:", err)
			os.Exit(1)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "train:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if !*asJSON {
		fmt.Printf("%-6s %6s %12s %10s %8s\n", "model", "batch", "ms/step", "min ms", "threads")
	}
	for _, c := range strings.Split(*cases, ",") {
		name, bs, ok := strings.Cut(strings.TrimSpace(c), ":")
		batch, err := strconv.Atoi(bs)
		if !ok || err != nil || batch <= 0 {
			fmt.Fprintf(os.Stderr, "train: bad case %q (want model:batch)\n", c)
			os.Exit(2)
		}
		r, err := runCase(name, batch, *warmup, *steps, dev)
		if err != nil {
			fmt.Fprintln(os.Stderr, "train:", err)
			os.Exit(1)
		}
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
		} else {
			fmt.Printf("%-6s %6d %12.2f %10.2f %8d\n", r.Model, r.Batch, r.MsPerStep, r.MinMs, r.Threads)
		}
	}
}
