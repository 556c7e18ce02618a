// Command hpo benchmarks package automl/hpo: the regret of its samplers on
// standard test functions and the time its sampler and storage add to each
// trial, side by side with Optuna, and the epoch budget ASHA needs to
// match random search on the quickstart MLP.
//
//	go run ./bench/hpo [-seeds 10] [-first-seed 0] [-trials 50,100,200] [-objectives branin,hartmann6,mixed]
//	                   [-samplers tpe,random] [-storages memory,sqlite] [-sqlite-seeds 2]
//	                   [-optuna] [-asha] [-asha-seeds 3] [-json]
//
// Objectives: Branin (2-D, minimum 0.397887), Hartmann-6 (minimum
// −3.32237) and a mixed space (x ∈ [−5, 5], y log-uniform in [1e-4, 1],
// c ∈ {a, b, c}; f = (x−1)² + (log10 y + 2)² + [c ≠ b], minimum 0).
// Regret = best value after n trials − minimum, median over seeds. The
// overhead per trial is the study's wall time minus the time spent
// computing the function, divided by the trials (median over seeds): the
// suggestions — where a define-by-run sampler does its work — count as
// overhead; with SQLite it includes writing every parameter and result to
// a file in a temporary directory.
//
// -optuna runs Optuna (/usr/bin/python3, optuna_bench.py, embedded) on the
// same objectives, budgets, seeds and storages in the same run and prints
// Tessera/Optuna ratios. -json prints one line per (implementation,
// objective, sampler, storage, trials): {"impl","objective","sampler",
// "storage","trials","seeds","first_seed","regret_median","ms_per_trial",
// "regrets"} (regrets: each seed's, in seed order).
//
// -asha: ASHA (η = 3, 1 to 15 epochs, random sampling, 2 workers) against
// random search (16 configurations × 15 epochs) on the quickstart MLP over
// the digits (automl/hpo/digitsmlp): the epochs ASHA trains before some
// configuration reaches random search's best held-out accuracy, per seed.
package main

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/automl/hpo"
	"github.com/tessera-ml/tessera/automl/hpo/sqlstore"
)

//go:embed optuna_bench.py
var optunaScript []byte

type config struct {
	seeds, sqliteSeeds int
	firstSeed          int
	trials             []int
	objectives         []string
	samplers           []string
	storages           []string
	optuna, asJSON     bool
	asha               bool
	ashaSeeds          int
	python             string
	out                io.Writer // table and progress
}

// result is one (impl, objective, sampler, storage) cell over seeds.
type result struct {
	impl, objective, sampler, storage string
	seeds                             int
	curves                            [][]float64 // best so far per trial, per seed
	overheadMs                        []float64   // per trial, per seed
	min                               float64
}

func (r *result) regret(n int) float64 { return median(r.regrets(n)) }

