// Command batchsize measures how the number of steps and the time to reach a
// target accuracy change with the batch size (course module 1; Goyal et al.
// 2017, Shallue et al. 2019, McCandlish et al. 2018), on the embedded UCI
// digits and on a harder generated task (a 10-class Gaussian mixture in 32
// dimensions with 10 % label noise):
//
//   - for each batch size from 16 to the whole training set and each
//     optimizer (SGD with momentum, LARS, LAMB), the learning rate follows the
//     linear scaling rule base·B/32 with a linear warm-up over one epoch's
//     worth of samples, and a sweep of multipliers around it finds the
//     tuned rate (the fastest to the target);
//
//   - the steps to target S(B) are fitted with S = S_min + E_min/B (McCandlish
//     et al.'s S/S_min − 1 = B_crit/B), giving the critical batch size
//     B_crit = E_min/S_min where perfect scaling (S ∝ 1/B) gives way to
//     diminishing returns;
//
//   - a separate SGD run logs the simple noise scale B_simple
//     (scaling.NoiseScale) against the training loss.
//
//     go run ./examples/batchsize                        # quick preset (digits), the table
//     go run ./examples/batchsize -preset full -out docs/modules/img/batchsize -markdown
//     go run ./examples/batchsize -json                  # one JSON object per run
//
// -out writes runs.csv, noise.csv, summary.md and the PNG figures.
package main

