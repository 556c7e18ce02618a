package main

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/tessera-ml/tessera/automl/hpo"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var (
	blue  = color.RGBA{R: 31, G: 119, B: 180, A: 255}
	red   = color.RGBA{R: 214, G: 39, B: 40, A: 255}
	grey  = color.RGBA{R: 150, G: 150, B: 150, A: 255}
	green = color.RGBA{R: 44, G: 160, B: 44, A: 255}
)

var paramOrder = []string{"lr", "width", "depth", "batch", "weight_decay"}

func writeOutputs(dir string, trials []hpo.FrozenTrial) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, "trials.csv"), trials); err != nil {
		return err
	}
	if err := plotHistory(filepath.Join(dir, "history.png"), trials); err != nil {
		return err
	}
	if err := plotIntermediate(filepath.Join(dir, "intermediate.png"), trials); err != nil {
		return err
	}
	return plotSlices(filepath.Join(dir, "slice.png"), trials)
}

func writeCSV(path string, trials []hpo.FrozenTrial) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write(append([]string{"number", "state", "value", "epochs", "seconds"}, append(slices.Clone(paramOrder), "error")...))
	for _, t := range trials {
		val := ""
		if t.HasValue {
			val = strconv.FormatFloat(t.Value, 'g', 6, 64)
		}
		secs := ""
		if !t.Finished.IsZero() && !t.Started.IsZero() {
			secs = strconv.FormatFloat(t.Finished.Sub(t.Started).Seconds(), 'f', 2, 64)
		}
		row := []string{strconv.Itoa(t.Number), t.State.String(), val, strconv.Itoa(max(t.LastStep(), 0)), secs}
		pv := t.ParamValues()
		for _, p := range paramOrder {
			row = append(row, fmt.Sprint(pv[p]))
		}
		_ = w.Write(append(row, t.Err))
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func save(path string, w, h vg.Length, plots [][]*plot.Plot) error {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Millimeter * 3, PadY: vg.Millimeter * 3,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] != nil {
				plots[i][j].Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func scatter(xys plotter.XYs, c color.Color, shape draw.GlyphDrawer, r vg.Length) (*plotter.Scatter, error) {
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, err
	}
	s.GlyphStyle.Color, s.GlyphStyle.Shape, s.GlyphStyle.Radius = c, shape, r
	return s, nil
}

// plotHistory: each trial's held-out accuracy (pruned ones at the epoch
// they stopped) and the best complete accuracy so far.
func plotHistory(path string, trials []hpo.FrozenTrial) error {
	p := plot.New()
	p.Title.Text = "Optimisation history (TPE + ASHA)"
	p.X.Label.Text = "trial"
	p.Y.Label.Text = "held-out accuracy"
	p.Add(plotter.NewGrid())
	var comp, pruned, bestLine plotter.XYs
	best := math.Inf(-1)
	for _, t := range trials {
		if !t.HasValue {
			continue
		}
		pt := plotter.XY{X: float64(t.Number), Y: t.Value}
		switch t.State {
		case hpo.Complete:
			comp = append(comp, pt)
			best = math.Max(best, t.Value)
		case hpo.Pruned:
			pruned = append(pruned, pt)
		}
		if !math.IsInf(best, -1) {
			bestLine = append(bestLine, plotter.XY{X: float64(t.Number), Y: best})
		}
	}
	if len(comp) > 0 {
		s, err := scatter(comp, blue, draw.CircleGlyph{}, vg.Points(3))
		if err != nil {
			return err
		}
		p.Add(s)
		p.Legend.Add("complete", s)
	}
	if len(pruned) > 0 {
		s, err := scatter(pruned, grey, draw.CrossGlyph{}, vg.Points(3))
		if err != nil {
			return err
		}
		p.Add(s)
		p.Legend.Add("pruned (value where stopped)", s)
	}
	if len(bestLine) > 0 {
		l, err := plotter.NewLine(bestLine)
		if err != nil {
			return err
		}
		l.Color, l.Width = red, vg.Points(1.5)
		p.Add(l)
		p.Legend.Add("best so far", l)
	}
	p.Legend.Top, p.Legend.Left = false, false
	return save(path, 16*vg.Centimeter, 10*vg.Centimeter, [][]*plot.Plot{{p}})
}

// plotIntermediate: every trial's accuracy per epoch; pruned trials in grey
// with a cross where ASHA stopped them.
func plotIntermediate(path string, trials []hpo.FrozenTrial) error {
	p := plot.New()
	p.Title.Text = "Intermediate values: held-out accuracy per epoch"
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "held-out accuracy"
	p.Add(plotter.NewGrid())
	var stops plotter.XYs
	var lc, lp *plotter.Line
	for _, t := range trials {
		steps := make([]int, 0, len(t.Intermediate))
		for s := range t.Intermediate {
			steps = append(steps, s)
		}
		if len(steps) == 0 {
			continue
		}
		slices.Sort(steps)
		xys := make(plotter.XYs, len(steps))
		for i, s := range steps {
			xys[i] = plotter.XY{X: float64(s), Y: t.Intermediate[s]}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		if t.State == hpo.Pruned {
			l.Color, l.Width = grey, vg.Points(0.7)
			stops = append(stops, xys[len(xys)-1])
			lp = l
		} else {
			l.Color, l.Width = blue, vg.Points(1.2)
			lc = l
		}
		p.Add(l)
	}
	if lc != nil {
		p.Legend.Add("complete", lc)
	}
	if lp != nil {
		p.Legend.Add("pruned", lp)
	}
	if len(stops) > 0 {
		s, err := scatter(stops, red, draw.CrossGlyph{}, vg.Points(3))
		if err != nil {
			return err
		}
		p.Add(s)
		p.Legend.Add("pruned here", s)
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.Y.Min = 0
	p.Y.Max = 1
	return save(path, 16*vg.Centimeter, 10*vg.Centimeter, [][]*plot.Plot{{p}})
}

// plotSlices: held-out accuracy of the complete trials (blue) and the
// last value of the pruned ones (grey) against each hyperparameter.
func plotSlices(path string, trials []hpo.FrozenTrial) error {
	logScale := map[string]bool{"lr": true, "weight_decay": true, "width": true}
	var row []*plot.Plot
	for _, name := range paramOrder {
		p := plot.New()
		p.Title.Text = name
		p.X.Label.Text = name
		p.Y.Label.Text = "accuracy"
		if logScale[name] {
			p.X.Scale = plot.LogScale{}
			p.X.Tick.Marker = plot.LogTicks{Prec: 1}
		}
		var comp, pruned plotter.XYs
		for _, t := range trials {
			if !t.HasValue {
				continue
			}
			v, ok := t.Params[name]
			if !ok {
				continue
			}
			d := t.Distributions[name]
			x := v
			if d.Kind == hpo.Categorical {
				x, _ = strconv.ParseFloat(d.Choices[int(v)], 64)
			}
			if t.State == hpo.Complete {
				comp = append(comp, plotter.XY{X: x, Y: t.Value})
			} else if t.State == hpo.Pruned {
				pruned = append(pruned, plotter.XY{X: x, Y: t.Value})
			}
		}
		for _, g := range []struct {
			xys plotter.XYs
			c   color.Color
			s   draw.GlyphDrawer
		}{{pruned, grey, draw.CrossGlyph{}}, {comp, green, draw.CircleGlyph{}}} {
			if len(g.xys) == 0 {
				continue
			}
			s, err := scatter(g.xys, g.c, g.s, vg.Points(2.5))
			if err != nil {
				return err
			}
			p.Add(s)
		}
		p.Y.Min, p.Y.Max = 0, 1
		row = append(row, p)
	}
	return save(path, 30*vg.Centimeter, 7*vg.Centimeter, [][]*plot.Plot{row})
}
