package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// gptRun is the part of examples/gpt's -json line that the curves need.
type gptRun struct {
	Grid   string    `json:"grid"`
	Losses []float64 `json:"losses"`
}

// readRuns reads the last JSON line of each examples/gpt -json output.
func readRuns(paths []string) ([]gptRun, error) {
	var runs []gptRun
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var r gptRun
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if len(r.Losses) == 0 {
			return nil, fmt.Errorf("%s: no losses", p)
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// plotCurves draws gpt-loss.png: each run's training loss per step, and
// its distance from the first run's (the single process).
func plotCurves(runs []gptRun, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	left, right := plot.New(), plot.New()
	left.Title.Text = "examples/gpt: training loss per step"
	right.Title.Text = "|loss − single process's|"
	left.X.Label.Text, right.X.Label.Text = "step", "step"
	right.Y.Scale = plot.LogScale{}
	right.Y.Tick.Marker = plot.LogTicks{Prec: 1}
	for i, r := range runs {
		pts := make(plotter.XYs, len(r.Losses))
		for s, l := range r.Losses {
			pts[s] = plotter.XY{X: float64(s + 1), Y: l}
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(i)
		left.Add(l)
		left.Legend.Add("grid "+r.Grid, l)
		if i == 0 {
			continue
		}
		var d plotter.XYs
		for s := range min(len(r.Losses), len(runs[0].Losses)) {
			d = append(d, plotter.XY{X: float64(s + 1), Y: math.Max(math.Abs(r.Losses[s]-runs[0].Losses[s]), 1e-9)})
		}
		dl, err := plotter.NewLine(d)
		if err != nil {
			return err
		}
		dl.Color = plotutil.Color(i)
		right.Add(dl)
		right.Legend.Add("grid "+r.Grid, dl)
	}
	left.Legend.Top = true
	return savePNG(filepath.Join(dir, "gpt-loss.png"), 24*vg.Centimeter, 9*vg.Centimeter, [][]*plot.Plot{{left, right}})
}
