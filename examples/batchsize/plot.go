package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var colors = map[string]color.Color{
	"sgd":  color.RGBA{R: 31, G: 119, B: 180, A: 255},
	"lars": color.RGBA{R: 214, G: 39, B: 40, A: 255},
	"lamb": color.RGBA{R: 44, G: 160, B: 44, A: 255},
}

var gray = color.RGBA{R: 120, G: 120, B: 120, A: 255}

func save(p *plot.Plot, path string) error {
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

func logPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	return p
}

// plotAll draws, per task, steps to target against batch size (tuned rate,
// each optimizer, with perfect scaling from the smallest batch and the
// fitted S_min + E_min/B of SGD) and the tuned learning rate against batch
// size (with the linear rule), and the noise scale against the training
// loss for every task.
func plotAll(dir string, res result, p preset) error {
	for _, tn := range p.tasks {
		sp := logPlot(fmt.Sprintf("%s: steps to target accuracy (tuned rate)", tn), "batch size", "steps")
		tp := logPlot(fmt.Sprintf("%s: training seconds to target (tuned rate, this machine)", tn), "batch size", "seconds")
		lp := logPlot(fmt.Sprintf("%s: tuned learning rate / the linear rule's base", tn), "batch size", "tuned lr / base lr at B=32")
		any := false
		for _, opt := range p.optimizers {
			var st, lr, secs plotter.XYs
			var bs, steps []int
			for _, s := range res.summaries {
				if s.Task != tn || s.Optimizer != opt {
					continue
				}
				bs, steps = append(bs, s.Batch), append(steps, s.TunedSteps)
				if s.TunedSteps > 0 {
					st = append(st, plotter.XY{X: float64(s.Batch), Y: float64(s.TunedSteps)})
					lr = append(lr, plotter.XY{X: float64(s.Batch), Y: s.TunedLR / baseLR[opt]})
					secs = append(secs, plotter.XY{X: float64(s.Batch), Y: math.Max(s.TunedSeconds, 1e-3)})
				}
			}
			if len(st) == 0 {
				continue
			}
			any = true
			for _, pl := range []struct {
				p   *plot.Plot
				xys plotter.XYs
			}{{sp, st}, {lp, lr}, {tp, secs}} {
				l, pts, err := plotter.NewLinePoints(pl.xys)
				if err != nil {
					return err
				}
				l.Color, pts.Color = colors[opt], colors[opt]
				pl.p.Add(l, pts)
				pl.p.Legend.Add(opt, l, pts)
			}
			if opt == p.optimizers[0] {
				// Perfect scaling from the smallest batch: S ∝ 1/B.
				perfect := plotter.XYs{}
				for _, b := range bs {
					perfect = append(perfect, plotter.XY{X: float64(b), Y: st[0].Y * st[0].X / float64(b)})
				}
				l, err := plotter.NewLine(perfect)
				if err != nil {
					return err
				}
				l.Color, l.Dashes = gray, []vg.Length{vg.Points(4), vg.Points(3)}
				sp.Add(l)
				sp.Legend.Add("perfect scaling (S ~ 1/B)", l)
				if sMin, eMin, bc, ok := fitCritical(bs, steps); ok {
					fit := plotter.XYs{}
					for b := float64(bs[0]); b <= float64(bs[len(bs)-1])*1.01; b *= 1.25 {
						fit = append(fit, plotter.XY{X: b, Y: sMin + eMin/b})
					}
					l, err := plotter.NewLine(fit)
					if err != nil {
						return err
					}
					l.Color, l.Dashes = colors[opt], []vg.Length{vg.Points(2), vg.Points(2)}
					sp.Add(l)
					sp.Legend.Add(fmt.Sprintf("%s fit S_min+E_min/B, B_crit=%.0f", opt, bc), l)
				}
				lin := plotter.XYs{{X: float64(bs[0]), Y: float64(bs[0]) / refBatch}, {X: float64(bs[len(bs)-1]), Y: float64(bs[len(bs)-1]) / refBatch}}
				l, err = plotter.NewLine(lin)
				if err != nil {
					return err
				}
				l.Color, l.Dashes = gray, []vg.Length{vg.Points(4), vg.Points(3)}
				lp.Add(l)
				lp.Legend.Add("linear rule B/32", l)
			}
		}
		if !any {
			continue
		}
		lp.Legend.Left = true
		if err := save(sp, filepath.Join(dir, tn+"_steps.png")); err != nil {
			return err
		}
		if err := save(lp, filepath.Join(dir, tn+"_lr.png")); err != nil {
			return err
		}
		if err := save(tp, filepath.Join(dir, tn+"_time.png")); err != nil {
			return err
		}
	}
	// The noise scale against the training loss.
	np := plot.New()
	np.Title.Text = "Simple noise scale B_simple during SGD (batch 64; /ddp: 4 ranks x 16)"
	np.X.Label.Text = "training loss (training moves right to left)"
	np.Y.Label.Text = "B_simple"
	np.Y.Scale, np.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	np.X.Scale, np.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	np.Add(plotter.NewGrid())
	i := 0
	var series []string
	for _, pt := range res.noise {
		if !slices.Contains(series, pt.Task) {
			series = append(series, pt.Task)
		}
	}
	for _, tn := range series {
		var xys plotter.XYs
		for _, pt := range res.noise {
			if pt.Task == tn && pt.Step > 0 && pt.BSimple > 0 && !math.IsInf(pt.BSimple, 0) {
				xys = append(xys, plotter.XY{X: pt.Loss, Y: pt.BSimple})
			}
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		c := []color.Color{colors["sgd"], colors["lars"], colors["lamb"], gray}[i%4]
		l.Color, pts.Color = c, c
		np.Add(l, pts)
		np.Legend.Add(tn, l, pts)
		if bc, ok := res.critical[tn+"/sgd"]; ok {
			h, err := plotter.NewLine(plotter.XYs{{X: xys[len(xys)-1].X, Y: bc}, {X: xys[0].X, Y: bc}})
			if err != nil {
				return err
			}
			h.Color, h.Dashes = c, []vg.Length{vg.Points(4), vg.Points(3)}
			np.Add(h)
			np.Legend.Add(fmt.Sprintf("%s: measured B_crit (SGD) %.0f", tn, bc), h)
		}
		i++
	}
	np.Legend.Top, np.Legend.Left = true, true
	return save(np, filepath.Join(dir, "noise_scale.png"))
}
