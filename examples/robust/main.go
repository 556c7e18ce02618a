// Command robust runs the Byzantine-robust aggregation grid of course
// module 4 (docs/modules/4-robust.md): rules × attacks × f × data split on
// the embedded digits, n workers on the local collectives backend, and
// writes a CSV, PNG figures and a Markdown table.
//
//	go run ./examples/robust -quick                      # n=10, f=2, IID, 5 rules × 3 attacks, 1 seed
//	go run ./examples/robust                             # the full grid (IID and Dirichlet 0.5)
//	go run ./examples/robust -quick -markdown > t.md     # the table only
//	go run ./examples/robust -quick -json                # one JSON line per run
//
// Flags choose the grid (-rules, -attacks, -f, -splits, -seeds, -n) and the
// training (-steps, -hidden, -batch, -lr, -momentum), the attacks'
// parameters (-eps for IPM, -alie-z, -sigma) and centered clipping's -tau.
// Every run prints a progress line (to stderr with -json or -markdown).
// Each run's clean_accuracy is the same rule, split and seed with f = 0.
package main

import (
	"context"
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

	"github.com/tessera-ml/tessera/robust"
	"github.com/tessera-ml/tessera/robust/attack"
	"github.com/tessera-ml/tessera/robust/trainer"
)

// Grid is the experiment: every rule under every attack for every f, split
// and seed.
type Grid struct {
	N       int
	Rules   []string
	Attacks []string
	Fs      []int
	Splits  []float64 // Dirichlet α; 0 is IID
	Seeds   []uint64
	Eps     float64 // IPM's ε
	ALIEZ   float64 // ALIE's z; NaN: the paper's formula
	Sigma   float64 // Gaussian's σ
	Tau     float64 // centered clipping's τ
	Train   trainer.Config
}

// Row is one run's outcome.
type Row struct {
	Rule          string    `json:"rule"`
	Attack        string    `json:"attack"`
	N             int       `json:"n"`
	F             int       `json:"f"`
	IID           bool      `json:"iid"`
	Alpha         float64   `json:"alpha,omitempty"`
	Seed          uint64    `json:"seed"`
	Accuracy      *float64  `json:"accuracy"`       // nil when the rule cannot run at n, f
	CleanAccuracy *float64  `json:"clean_accuracy"` // the same rule with f = 0
	ALIEZ         *float64  `json:"alie_z,omitempty"`
	Eps           *float64  `json:"eps,omitempty"`
	Diverged      bool      `json:"diverged,omitempty"`
	Error         string    `json:"error,omitempty"`
	Spread        float64   `json:"honest_spread"` // mean ‖mᵢ − m̄‖ of the honest workers
	Seconds       float64   `json:"seconds"`
	Curve         []float64 `json:"-"`
	CurveStep     []int     `json:"-"`
}

// quick is the -quick preset (issue 16): n=10, f=2, IID, five rules, three
// attacks, one seed, 300 steps.
func quick() Grid {
	g := full()
	g.Rules = []string{"mean", "median", "trimmedmean", "krum", "cclip"}
	g.Attacks = []string{"signflip", "ipm", "alie"}
	g.Fs = []int{2}
	g.Splits = []float64{0}
	return g
}

// full is the default grid.
func full() Grid {
	return Grid{
		N:       10,
		Rules:   []string{"mean", "median", "trimmedmean", "krum", "geomed", "cclip", "bucket2+median", "nnm+krum", "nnm+median"},
		Attacks: []string{"signflip", "ipm", "alie", "labelflip"},
		Fs:      []int{2},
		Splits:  []float64{0, 0.5},
		Seeds:   []uint64{1},
		Eps:     10,
		ALIEZ:   1.5,
		Sigma:   1,
		Tau:     0.3,
		Train:   trainer.Config{Hidden: 128, Steps: 300, Batch: 25, LR: 0.1, Momentum: 0.9},
	}
}

func splitName(alpha float64) string {
	if alpha == 0 {
		return "IID"
	}
	return fmt.Sprintf("Dirichlet %g", alpha)
}

