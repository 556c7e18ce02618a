package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// plotRows draws tensorparallel.png: the step time at each tensor-parallel
// degree (sequence parallelism off and on) and, per layer, the bytes one
// rank sends (ring algorithms) measured beside Megatron's count.
func plotRows(rows []Row, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	left, right := plot.New(), plot.New()
	left.Title.Text = "GPT-mini training step (ms)"
	right.Title.Text = "bytes sent per rank per layer (KiB)"
	var names []string
	var off, on, meas, mega plotter.Values
	for _, r := range rows {
		if r.SequenceParallel {
			continue
		}
		names = append(names, fmt.Sprintf("TP %d", r.TP))
		off = append(off, r.MsPerStep)
		sp := 0.0
		for _, q := range rows {
			if q.SequenceParallel && q.TP == r.TP {
				sp = q.MsPerStep
			}
		}
		on = append(on, sp)
		meas = append(meas, float64(r.LayerRingBytes)/1024)
		mega = append(mega, float64(r.MegatronRingBytes)/1024)
	}
	w := vg.Points(14)
	for _, pair := range []struct {
		p      *plot.Plot
		a, b   plotter.Values
		la, lb string
	}{{left, off, on, "tensor parallel", "+ sequence parallel"}, {right, meas, mega, "measured", "Megatron: 2+2 all-reduces of B·T·E"}} {
		ba, err := plotter.NewBarChart(pair.a, w)
		if err != nil {
			return err
		}
		bb, err := plotter.NewBarChart(pair.b, w)
		if err != nil {
			return err
		}
		ba.Color, bb.Color = plotutil.Color(0), plotutil.Color(1)
		ba.Offset, bb.Offset = -w/2, w/2
		pair.p.Add(ba, bb)
		pair.p.Legend.Add(pair.la, ba)
		pair.p.Legend.Add(pair.lb, bb)
		pair.p.Legend.Top, pair.p.Legend.Left = true, true
		pair.p.Legend.XOffs = vg.Millimeter * 12
		pair.p.NominalX(names...)
	}
	return savePNG(filepath.Join(dir, "tensorparallel.png"), 24*vg.Centimeter, 9*vg.Centimeter, [][]*plot.Plot{{left, right}})
}

func savePNG(path string, w, h vg.Length, plots [][]*plot.Plot) error {
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 2,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		for j := range plots[i] {
			plots[i][j].Draw(canvases[i][j])
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
