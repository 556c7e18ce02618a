package main

import (
	"fmt"
	"image/color"
	"os"

	"github.com/tessera-ml/tessera/automl/meta"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var colors = map[string]color.Color{
	"maml":       color.RGBA{R: 214, G: 39, B: 40, A: 255},
	"fomaml":     color.RGBA{R: 255, G: 127, B: 14, A: 255},
	"reptile":    color.RGBA{R: 44, G: 160, B: 44, A: 255},
	"pretrained": color.RGBA{R: 31, G: 119, B: 180, A: 255},
}

func savePNG(path string, w, h vg.Length, plots [][]*plot.Plot) error {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Millimeter * 2, PadY: vg.Millimeter * 2,
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

// plotCurves draws meta-test MSE against adaptation steps per method.
func plotCurves(path string, res *result, cfg config) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Sine regression, K=%d: meta-test MSE after SGD steps (α=%g)", cfg.K, cfg.Alpha)
	p.X.Label.Text = "adaptation steps"
	p.Y.Label.Text = "MSE (mean over tasks)"
	p.Add(plotter.NewGrid())
	for _, m := range methods {
		var xys plotter.XYs
		for _, pt := range res.Points {
			if pt.Method == m {
				xys = append(xys, plotter.XY{X: float64(pt.Steps), Y: pt.MSE})
			}
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color, points.Color = colors[m], colors[m]
		line.Width = vg.Points(1.5)
		p.Add(line, points)
		p.Legend.Add(m, line, points)
	}
	p.Legend.Top = true
	p.Y.Min = 0
	return savePNG(path, 16*vg.Centimeter, 11*vg.Centimeter, [][]*plot.Plot{{p}})
}

// plotFits draws, for a few meta-test tasks, the true sine, the K support
// points and MAML's and the pretrained model's fits after 0, 1 and
// EvalSteps steps (the MAML paper's Fig. 2).
func plotFits(path string, res *result, cfg config) error {
	var row1, row2 []*plot.Plot
	for ti, t := range res.FitTask {
		for ri, m := range []string{"maml", "pretrained"} {
			p := plot.New()
			p.Title.Text = fmt.Sprintf("%s, task %d (A=%.2f, φ=%.2f)", m, ti+1, t.Info["amplitude"], t.Info["phase"])
			p.X.Min, p.X.Max = -5, 5
			p.Y.Min, p.Y.Max = -5.5, 5.5
			truth := plotter.XYs{}
			ys := meta.SineCurve(t.Info["amplitude"], t.Info["phase"], res.FitX)
			for i, x := range res.FitX {
				truth = append(truth, plotter.XY{X: x, Y: ys[i]})
			}
			l, err := plotter.NewLine(truth)
			if err != nil {
				return err
			}
			l.Color = color.Black
			l.Width = vg.Points(1.5)
			p.Add(l)
			p.Legend.Add("truth", l)
			shades := []color.Color{color.RGBA{R: 180, G: 180, B: 180, A: 255}, color.RGBA{R: 120, G: 170, B: 240, A: 255}, colors[m]}
			for j, label := range []string{"0 steps", "1 step", fmt.Sprintf("%d steps", cfg.EvalSteps)} {
				f := res.Fits[m][ti][j]
				xys := plotter.XYs{}
				for i, x := range res.FitX {
					xys = append(xys, plotter.XY{X: x, Y: f[i]})
				}
				fl, err := plotter.NewLine(xys)
				if err != nil {
					return err
				}
				fl.Color = shades[j]
				fl.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
				fl.Width = vg.Points(1.2)
				p.Add(fl)
				p.Legend.Add(label, fl)
			}
			xs, yv := t.XS.Float64s(), t.YS.Float64s()
			pts := plotter.XYs{}
			for i := range xs {
				pts = append(pts, plotter.XY{X: xs[i], Y: yv[i]})
			}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.Color = color.RGBA{R: 148, G: 103, B: 189, A: 255}
			sc.Shape = draw.TriangleGlyph{}
			p.Add(sc)
			p.Legend.Add(fmt.Sprintf("%d support points", len(xs)), sc)
			p.Legend.Top = true
			p.Legend.TextStyle.Font.Size = vg.Points(7)
			if ri == 0 {
				row1 = append(row1, p)
			} else {
				row2 = append(row2, p)
			}
		}
	}
	return savePNG(path, vg.Length(len(row1))*9*vg.Centimeter, 16*vg.Centimeter, [][]*plot.Plot{row1, row2})
}