// Run runs the grid, calling emit after each run, and returns the rows.
func Run(ctx context.Context, g Grid, progress io.Writer, emit func(Row)) ([]Row, error) {
	type key struct {
		rule  string
		alpha float64
		seed  uint64
	}
	clean := map[key]*float64{}
	var rows []Row
	total := len(g.Rules) * len(g.Splits) * len(g.Seeds) * (1 + len(g.Attacks)*len(g.Fs))
	done := 0
	start := time.Now()
	run := func(rule, att string, f int, alpha float64, seed uint64) (Row, error) {
		a, err := attack.ByName(att, g.Eps, g.ALIEZ, g.Sigma)
		if err != nil {
			return Row{}, err
		}
		cfg := g.Train
		cfg.N, cfg.F, cfg.Rule, cfg.Attack, cfg.Alpha, cfg.Seed = g.N, f, rule, a, alpha, seed
		cfg.RuleOpts = robust.Options{Tau: g.Tau, Seed: seed}
		row := Row{Rule: rule, Attack: att, N: g.N, F: f, IID: alpha == 0, Alpha: alpha, Seed: seed}
		if al, ok := a.(attack.ALIE); ok && f > 0 {
			z := al.ZFor(g.N, f)
			row.ALIEZ = &z
		}
		if _, ok := a.(attack.IPM); ok {
			e := g.Eps
			row.Eps = &e
		}
		res, err := trainer.Train(ctx, cfg)
		done++
		el := time.Since(start).Seconds()
		status := ""
		switch {
		case trainer.ErrPrecondition(err):
			row.Error = err.Error()
			status = "cannot run: " + err.Error()
		case err != nil:
			return row, err
		default:
			acc := res.Accuracy
			row.Accuracy, row.Diverged, row.Seconds, row.Spread = &acc, res.Diverged, res.Seconds, res.Spread
			row.Curve, row.CurveStep = res.Curve, res.CurveStep
			status = fmt.Sprintf("accuracy %.3f", acc)
		}
		if progress != nil {
			fmt.Fprintf(progress, "[%d/%d] %-15s %-13s n=%d f=%d %-13s seed %d: %s (%.1f s elapsed, ETA %.0f s)\n",
				done, total, rule, att, g.N, f, splitName(alpha), seed, status, el, el/float64(done)*float64(total-done))
		}
		return row, nil
	}
	for _, alpha := range g.Splits {
		for _, rule := range g.Rules {
			for _, seed := range g.Seeds {
				c, err := run(rule, "none", 0, alpha, seed)
				if err != nil {
					return rows, err
				}
				c.CleanAccuracy = c.Accuracy
				clean[key{rule, alpha, seed}] = c.Accuracy
				rows = append(rows, c)
				if emit != nil {
					emit(c)
				}
				for _, f := range g.Fs {
					for _, att := range g.Attacks {
						r, err := run(rule, att, f, alpha, seed)
						if err != nil {
							return rows, err
						}
						r.CleanAccuracy = clean[key{rule, alpha, seed}]
						rows = append(rows, r)
						if emit != nil {
							emit(r)
						}
					}
				}
			}
		}
	}
	return rows, nil
}

func main() {
	if err := mainErr(); err != nil {
		fmt.Fprintln(os.Stderr, "robust:", err)
		os.Exit(1)
	}
}

func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func mainErr() error {
	g := full()
	isQuick := flag.Bool("quick", false, "the quick preset: n=10, f=2, IID, mean/median/trimmedmean/krum/cclip × signflip/ipm/alie, one seed (flags given explicitly override it)")
	rules := flag.String("rules", strings.Join(g.Rules, ","), "rules (robust.ByName names, e.g. krum, nnm+krum, bucket2+median)")
	attacks := flag.String("attacks", strings.Join(g.Attacks, ","), "attacks: signflip, ipm, alie, gaussian, labelflip, adaptive-ipm, adaptive-alie, none")
	fs := flag.String("f", "2", "Byzantine worker counts")
	splits := flag.String("splits", "iid,0.5", "data splits: iid or a Dirichlet alpha")
	seeds := flag.String("seeds", "1", "seeds")
	flag.IntVar(&g.N, "n", g.N, "workers")
	flag.IntVar(&g.Train.Steps, "steps", g.Train.Steps, "server steps per run")
	flag.IntVar(&g.Train.Hidden, "hidden", g.Train.Hidden, "MLP hidden width")
	flag.IntVar(&g.Train.Batch, "batch", g.Train.Batch, "per-worker batch")
	flag.Float64Var(&g.Train.LR, "lr", g.Train.LR, "server learning rate")
	flag.Float64Var(&g.Train.Momentum, "momentum", g.Train.Momentum, "worker momentum beta (negative: none)")
	flag.Float64Var(&g.Eps, "eps", g.Eps, "IPM epsilon")
	alieZ := flag.String("alie-z", "1.5", "ALIE z, or 'formula' for the paper's z (0 at n=10, f=2)")
	flag.Float64Var(&g.Sigma, "sigma", g.Sigma, "Gaussian attack sigma")
	flag.Float64Var(&g.Tau, "tau", g.Tau, "centered clipping radius tau")
	csvPath := flag.String("csv", "", "write the rows as CSV to this file")
	pngDir := flag.String("png", "", "write the figures (heatmap and curves per split and f) to this directory")
	asJSON := flag.Bool("json", false, "print one JSON line per run (progress goes to stderr)")
	asMD := flag.Bool("markdown", false, "print the Markdown tables (progress goes to stderr)")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *isQuick {
		q := quick()
		if !set["rules"] {
			*rules = strings.Join(q.Rules, ",")
		}
		if !set["attacks"] {
			*attacks = strings.Join(q.Attacks, ",")
		}
		if !set["splits"] {
			*splits = "iid"
		}
	}
	g.Rules, g.Attacks = list(*rules), list(*attacks)
	g.Fs, g.Splits, g.Seeds = nil, nil, nil
	for _, s := range list(*fs) {
		f, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("bad -f %q", s)
		}
		g.Fs = append(g.Fs, f)
	}
	for _, s := range list(*splits) {
		if s == "iid" {
			g.Splits = append(g.Splits, 0)
			continue
		}
		a, err := strconv.ParseFloat(s, 64)
		if err != nil || !(a > 0) {
			return fmt.Errorf("bad -splits entry %q", s)
		}
		g.Splits = append(g.Splits, a)
	}
	for _, s := range list(*seeds) {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("bad -seeds entry %q", s)
		}
		g.Seeds = append(g.Seeds, v)
	}
	if *alieZ == "formula" {
		g.ALIEZ = math.NaN()
	} else {
		z, err := strconv.ParseFloat(*alieZ, 64)
		if err != nil {
			return fmt.Errorf("bad -alie-z %q", *alieZ)
		}
		g.ALIEZ = z
	}
	progress := io.Writer(os.Stdout)
	if *asJSON || *asMD {
		progress = os.Stderr
	}
	var emit func(Row)
	if *asJSON {
		emit = func(r Row) {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
		}
	}
	rows, err := Run(context.Background(), g, progress, emit)
	if err != nil {
		return err
	}
	if *csvPath != "" {
		if err := writeCSV(*csvPath, rows); err != nil {
			return err
		}
	}
	if *pngDir != "" {
		if err := os.MkdirAll(*pngDir, 0o755); err != nil {
			return err
		}
		if err := writeFigures(*pngDir, g, rows); err != nil {
			return err
		}
	}
	if *asMD {
		fmt.Print(Markdown(g, rows))
	} else if !*asJSON {
		fmt.Fprint(progress, Markdown(g, rows))
	}
	return nil
}

