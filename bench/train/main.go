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
//
// With -torch each case also runs in PyTorch (bench/compare/train_torch.py
// with the tuned environment of issue 5, through /usr/bin/python3) right
// after Tessera's, and the table gains PyTorch's time and the ratio
// Tessera/PyTorch; -rounds N alternates the two N times and keeps each
// one's best median, which steadies the ratio on a shared machine.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	_ "github.com/tessera-ml/tessera/cuda/cudatensor" // registers the "cuda" device for -device cuda
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// newMLP is 784-1024-1024-10 with ReLU.
func newMLP(g *tensor.Generator, dev tensor.Device) nn.Module {
	on := nn.OnDevice(dev)
	return nn.NewSequential(
		nn.NewLinear(g, 784, 1024, true, on), nn.NewReLU(),
		nn.NewLinear(g, 1024, 1024, true, on), nn.NewReLU(),
		nn.NewLinear(g, 1024, 10, true, on),
	)
}

// newCNN is the small CNN of issue 4.
func newCNN(g *tensor.Generator, dev tensor.Device) nn.Module {
	on := nn.OnDevice(dev)
	k3 := tensor.ConvParams{KH: 3, KW: 3}
	return nn.NewSequential(
		nn.NewConv2d(g, 1, 32, k3, 1, true, on), nn.NewReLU(), nn.NewMaxPool2d(2, 2, 0),
		nn.NewConv2d(g, 32, 64, k3, 1, true, on), nn.NewReLU(), nn.NewMaxPool2d(2, 2, 0),
		nn.NewFlatten(), nn.NewLinear(g, 1600, 10, true, on),
	)
}

// clearGrad selects optim.ClearGrad (set to nil) over ZeroGrad (zero in place).
var clearGrad bool

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func median(x []float64) float64 {
	x = slices.Sorted(slices.Values(x))
	n := len(x)
	if n%2 == 0 {
		return (x[n/2-1] + x[n/2]) / 2
	}
	return x[n/2]
}

type result struct {
	Model     string  `json:"model"`
	Batch     int     `json:"batch"`
	MsPerStep float64 `json:"ms_per_step"`
	Threads   int     `json:"threads"`
	Steps     int     `json:"steps"`
	MinMs     float64 `json:"min_ms"`
	Loss      float64 `json:"final_loss"`
	// Medians of the step's phases: zero-grad + forward + loss, backward,
	// optimizer step (Tessera only).
	ForwardMs  float64 `json:"forward_ms,omitempty"`
	BackwardMs float64 `json:"backward_ms,omitempty"`
	OptimMs    float64 `json:"optim_ms,omitempty"`
	// With -torch: PyTorch's median for the same case and the ratio
	// Tessera/PyTorch (below 1: Tessera is faster).
	TorchMs float64 `json:"torch_ms_per_step,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"`
}

// torchCase runs bench/compare/train_torch.py (tuned environment) for one
// case and returns its median ms per step.
func torchCase(python, script, device, name string, batch, warmup, steps int) (float64, error) {
	tdev := "cpu"
	if strings.HasPrefix(device, "cuda") {
		tdev = device
	}
	cmd := exec.Command(python, script, "--tuned", "--cases", fmt.Sprintf("%s:%d", name, batch),
		"--warmup", strconv.Itoa(warmup), "--steps", strconv.Itoa(steps), "--device", tdev)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("%s %s: %v\n%s", python, script, err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r result
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Model == name && r.Batch == batch {
			return r.MsPerStep, nil
		}
	}
	return 0, fmt.Errorf("%s printed no result for %s:%d:\n%s", script, name, batch, out)
}

