package main

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var palette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 214, G: 39, B: 40, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255},
	color.RGBA{R: 140, G: 86, B: 75, A: 255},
	color.RGBA{R: 127, G: 127, B: 127, A: 255},
}

// writePlot draws the training loss per epoch of every mode (left) and,
// when an fp32 run is among them, each other mode's loss relative to it
// (right), into a PNG at path.
func writePlot(path string, results []Result) error {
	left := plot.New()
	left.Title.Text = "training loss"
	left.X.Label.Text = "epoch"
	left.Y.Label.Text = "mean cross-entropy"
	left.Y.Scale = plot.LogScale{}
	left.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	left.Add(plotter.NewGrid())
	right := plot.New()
	right.Title.Text = "relative to fp32"
	right.X.Label.Text = "epoch"
	right.Y.Label.Text = "loss / fp32 loss - 1"
	right.Add(plotter.NewGrid())
	var ref []float64
	for _, r := range results {
		if r.Mode == "fp32" {
			ref = r.EpochLoss
		}
	}
	for i, r := range results {
		c := palette[i%len(palette)]
		xys := make(plotter.XYs, len(r.EpochLoss))
		rel := make(plotter.XYs, 0, len(r.EpochLoss))
		for e, l := range r.EpochLoss {
			xys[e] = plotter.XY{X: float64(e + 1), Y: l}
			if ref != nil && e < len(ref) && r.Mode != "fp32" {
				rel = append(rel, plotter.XY{X: float64(e + 1), Y: l/ref[e] - 1})
			}
		}
		line, err := plotter.NewLine(xys)
		if err != nil {
			return err
		}
		line.Color, line.Width = c, vg.Points(1.2)
		if i > 0 {
			line.Dashes = []vg.Length{vg.Points(2 + float64(i)), vg.Points(2)}
		}
		left.Add(line)
		left.Legend.Add(r.Mode, line)
		if len(rel) > 0 {
			rl, err := plotter.NewLine(rel)
			if err != nil {
				return err
			}
			rl.Color, rl.Width = c, vg.Points(1.2)
			right.Add(rl)
			right.Legend.Add(r.Mode, rl)
		}
	}
	left.Legend.Top = true
	right.Legend.Top = true
	img := vgimg.New(24*vg.Centimeter, 10*vg.Centimeter)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	cs := plot.Align([][]*plot.Plot{{left, right}}, tiles, dc)
	left.Draw(cs[0][0])
	right.Draw(cs[0][1])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("amp: writing %s: %w", path, err)
	}
	return f.Close()
}