func writeCSV(path string, rows []Row) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"rule", "attack", "n", "f", "split", "seed", "accuracy", "clean_accuracy", "alie_z", "eps", "diverged", "error", "honest_spread", "seconds"})
	opt := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'f', 4, 64)
	}
	for _, r := range rows {
		_ = w.Write([]string{r.Rule, r.Attack, strconv.Itoa(r.N), strconv.Itoa(r.F), splitName(r.Alpha), strconv.FormatUint(r.Seed, 10),
			opt(r.Accuracy), opt(r.CleanAccuracy), opt(r.ALIEZ), opt(r.Eps), strconv.FormatBool(r.Diverged), r.Error, strconv.FormatFloat(r.Spread, 'f', 4, 64), strconv.FormatFloat(r.Seconds, 'f', 2, 64)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cell returns the mean accuracy over seeds of (rule, attack, f, alpha),
// or NaN when the rule could not run.
func cell(rows []Row, rule, att string, f int, alpha float64) float64 {
	s, k := 0.0, 0
	for _, r := range rows {
		if r.Rule == rule && r.Attack == att && r.F == f && r.Alpha == alpha && r.Accuracy != nil {
			s += *r.Accuracy
			k++
		}
	}
	if k == 0 {
		return math.NaN()
	}
	return s / float64(k)
}

// Markdown renders one table per split and f: a row per rule, the clean
// accuracy (f = 0) and the accuracy under each attack.
func Markdown(g Grid, rows []Row) string {
	var b strings.Builder
	for _, alpha := range g.Splits {
		for _, f := range g.Fs {
			fmt.Fprintf(&b, "\n**%s, n = %d, f = %d** (test accuracy on the 360 held-out digits after %d steps; %d seed(s); “—”: the rule cannot run at this n, f)\n\n",
				splitName(alpha), g.N, f, g.Train.Steps, len(g.Seeds))
			b.WriteString("| rule | clean (f = 0) |")
			for _, a := range g.Attacks {
				b.WriteString(" " + attackLabel(g, a, f) + " |")
			}
			b.WriteString("\n|---|---|")
			for range g.Attacks {
				b.WriteString("---|")
			}
			b.WriteString("\n")
			for _, rule := range g.Rules {
				fmt.Fprintf(&b, "| %s | %s |", rule, fmtAcc(cell(rows, rule, "none", 0, alpha)))
				for _, a := range g.Attacks {
					b.WriteString(" " + fmtAcc(cell(rows, rule, a, f, alpha)) + " |")
				}
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

func attackLabel(g Grid, a string, f int) string {
	switch a {
	case "ipm":
		return fmt.Sprintf("ipm (ε = %g)", g.Eps)
	case "alie":
		z := g.ALIEZ
		if math.IsNaN(z) {
			z = attack.ALIEZ(g.N, f)
			return fmt.Sprintf("alie (z = %.3g, formula)", z)
		}
		return fmt.Sprintf("alie (z = %g)", z)
	case "gaussian":
		return fmt.Sprintf("gaussian (σ = %g)", g.Sigma)
	}
	return a
}

func fmtAcc(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.3f", v)
}

// figName is the file name stem of a figure for a split and f.
func figName(kind string, alpha float64, f int) string {
	s := "iid"
	if alpha != 0 {
		s = "dir" + strings.ReplaceAll(strconv.FormatFloat(alpha, 'g', -1, 64), ".", "p")
	}
	return filepath.Clean(fmt.Sprintf("%s-%s-f%d.png", kind, s, f))
}

func nan() float64 { return math.NaN() }
