package main

import (
	"fmt"
	"image/color"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/tessera-ml/tessera/parallel/pipeline"
)

// timeline draws one rank per row, one box per action (forward blue,
// backward orange; later chunks of an interleaved schedule darker), the
// micro-batch number inside.
type timeline struct {
	sim   *pipeline.Sim
	scale float64 // time unit → milliseconds
}

func (t timeline) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	font := plt.X.Tick.Label.Font
	font.Size = vg.Points(7)
	sty := draw.TextStyle{Color: color.White, Font: font, Handler: plt.TextHandler, XAlign: draw.XCenter, YAlign: draw.YCenter}
	for r, slots := range t.sim.Slots {
		row := float64(len(t.sim.Slots) - 1 - r) // rank 0 on top
		y0, y1 := trY(row-0.4), trY(row+0.4)
		for _, s := range slots {
			x0, x1 := trX(s.Start*t.scale), trX(s.End*t.scale)
			col := color.RGBA{R: 90, G: 150, B: 230, A: 255}
			if s.Action.Kind == pipeline.Backward {
				col = color.RGBA{R: 240, G: 150, B: 60, A: 255}
			}
			if s.Action.Chunk > 0 {
				col = color.RGBA{R: uint8(int(col.R) * 3 / 5), G: uint8(int(col.G) * 3 / 5), B: uint8(int(col.B) * 3 / 5), A: 255}
			}
			box := []vg.Point{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}}
			c.FillPolygon(col, box)
			c.StrokeLines(draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}, append(box, box[0]))
			if x1-x0 > vg.Points(6) {
				c.FillText(sty, vg.Point{X: (x0 + x1) / 2, Y: (y0 + y1) / 2}, fmt.Sprint(s.Action.Micro))
			}
		}
	}
}

func (t timeline) DataRange() (xmin, xmax, ymin, ymax float64) {
	return 0, t.sim.Makespan * t.scale, -0.5, float64(len(t.sim.Slots)) - 0.5
}

// plotTimeline writes the simulated (top) and measured (bottom) timelines
// of row's schedule.
func plotTimeline(r Row, path string) error {
	sched := fmt.Sprintf("%s p=%d m=%d v=%d", r.Schedule, r.P, r.M, r.V)
	top := plot.New()
	top.Title.Text = fmt.Sprintf("%s, simulated: bubble %.3f (formula %.3f)", sched, r.BubbleSimulated, r.BubbleFormula)
	top.Add(timeline{sim: r.sim, scale: 1})
	plots := [][]*plot.Plot{{top}}
	xmax := r.sim.Makespan
	if r.timeline != nil { // a measured step below the simulation
		bottom := plot.New()
		bottom.Title.Text = fmt.Sprintf("measured (work=%s, %d ranks): bubble %.3f; peak activations %.1f", r.Work, r.P, r.BubbleMeasured, r.PeakActivations)
		bottom.Add(timeline{sim: r.timeline, scale: 1e3})
		xmax = max(xmax, r.timeline.Makespan*1e3)
		plots = append(plots, []*plot.Plot{bottom})
	} else {
		top.Title.Text += fmt.Sprintf("; peak activations %.1f", r.PeakActivations)
	}
	for _, row := range plots {
		p := row[0]
		p.X.Label.Text = "ms"
		p.Y.Label.Text = "rank"
		p.X.Min, p.X.Max = 0, xmax
		p.Y.Min, p.Y.Max = -0.5, float64(r.P)-0.5
		p.Y.Tick.Marker = rankTicks(r.P)
	}
	w, h := 22*vg.Centimeter, vg.Length(len(plots))*6*vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter * 3, PadY: vg.Millimeter * 3, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return savePNG(img, path)
}

type rankTicks int

func (n rankTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	for r := range int(n) {
		out = append(out, plot.Tick{Value: float64(int(n) - 1 - r), Label: fmt.Sprint(r)})
	}
	return out
}

func savePNG(img *vgimg.Canvas, path string) error {
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