func runCase(name string, batch, warmup, steps int, dev tensor.Device) (result, error) {
	g := tensor.NewGenerator(1)
	var m nn.Module
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
	params := nn.Params(m)
	opt := optim.NewAdam(params, optim.Options{LR: 1e-3})
	xv := autograd.Constant(x)
	var loss float64
	// phase times of the last step (forward, backward, optimizer), in ms;
	// on an asynchronous device they measure enqueueing, not running.
	var ph [3]float64
	step := func() error {
		t0 := time.Now()
		if clearGrad {
			opt.ClearGrad()
		} else {
			opt.ZeroGrad()
		}
		l := nn.CrossEntropy(m.Forward(xv), y)
		t1 := time.Now()
		if err := l.Backward(); err != nil {
			return err
		}
		t2 := time.Now()
		if err := opt.Step(); err != nil {
			return err
		}
		t3 := time.Now()
		loss = l.Item() // waits for the device
		ph = [3]float64{ms(t1.Sub(t0)), ms(t2.Sub(t1)), ms(t3.Sub(t2))}
		return nil
	}
	for range warmup {
		if err := step(); err != nil {
			return result{}, err
		}
	}
	times := make([]float64, steps)
	var phases [3][]float64
	for i := range times {
		t0 := time.Now()
		if err := step(); err != nil {
			return result{}, err
		}
		times[i] = ms(time.Since(t0))
		for j := range ph {
			phases[j] = append(phases[j], ph[j])
		}
	}
	return result{Model: name, Batch: batch, MsPerStep: median(times), MinMs: slices.Min(times),
		Threads: runtime.GOMAXPROCS(0), Steps: steps, Loss: loss,
		ForwardMs: median(phases[0]), BackwardMs: median(phases[1]), OptimMs: median(phases[2])}, nil
}

func main() {
	cases := flag.String("cases", "mlp:128,mlp:512,cnn:128", "comma-separated model:batch cases")
	steps := flag.Int("steps", 30, "timed steps per case (the median is reported)")
	warmup := flag.Int("warmup", 5, "untimed warm-up steps per case")
	asJSON := flag.Bool("json", false, "print one JSON line per case")
	devName := flag.String("device", "cpu", "device (cpu, cuda, ...)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timed steps to this file")
	torch := flag.Bool("torch", false, "also run each case in PyTorch (bench/compare/train_torch.py, tuned environment) right after Tessera's and print the ratio")
	rounds := flag.Int("rounds", 1, "with -torch: alternate Tessera and PyTorch this many times per case and keep each one's best median")
	python := flag.String("python", "/usr/bin/python3", "python with torch, for -torch")
	script := flag.String("script", "bench/compare/train_torch.py", "the PyTorch script, for -torch")
	phases := flag.Bool("phases", false, "also print the median forward, backward and optimizer times")
	flag.BoolVar(&clearGrad, "clear-grad", false, "drop gradients (optim.ClearGrad) instead of zeroing them in place")
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
		if *torch {
			fmt.Printf("%-6s %6s %12s %10s %8s %12s %8s\n", "model", "batch", "ms/step", "min ms", "threads", "torch ms", "ratio")
		} else {
			fmt.Printf("%-6s %6s %12s %10s %8s\n", "model", "batch", "ms/step", "min ms", "threads")
		}
	}
	for _, c := range strings.Split(*cases, ",") {
		name, bs, ok := strings.Cut(strings.TrimSpace(c), ":")
		batch, err := strconv.Atoi(bs)
		if !ok || err != nil || batch <= 0 {
			fmt.Fprintf(os.Stderr, "train: bad case %q (want model:batch)\n", c)
			os.Exit(2)
		}
		var r result
		n := 1
		if *torch {
			n = max(*rounds, 1)
		}
		for range n {
			ri, err := runCase(name, batch, *warmup, *steps, dev)
			if err != nil {
				fmt.Fprintln(os.Stderr, "train:", err)
				os.Exit(1)
			}
			if r.Model == "" || ri.MsPerStep < r.MsPerStep {
				tm := r.TorchMs
				r = ri
				r.TorchMs = tm
			}
			if *torch {
				ms, err := torchCase(*python, *script, *devName, name, batch, *warmup, *steps)
				if err != nil {
					fmt.Fprintln(os.Stderr, "train:", err)
					os.Exit(1)
				}
				if r.TorchMs == 0 || ms < r.TorchMs {
					r.TorchMs = ms
				}
			}
		}
		if r.TorchMs > 0 {
			r.Ratio = r.MsPerStep / r.TorchMs
		}
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
		} else if *torch {
			fmt.Printf("%-6s %6d %12.2f %10.2f %8d %12.2f %8.2f\n", r.Model, r.Batch, r.MsPerStep, r.MinMs, r.Threads, r.TorchMs, r.Ratio)
		} else {
			fmt.Printf("%-6s %6d %12.2f %10.2f %8d\n", r.Model, r.Batch, r.MsPerStep, r.MinMs, r.Threads)
		}
		if *phases && !*asJSON {
			fmt.Printf("       phases: forward %.2f ms, backward %.2f ms, optimizer %.2f ms\n", r.ForwardMs, r.BackwardMs, r.OptimMs)
		}
	}
}