// regrets returns each seed's regret after n trials, in seed order.
func (r *result) regrets(n int) []float64 {
	var v []float64
	for _, c := range r.curves {
		if n <= len(c) {
			v = append(v, c[n-1]-r.min)
		}
	}
	return v
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func newSampler(name string, seed uint64) (hpo.Sampler, error) {
	switch name {
	case "tpe":
		return hpo.NewTPESampler(hpo.TPEOptions{Seed: seed}), nil
	case "tpe-mv":
		return hpo.NewTPESampler(hpo.TPEOptions{Seed: seed, Multivariate: true}), nil
	case "tpe-norm":
		return hpo.NewTPESampler(hpo.TPEOptions{Seed: seed, NormalizedKernels: true}), nil
	case "random":
		return hpo.NewRandomSampler(seed), nil
	}
	return nil, fmt.Errorf("unknown sampler %q", name)
}

// runTessera runs one study and returns its best-so-far curve and the
// overhead per trial in milliseconds.
func runTessera(ctx context.Context, obj objective, sampler, storage string, seed uint64, trials int, dir string) ([]float64, float64, error) {
	sam, err := newSampler(sampler, seed)
	if err != nil {
		return nil, 0, err
	}
	var st hpo.Storage
	switch storage {
	case "memory":
		st = hpo.NewMemoryStorage()
	case "sqlite":
		path := filepath.Join(dir, fmt.Sprintf("tessera-%s-%s-%d.db", obj.name, sampler, seed))
		s, err := sqlstore.OpenSQLite(path)
		if err != nil {
			return nil, 0, err
		}
		defer os.Remove(path)
		defer s.Close()
		st = s
	default:
		return nil, 0, fmt.Errorf("unknown storage %q", storage)
	}
	study, err := hpo.NewStudy(ctx, hpo.Options{Storage: st, Sampler: sam})
	if err != nil {
		return nil, 0, err
	}
	var inObj time.Duration
	best := math.Inf(1)
	curve := make([]float64, 0, trials)
	start := time.Now()
	err = study.Optimize(ctx, func(t *hpo.Trial) (float64, error) {
		p := obj.suggest(t)
		t0 := time.Now()
		v := obj.f(p)
		inObj += time.Since(t0)
		best = math.Min(best, v)
		curve = append(curve, best)
		return v, nil
	}, trials, 1)
	wall := time.Since(start)
	if err != nil {
		return nil, 0, err
	}
	return curve, float64(wall-inObj) / float64(time.Millisecond) / float64(trials), nil
}

type optunaLine struct {
	Objective, Sampler, Storage string
	Seed                        int
	Curve                       []float64
	OverheadS                   float64 `json:"overhead_s"`
	Version                     string
}

func runOptuna(cfg *config, script, obj, sampler, storage string, seeds []int, trials int, dir string) ([]optunaLine, error) {
	ss := make([]string, len(seeds))
	for i, s := range seeds {
		ss[i] = strconv.Itoa(s)
	}
	cmd := exec.Command(cfg.python, script, "--objective", obj, "--sampler", sampler, "--storage", storage,
		"--trials", strconv.Itoa(trials), "--seeds", strings.Join(ss, ","), "--dir", dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Optuna (%s): %w", cfg.python, err)
	}
	var lines []optunaLine
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var l optunaLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("optuna output %q: %w", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("optuna: %w", err)
	}
	return lines, nil
}

func main() {
	cfg := &config{out: os.Stdout}
	var trials, objs, sams, stores string
	flag.IntVar(&cfg.seeds, "seeds", 10, "seeds per (objective, sampler) in memory")
	flag.IntVar(&cfg.sqliteSeeds, "sqlite-seeds", 2, "seeds per (objective, sampler) with SQLite storage")
	flag.IntVar(&cfg.firstSeed, "first-seed", 0, "the seeds are first-seed, first-seed+1, ... (develop on other seeds than the reported ones)")
	flag.StringVar(&trials, "trials", "50,100,200", "budgets at which regret is reported (the largest is run)")
	flag.StringVar(&objs, "objectives", "branin,hartmann6,mixed", "objectives")
	flag.StringVar(&sams, "samplers", "tpe,random", "samplers: tpe, tpe-mv (multivariate), tpe-norm (normalized kernels), random")
	flag.StringVar(&stores, "storages", "memory,sqlite", "storages: memory, sqlite")
	flag.BoolVar(&cfg.optuna, "optuna", false, "also run Optuna on the same objectives and print ratios")
	flag.StringVar(&cfg.python, "python", "/usr/bin/python3", "the Python with optuna")
	flag.BoolVar(&cfg.asha, "asha", false, "ASHA vs random search on the quickstart MLP (epochs to reach random's best)")
	flag.IntVar(&cfg.ashaSeeds, "asha-seeds", 3, "seeds of the ASHA comparison")
	flag.BoolVar(&cfg.asJSON, "json", false, "print JSON lines (table and progress go to stderr)")
	flag.Parse()
	for _, s := range strings.Split(trials, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintln(os.Stderr, "hpo bench: bad -trials", trials)
			os.Exit(2)
		}
		cfg.trials = append(cfg.trials, n)
	}
	cfg.objectives = strings.Split(objs, ",")
	cfg.samplers = strings.Split(sams, ",")
	cfg.storages = strings.Split(stores, ",")
	if cfg.asJSON {
		cfg.out = os.Stderr
	}
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "hpo bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg *config, jsonOut io.Writer) error {
	dir, err := os.MkdirTemp("", "hpo-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "optuna_bench.py")
	if err := os.WriteFile(script, optunaScript, 0o644); err != nil {
		return err
	}
	maxTrials := slices.Max(cfg.trials)
	var results []*result
	for _, on := range cfg.objectives {
		i := slices.IndexFunc(objectives, func(o objective) bool { return o.name == on })
		if i < 0 {
			return fmt.Errorf("unknown objective %q", on)
		}
		obj := objectives[i]
		for _, sam := range cfg.samplers {
			for _, stor := range cfg.storages {
				nSeeds := cfg.seeds
				if stor == "sqlite" {
					nSeeds = cfg.sqliteSeeds
				}
				seeds := make([]int, nSeeds)
				for k := range seeds {
					seeds[k] = cfg.firstSeed + k
				}
				r := &result{impl: "tessera", objective: on, sampler: sam, storage: stor, seeds: nSeeds, min: obj.min}
				t0 := time.Now()
				for _, seed := range seeds {
					curve, ms, err := runTessera(ctx, obj, sam, stor, uint64(seed), maxTrials, dir)
					if err != nil {
						return err
					}
					r.curves = append(r.curves, curve)
					r.overheadMs = append(r.overheadMs, ms)
				}
				fmt.Fprintf(cfg.out, "tessera %-9s %-6s %-6s %2d seeds in %5.1f s\n", on, sam, stor, nSeeds, time.Since(t0).Seconds())
				results = append(results, r)
				if cfg.optuna && (sam == "tpe" || sam == "random") {
					t0 := time.Now()
					lines, err := runOptuna(cfg, script, on, sam, stor, seeds, maxTrials, dir)
					if err != nil {
						return err
					}
					o := &result{impl: "optuna", objective: on, sampler: sam, storage: stor, seeds: nSeeds, min: obj.min}
					for _, l := range lines {
						o.curves = append(o.curves, l.Curve)
						o.overheadMs = append(o.overheadMs, l.OverheadS*1000/float64(maxTrials))
					}
					fmt.Fprintf(cfg.out, "optuna  %-9s %-6s %-6s %2d seeds in %5.1f s\n", on, sam, stor, nSeeds, time.Since(t0).Seconds())
					results = append(results, o)
				}
			}
		}
	}
	printTable(cfg, results)
	if cfg.asJSON {
		enc := json.NewEncoder(jsonOut)
		for _, r := range results {
			for _, n := range cfg.trials {
				if err := enc.Encode(map[string]any{
					"impl": r.impl, "objective": r.objective, "sampler": r.sampler, "storage": r.storage,
					"trials": n, "seeds": r.seeds, "first_seed": cfg.firstSeed, "regret_median": r.regret(n), "ms_per_trial": median(r.overheadMs),
					"regrets": r.regrets(n),
				}); err != nil {
					return err
				}
			}
		}
	}
	if cfg.asha {
		return runASHA(ctx, cfg, jsonOut)
	}
	return nil
}

func printTable(cfg *config, results []*result) {
	w := cfg.out
	fmt.Fprintf(w, "\n%-8s %-9s %-6s %-6s %5s", "impl", "objective", "sampler", "store", "seeds")
	for _, n := range cfg.trials {
		fmt.Fprintf(w, " %11s", fmt.Sprintf("regret@%d", n))
	}
	fmt.Fprintf(w, " %12s\n", "ms/trial")
	find := func(impl string, r *result) *result {
		for _, x := range results {
			if x.impl == impl && x.objective == r.objective && x.sampler == r.sampler && x.storage == r.storage {
				return x
			}
		}
		return nil
	}
	for _, r := range results {
		fmt.Fprintf(w, "%-8s %-9s %-6s %-6s %5d", r.impl, r.objective, r.sampler, r.storage, r.seeds)
		for _, n := range cfg.trials {
			fmt.Fprintf(w, " %11.4g", r.regret(n))
		}
		fmt.Fprintf(w, " %12.3f\n", median(r.overheadMs))
		if r.impl == "optuna" {
			t := find("tessera", r)
			fmt.Fprintf(w, "%-8s %-9s %-6s %-6s %5s", "ratio", r.objective, r.sampler, r.storage, "")
			for _, n := range cfg.trials {
				fmt.Fprintf(w, " %11.3g", t.regret(n)/r.regret(n))
			}
			fmt.Fprintf(w, " %12.3g\n", median(t.overheadMs)/median(r.overheadMs))
			fmt.Fprintf(w, "%-8s %-9s %-6s %-6s %5s", "90% CI", r.objective, r.sampler, r.storage, "")
			for _, n := range cfg.trials {
				lo, hi := ratioCI(t.regrets(n), r.regrets(n))
				fmt.Fprintf(w, " %11s", fmt.Sprintf("%.2g-%.2g", lo, hi))
			}
			fmt.Fprintln(w)
		}
	}
	if cfg.optuna {
		fmt.Fprintln(w, "ratio = Tessera / Optuna (regret: below 1 is better; ms/trial: the overhead ratio)")
		fmt.Fprintln(w, "90% CI = bootstrap interval of the ratio of median regrets (seeds resampled, 2000 rounds)")
	}
}

// ratioCI is a bootstrap 90% interval of median(a)/median(b), resampling
// the seeds of each side independently (fixed stream: reproducible).
func ratioCI(a, b []float64) (lo, hi float64) {
	if len(a) == 0 || len(b) == 0 {
		return math.NaN(), math.NaN()
	}
	r := rand.New(rand.NewPCG(1, 2))
	const rounds = 2000
	ratios := make([]float64, rounds)
	ra, rb := make([]float64, len(a)), make([]float64, len(b))
	for k := range ratios {
		for i := range ra {
			ra[i] = a[r.IntN(len(a))]
		}
		for i := range rb {
			rb[i] = b[r.IntN(len(b))]
		}
		ratios[k] = median(ra) / median(rb)
	}
	slices.Sort(ratios)
	return ratios[rounds/20], ratios[rounds-1-rounds/20]
}