import (
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

type preset struct {
	tasks      []string
	batches    map[string][]int
	optimizers []string
	mults      []float64
	maxSteps   int
	maxEpochs  map[string]float64 // a run also stops after this many epochs
	noiseSteps int
	noiseEvery int
	ddpRanks   int // > 1: also the noise scale from a data-parallel run
}

var presets = map[string]preset{
	"quick": {
		tasks:      []string{"digits"},
		batches:    map[string][]int{"digits": {16, 64, 256, 1437}},
		optimizers: []string{"sgd", "lars", "lamb"},
		mults:      []float64{0.25, 0.5, 1, 2},
		maxSteps:   1500,
		maxEpochs:  map[string]float64{"digits": 200},
		noiseSteps: 300, noiseEvery: 50,
	},
	// "test" is the unit test's: two batch sizes, SGD, two rates.
	"test": {
		tasks:      []string{"digits"},
		batches:    map[string][]int{"digits": {32, 256}},
		optimizers: []string{"sgd"},
		mults:      []float64{0.5, 1},
		maxSteps:   800,
		maxEpochs:  map[string]float64{"digits": 100},
		noiseSteps: 100, noiseEvery: 50,
	},
	"full": {
		tasks:      []string{"digits", "mixture"},
		batches:    map[string][]int{"digits": {16, 32, 64, 128, 256, 512, 1437}, "mixture": {16, 64, 256, 1024, 4096, 8192}},
		optimizers: []string{"sgd", "lars", "lamb"},
		mults:      []float64{0.0625, 0.125, 0.25, 0.5, 1, 2, 4},
		maxSteps:   3000,
		maxEpochs:  map[string]float64{"digits": 200, "mixture": 40},
		noiseSteps: 1200, noiseEvery: 100,
	},
}

// summary is one (task, optimizer, batch): the linear rule's run and the
// tuned one.
type summary struct {
	Task, Optimizer string
	Batch           int
	LinearSteps     int // -1: not reached
	TunedSteps      int
	TunedMult       float64
	TunedLR         float64
	TunedSeconds    float64
}

// fitCritical fits S = S_min + E_min/B by least squares over the reached
// points and returns S_min, E_min and B_crit = E_min/S_min.
func fitCritical(bs []int, steps []int) (sMin, eMin, bCrit float64, ok bool) {
	var x, y []float64
	for i, s := range steps {
		if s > 0 {
			x = append(x, 1/float64(bs[i]))
			y = append(y, float64(s))
		}
	}
	if len(x) < 3 {
		return 0, 0, 0, false
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= float64(len(x))
	my /= float64(len(x))
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	eMin = sxy / sxx
	sMin = my - eMin*mx
	if sMin <= 0 || eMin <= 0 {
		return sMin, eMin, math.NaN(), false
	}
	return sMin, eMin, eMin / sMin, true
}

func main() {
	presetName := flag.String("preset", "quick", "quick (digits, 4 batch sizes, 3 rates) or full (both tasks, 5 rates)")
	tasksFlag := flag.String("tasks", "", "comma-separated tasks (digits, mixture); default: the preset's")
	optsFlag := flag.String("optimizers", "", "comma-separated optimizers (sgd, lars, lamb); default: the preset's")
	batchesFlag := flag.String("batches", "", "comma-separated batch sizes for every task; default: the preset's")
	multsFlag := flag.String("mults", "", "comma-separated multipliers of the linear rule's rate; default: the preset's")
	warmupEpochs := flag.Float64("warmup", 1, "linear warm-up over this many epochs' worth of samples (0: none)")
	digitsTarget := flag.Float64("digits-target", 0.94, "digits: test accuracy to reach")
	mixTarget := flag.Float64("mixture-target", 0.80, "mixture: test accuracy to reach")
	seed := flag.Uint64("seed", 1, "model and shuffle seed")
	ddpRanks := flag.Int("ddp-ranks", 0, "also log B_simple from a data-parallel SGD run on this many in-process ranks (16 samples each; per-rank and all-reduced gradient norms); 0: off")
	asJSON := flag.Bool("json", false, "print one JSON object per run (and per noise point) instead of progress lines")
	markdown := flag.Bool("markdown", false, "print the summary as a Markdown table")
	out := flag.String("out", "", "folder for runs.csv, noise.csv, summary.md and the PNG figures")
	flag.Parse()

	p, ok := presets[*presetName]
	if !ok {
		fmt.Fprintln(os.Stderr, "batchsize: unknown -preset", *presetName)
		os.Exit(2)
	}
	if *tasksFlag != "" {
		p.tasks = strings.Split(*tasksFlag, ",")
	}
	if *optsFlag != "" {
		p.optimizers = strings.Split(*optsFlag, ",")
	}
	if *batchesFlag != "" {
		var bs []int
		for _, f := range strings.Split(*batchesFlag, ",") {
			b, err := strconv.Atoi(f)
			if err != nil || b < 1 {
				fmt.Fprintln(os.Stderr, "batchsize: bad -batches")
				os.Exit(2)
			}
			bs = append(bs, b)
		}
		p.batches = map[string][]int{}
		for _, t := range p.tasks {
			p.batches[t] = bs
		}
	}
	if *multsFlag != "" {
		p.mults = nil
		for _, f := range strings.Split(*multsFlag, ",") {
			m, err := strconv.ParseFloat(f, 64)
			if err != nil || m <= 0 {
				fmt.Fprintln(os.Stderr, "batchsize: bad -mults")
				os.Exit(2)
			}
			p.mults = append(p.mults, m)
		}
	}
	progress := io.Writer(os.Stdout)
	if *markdown && !*asJSON {
		progress = os.Stderr // stdout is the table
	}
	p.ddpRanks = *ddpRanks
	if err := run1(p, *warmupEpochs, *digitsTarget, *mixTarget, *seed, *asJSON, *markdown, *out, os.Stdout, progress); err != nil {
		fmt.Fprintln(os.Stderr, "batchsize:", err)
		os.Exit(1)
	}
}

func makeTask(name string, digitsTarget, mixTarget float64) (*task, error) {
	switch name {
	case "digits":
		return digitsTask(digitsTarget), nil
	case "mixture":
		return mixtureTask(8192, 2048, mixTarget), nil
	}
	return nil, fmt.Errorf("unknown task %q", name)
}

// result is everything one invocation measured.
type result struct {
	runs      []run
	summaries []summary
	noise     []noisePoint
	critical  map[string]float64 // task/optimizer -> B_crit
}

// run1 runs preset p: progress lines (or JSON objects) to progress, the
// summary to w.
func run1(p preset, warmupEpochs, digitsTarget, mixTarget float64, seed uint64, asJSON, markdown bool, out string, w, progress io.Writer) error {
	res := result{critical: map[string]float64{}}
	enc := json.NewEncoder(progress)
	total := 0
	for _, tn := range p.tasks {
		total += len(p.batches[tn]) * len(p.optimizers) * len(p.mults)
	}
	done := 0
	start := time.Now()
	for _, tn := range p.tasks {
		t, err := makeTask(tn, digitsTarget, mixTarget)
		if err != nil {
			return err
		}
		for _, opt := range p.optimizers {
			if _, ok := baseLR[opt]; !ok {
				return fmt.Errorf("unknown optimizer %q", opt)
			}
			var bs, tuned []int
			for _, b := range p.batches[tn] {
				b = min(b, t.nTrain())
				warm := int(math.Ceil(warmupEpochs * float64(t.nTrain()) / float64(b)))
				s := summary{Task: tn, Optimizer: opt, Batch: b, LinearSteps: -1, TunedSteps: -1}
				for _, mult := range p.mults {
					lr := baseLR[opt] * float64(b) / refBatch * mult
					budget := p.maxSteps
					if e, ok := p.maxEpochs[tn]; ok {
						budget = min(budget, int(math.Ceil(e*float64(t.nTrain())/float64(b))))
					}
					r := trainRun(t, opt, b, lr, warm, budget, seed)
					r.LRMult = mult
					res.runs = append(res.runs, r)
					done++
					if asJSON {
						if err := enc.Encode(r); err != nil {
							return err
						}
					} else {
						el := time.Since(start).Seconds()
						fmt.Fprintf(progress, "[%3d/%3d] %-7s %-4s B=%-5d lr=%-8.4g steps=%-5d acc=%.3f  elapsed %.0fs, ETA %.0fs\n",
							done, total, tn, opt, b, lr, r.Steps, r.FinalAcc, el, el/float64(done)*float64(total-done))
					}
					if mult == 1 {
						s.LinearSteps = r.Steps
					}
					if r.Steps > 0 && (s.TunedSteps < 0 || r.Steps < s.TunedSteps) {
						s.TunedSteps, s.TunedMult, s.TunedLR, s.TunedSeconds = r.Steps, mult, lr, r.Seconds
					}
				}
				res.summaries = append(res.summaries, s)
				bs = append(bs, b)
				tuned = append(tuned, s.TunedSteps)
			}
			if _, _, bc, ok := fitCritical(bs, tuned); ok {
				res.critical[tn+"/"+opt] = bc
			}
		}
		// The noise scale along an SGD run at batch 64.
		pts := noiseRun(t, 64, p.noiseSteps, p.noiseEvery, 16, 8, 8, seed)
		if p.ddpRanks > 1 {
			dp, err := noiseDDP(t, p.ddpRanks, 16, p.noiseSteps, p.noiseEvery, seed)
			if err != nil {
				return err
			}
			pts = append(pts, dp...)
		}
		res.noise = append(res.noise, pts...)
		for _, pt := range pts {
			if asJSON {
				if err := enc.Encode(pt); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(progress, "noise %-11s step %5d  loss %.4f  acc %.3f  B_simple %8.1f\n", pt.Task, pt.Step, pt.Loss, pt.Acc, pt.BSimple)
			}
		}
	}
	if !asJSON || markdown {
		writeSummary(w, res, markdown)
	}
	if out != "" {
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		if err := writeCSV(filepath.Join(out, "runs.csv"), res); err != nil {
			return err
		}
		if err := writeNoiseCSV(filepath.Join(out, "noise.csv"), res.noise); err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(out, "summary.md"))
		if err != nil {
			return err
		}
		writeSummary(f, res, true)
		if err := f.Close(); err != nil {
			return err
		}
		if err := plotAll(out, res, p); err != nil {
			return err
		}
	}
	return nil
}

func stepsStr(s int) string {
	if s < 0 {
		return "—"
	}
	return strconv.Itoa(s)
}

func writeSummary(w io.Writer, res result, markdown bool) {
	if markdown {
		fmt.Fprintln(w, "| task | optimizer | batch | steps (linear rule) | steps (tuned) | tuned lr | tuned / linear rate | seconds (tuned) | steps × batch |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
	} else {
		fmt.Fprintf(w, "%-8s %-5s %6s %8s %8s %9s %6s %8s %10s\n", "task", "opt", "batch", "linear", "tuned", "tuned lr", "mult", "seconds", "examples")
	}
	for _, s := range res.summaries {
		ex := "—"
		if s.TunedSteps > 0 {
			ex = strconv.Itoa(s.TunedSteps * s.Batch)
		}
		lr, mult, secs := fmt.Sprintf("%.4g", s.TunedLR), fmt.Sprint(s.TunedMult), fmt.Sprintf("%.2f", s.TunedSeconds)
		if s.TunedSteps < 0 {
			lr, mult, secs = "—", "—", "—"
		}
		if markdown {
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s |\n", s.Task, s.Optimizer, s.Batch, stepsStr(s.LinearSteps), stepsStr(s.TunedSteps), lr, mult, secs, ex)
		} else {
			fmt.Fprintf(w, "%-8s %-5s %6d %8s %8s %9s %6s %8s %10s\n", s.Task, s.Optimizer, s.Batch, stepsStr(s.LinearSteps), stepsStr(s.TunedSteps), lr, mult, secs, ex)
		}
	}
	fmt.Fprintln(w)
	for _, k := range sortedKeys(res.critical) {
		fmt.Fprintf(w, "critical batch (fit S = S_min + E_min/B of the tuned steps) %s: %.0f\n", k, res.critical[k])
		if markdown {
			fmt.Fprintln(w)
		}
	}
}

func sortedKeys(m map[string]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func writeCSV(path string, res result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	cw.Write([]string{"task", "optimizer", "batch", "lr_mult", "lr", "warmup_steps", "steps_to_target", "examples_to_target", "seconds_to_target", "final_acc", "diverged"})
	for _, r := range res.runs {
		cw.Write([]string{r.Task, r.Optimizer, strconv.Itoa(r.Batch), fmt.Sprint(r.LRMult), fmt.Sprint(r.LR), strconv.Itoa(r.Warmup),
			strconv.Itoa(r.Steps), strconv.Itoa(r.Examples), fmt.Sprintf("%.3f", r.Seconds), fmt.Sprintf("%.4f", r.FinalAcc), strconv.FormatBool(r.Diverged)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeNoiseCSV(path string, pts []noisePoint) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(f)
	cw.Write([]string{"task", "step", "train_loss", "test_acc", "b_simple", "grad_sq", "trace_sigma"})
	for _, p := range pts {
		cw.Write([]string{p.Task, strconv.Itoa(p.Step), fmt.Sprintf("%.5f", p.Loss), fmt.Sprintf("%.4f", p.Acc), fmt.Sprintf("%.2f", p.BSimple), fmt.Sprintf("%.6g", p.GradSq), fmt.Sprintf("%.6g", p.TraceS)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
