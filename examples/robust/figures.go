package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// grid is a rules × columns matrix of accuracies for plotter.HeatMap.
type grid struct{ z [][]float64 } // z[row][col]

func (g grid) Dims() (c, r int)   { return len(g.z[0]), len(g.z) }
func (g grid) Z(c, r int) float64 { return g.z[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }
func ticks(names []string) plot.ConstantTicks {
	t := make(plot.ConstantTicks, len(names))
	for i, n := range names {
		t[i] = plot.Tick{Value: float64(i), Label: n}
	}
	return t
}

// writeFigures writes, for each split and f, a heatmap of test accuracy
// (rules × clean and attacks) and the accuracy curves (a panel per rule, a
// line per attack).
func writeFigures(dir string, g Grid, rows []Row) error {
	for _, alpha := range g.Splits {
		for _, f := range g.Fs {
			if err := heatmap(filepath.Join(dir, figName("heatmap", alpha, f)), g, rows, alpha, f); err != nil {
				return err
			}
			if err := curves(filepath.Join(dir, figName("curves", alpha, f)), g, rows, alpha, f); err != nil {
				return err
			}
		}
	}
	return nil
}

func heatmap(path string, g Grid, rows []Row, alpha float64, f int) error {
	cols := append([]string{"none"}, g.Attacks...)
	labels := []string{"clean (f=0)"}
	for _, a := range g.Attacks {
		labels = append(labels, attackLabel(g, a, f))
	}
	// rows of the image bottom-up: reverse the rule order so the first rule is on top
	z := make([][]float64, len(g.Rules))
	var xys plotter.XYs
	var texts []string
	ruleNames := make([]string, len(g.Rules))
	for i, rule := range g.Rules {
		r := len(g.Rules) - 1 - i
		ruleNames[r] = rule
		z[r] = make([]float64, len(cols))
		for c, a := range cols {
			ff := f
			if a == "none" {
				ff = 0
			}
			z[r][c] = cell(rows, rule, a, ff, alpha)
			xys = append(xys, plotter.XY{X: float64(c) - 0.2, Y: float64(r) - 0.1})
			texts = append(texts, fmtAcc(z[r][c]))
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Test accuracy, %s, n = %d, f = %d", splitName(alpha), g.N, f)
	pal := moreland.SmoothBlueRed()
	pal.SetMin(0)
	pal.SetMax(1)
	hm := plotter.NewHeatMap(grid{z}, pal.Palette(64))
	hm.Min, hm.Max = 0, 1
	hm.NaN = color.Gray{Y: 200}
	p.Add(hm)
	lb, err := plotter.NewLabels(plotter.XYLabels{XYs: xys, Labels: texts})
	if err != nil {
		return err
	}
	p.Add(lb)
	p.X.Tick.Marker = ticks(labels)
	p.Y.Tick.Marker = ticks(ruleNames)
	p.X.Min, p.X.Max = -0.5, float64(len(cols))-0.5
	p.Y.Min, p.Y.Max = -0.5, float64(len(g.Rules))-0.5
	w := vg.Length(1.6*float64(len(cols))+2) * vg.Inch
	h := vg.Length(0.45*float64(len(g.Rules))+1.2) * vg.Inch
	return p.Save(w, h, path)
}

func curves(path string, g Grid, rows []Row, alpha float64, f int) error {
	const perRow = 3
	nr := (len(g.Rules) + perRow - 1) / perRow
	plots := make([][]*plot.Plot, nr)
	for i := range plots {
		plots[i] = make([]*plot.Plot, perRow)
	}
	cols := append([]string{"none"}, g.Attacks...)
	for i, rule := range g.Rules {
		p := plot.New()
		p.Title.Text = rule
		p.X.Label.Text = "step"
		p.Y.Label.Text = "test accuracy"
		p.Y.Min, p.Y.Max = 0, 1
		p.Legend.Top = false
		p.Legend.Left = false
		for k, a := range cols {
			ff := f
			if a == "none" {
				ff = 0
			}
			for _, r := range rows {
				if r.Rule != rule || r.Attack != a || r.F != ff || r.Alpha != alpha || r.Accuracy == nil || r.Seed != g.Seeds[0] {
					continue
				}
				xys := make(plotter.XYs, len(r.Curve))
				for j, v := range r.Curve {
					xys[j] = plotter.XY{X: float64(r.CurveStep[j]), Y: v}
				}
				l, err := plotter.NewLine(xys)
				if err != nil {
					return err
				}
				l.Color = plotutil.Color(k)
				l.Width = vg.Points(1.5)
				p.Add(l)
				name := a
				if a == "none" {
					name = "clean"
				}
				p.Legend.Add(name, l)
			}
		}
		plots[i/perRow][i%perRow] = p
	}
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] == nil {
				plots[i][j] = plot.New()
				plots[i][j].HideAxes()
			}
		}
	}
	w, h := vg.Length(perRow*3.2)*vg.Inch, vg.Length(float64(nr)*2.6)*vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	t := draw.Tiles{Rows: nr, Cols: perRow, PadX: vg.Millimeter * 2, PadY: vg.Millimeter * 2, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, t, dc)
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
		}
	}
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(out); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
