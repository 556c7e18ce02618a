package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tessera-ml/tessera/scaling"
)

var palette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 214, G: 39, B: 40, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255},
	color.RGBA{R: 140, G: 86, B: 75, A: 255},
}

func readRows(paths []string) ([]Row, error) {
	var rows []Row
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "{") {
				continue
			}
			var r Row
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			rows = append(rows, r)
		}
	}
	return rows, nil
}

func savePlot(p *plot.Plot, path string) error {
	c := vgimg.New(16*vg.Centimeter, 11*vg.Centimeter)
	p.Draw(draw.New(c))
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func line(p *plot.Plot, xys plotter.XYs, c color.Color, dashed bool, label string, points bool) error {
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	if dashed {
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	}
	p.Add(l)
	if points {
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.Color = c
		p.Add(s)
		p.Legend.Add(label, l, s)
		return nil
	}
	if label != "" {
		p.Legend.Add(label, l)
	}
	return nil
}

// plotAll draws predicted against measured step time (each configuration's
// medians over the repetitions), and weak
// and strong scaling: the measured points of this machine beside the model's
// predictions for them and for one rank per machine over the preset links.
func plotAll(paths []string, calibPath, dir string) error {
	rows, err := readRows(paths)
	if err != nil {
		return err
	}
	rows = summarizeRows(rows) // medians over repetitions
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// Predicted vs measured.
	p := plot.New()
	p.Title.Text = "Cost model: predicted against measured step time"
	p.X.Label.Text = "measured ms/step"
	p.Y.Label.Text = "predicted ms/step"
	p.Add(plotter.NewGrid())
	hi := 0.0
	byBackend := map[string]plotter.XYs{}
	var order []string
	for _, r := range rows {
		if _, ok := byBackend[r.Backend]; !ok {
			order = append(order, r.Backend)
		}
		byBackend[r.Backend] = append(byBackend[r.Backend], plotter.XY{X: r.MeasuredMs, Y: r.PredictedMs})
		hi = max(hi, r.MeasuredMs, r.PredictedMs)
	}
	for i, b := range order {
		s, err := plotter.NewScatter(byBackend[b])
		if err != nil {
			return err
		}
		s.Color = palette[i%len(palette)]
		p.Add(s)
		p.Legend.Add(b, s)
	}
	gray := color.RGBA{R: 120, G: 120, B: 120, A: 255}
	if err := line(p, plotter.XYs{{X: 0, Y: 0}, {X: hi, Y: hi}}, gray, false, "predicted = measured", false); err != nil {
		return err
	}
	if err := line(p, plotter.XYs{{X: 0, Y: 0}, {X: hi, Y: 1.2 * hi}}, gray, true, "±20 %", false); err != nil {
		return err
	}
	if err := line(p, plotter.XYs{{X: 0, Y: 0}, {X: hi, Y: 0.8 * hi}}, gray, true, "", false); err != nil {
		return err
	}
	p.Legend.Top, p.Legend.Left = true, true
	if err := savePlot(p, filepath.Join(dir, "predicted_vs_measured.png")); err != nil {
		return err
	}
	if calibPath == "" {
		return nil
	}
	b, err := os.ReadFile(calibPath)
	if err != nil {
		return err
	}
	var cal Calib
	if err := json.Unmarshal(b, &cal); err != nil {
		return fmt.Errorf("%s: %w", calibPath, err)
	}
	one, ok := cal.Compute[1]
	if !ok {
		return fmt.Errorf("%s: no one-rank compute", calibPath)
	}
	for _, kind := range []string{"weak", "strong"} {
		p := plot.New()
		if kind == "weak" {
			p.Title.Text = fmt.Sprintf("Weak scaling (batch %d per rank): speed-up in samples/s", cal.Batch)
		} else {
			p.Title.Text = fmt.Sprintf("Strong scaling (global batch %d): speed-up in steps/s", cal.Global)
		}
		p.X.Label.Text = "ranks"
		p.Y.Label.Text = "speed-up over one rank"
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
		p.Add(plotter.NewGrid())
		// Presets: one rank per machine, the one-rank compute, DDP's
		// default buckets (2: 1 MiB first cap on this MLP) with overlap.
		for i, l := range scaling.Links {
			m := scaling.CostModel{Compute: one, Link: l, Algorithm: scaling.Ring, GradBytes: cal.GradB, Overlap: true,
				BucketBytes: []float64{cal.GradB * 0.56, cal.GradB * 0.44}}
			var xys plotter.XYs
			for n := 1; n <= 64; n *= 2 {
				var s float64
				if kind == "weak" {
					s, _ = m.SpeedUpWeak(n, cal.Batch)
				} else {
					s, _ = m.SpeedUpStrong(n, cal.Global)
				}
				xys = append(xys, plotter.XY{X: float64(n), Y: s})
			}
			if err := line(p, xys, palette[(i+1)%len(palette)], true, "model, "+l.Name, false); err != nil {
				return err
			}
		}
		// This machine: measured and predicted for the configuration.
		cfg := "allreduce/25MiB"
		if kind == "strong" {
			cfg = "allreduce/25MiB/strong"
		}
		for _, backend := range []string{"local", "mpi"} {
			var meas, pred plotter.XYs
			var m1, p1 float64
			for _, r := range rows {
				if r.Config == cfg && r.Ranks == 1 {
					m1, p1 = r.MeasuredMs, r.PredictedMs
				}
			}
			for _, r := range rows {
				if r.Config != cfg || (r.Backend != backend && r.Ranks != 1) || m1 == 0 {
					continue
				}
				f := 1.0
				if kind == "weak" {
					f = float64(r.Ranks)
				}
				meas = append(meas, plotter.XY{X: float64(r.Ranks), Y: f * m1 / r.MeasuredMs})
				pred = append(pred, plotter.XY{X: float64(r.Ranks), Y: f * p1 / r.PredictedMs})
			}
			if len(meas) < 2 {
				continue
			}
			c := palette[0]
			if backend == "mpi" {
				c = palette[5]
			}
			if err := line(p, meas, c, false, "measured here, "+backend, true); err != nil {
				return err
			}
			if err := line(p, pred, c, true, "model of this machine, "+backend, false); err != nil {
				return err
			}
		}
		p.Legend.Top, p.Legend.Left = true, true
		if err := savePlot(p, filepath.Join(dir, kind+"_scaling.png")); err != nil {
			return err
		}
	}
	return nil
}
