package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotRows draws zero-memory.png (measured model-state MB per rank
// against the ranks, the formula dashed) and zero-comm.png (MB sent per
// rank per step, the formula dashed), one colour per stage.
func plotRows(rows []Row, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var stages []int
	for _, r := range rows {
		if !slices.Contains(stages, r.Stage) {
			stages = append(stages, r.Stage)
		}
	}
	for _, fig := range []struct {
		file, title, y string
		meas, form     func(Row) int64
	}{
		{"zero-memory.png", fmt.Sprintf("model states per rank, Ψ = %d, %s", rows[0].Params, rows[0].DType), "MB (peak, measured; formula dashed)",
			func(r Row) int64 { return r.ModelStateBytes }, func(r Row) int64 { return r.FormulaBytes }},
		{"zero-comm.png", "traffic per rank per step", "MB sent (measured; formula dashed)",
			func(r Row) int64 { return r.CommBytes }, func(r Row) int64 { return r.FormulaComm }},
	} {
		p := plot.New()
		p.Title.Text = fig.title
		p.X.Label.Text = "ranks N"
		p.Y.Label.Text = fig.y
		p.Add(plotter.NewGrid())
		p.Y.Min = 0
		for i, st := range stages {
			var meas, form plotter.XYs
			name := ""
			for _, r := range rows {
				if r.Stage == st {
					meas = append(meas, plotter.XY{X: float64(r.Ranks), Y: float64(fig.meas(r)) / 1e6})
					form = append(form, plotter.XY{X: float64(r.Ranks), Y: float64(fig.form(r)) / 1e6})
					name = r.StageName
				}
			}
			l, pts, err := plotter.NewLinePoints(meas)
			if err != nil {
				return err
			}
			l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
			pts.Shape = plotutil.Shape(i)
			l.Width = vg.Points(1.5)
			f, err := plotter.NewLine(form)
			if err != nil {
				return err
			}
			f.Color = plotutil.Color(i)
			f.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l, pts, f)
			p.Legend.Add(name, l, pts)
		}
		p.Legend.Top = true
		p.Y.Max *= 1.3 // room for the legend
		img := vgimg.New(14*vg.Centimeter, 10*vg.Centimeter)
		p.Draw(draw.New(img))
		w, err := os.Create(filepath.Join(dir, fig.file))
		if err != nil {
			return err
		}
		if _, err := (&vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
			w.Close()
			return err
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	return nil
}
