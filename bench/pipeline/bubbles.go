package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// readRows reads JSON rows (one object per line) from path.
func readRows(path string) ([]Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rows []Row
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r Row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

var schedColors = map[string]color.RGBA{
	"gpipe":       {R: 40, G: 100, B: 200, A: 255},
	"1f1b":        {R: 220, G: 110, B: 30, A: 255},
	"interleaved": {R: 40, G: 160, B: 80, A: 255},
}

// plotBubbles writes bubble.png: for each p, the measured bubble of each
// schedule against m (points) and the formulas (lines), and beside it the
// peak activations per rank.
func plotBubbles(rows []Row, dir string) (string, error) {
	var ps []int
	for _, r := range rows {
		if !slices.Contains(ps, r.P) {
			ps = append(ps, r.P)
		}
	}
	slices.Sort(ps)
	grid := make([][]*plot.Plot, len(ps))
	for i, p := range ps {
		left, right := plot.New(), plot.New()
		left.Title.Text = fmt.Sprintf("p = %d: bubble (points measured, lines formula)", p)
		left.X.Label.Text, left.Y.Label.Text = "micro-batches m", "idle share of the step"
		right.Title.Text = fmt.Sprintf("p = %d: peak activations per rank", p)
		right.X.Label.Text, right.Y.Label.Text = "micro-batches m", "micro-batches held"
		for _, name := range []string{"gpipe", "1f1b", "interleaved"} {
			var meas, form, peak plotter.XYs
			v := 1
			for _, r := range rows {
				if r.P != p || r.Schedule != name {
					continue
				}
				v = r.V
				meas = append(meas, plotter.XY{X: float64(r.M), Y: r.BubbleMeasured})
				form = append(form, plotter.XY{X: float64(r.M), Y: r.BubbleFormula})
				peak = append(peak, plotter.XY{X: float64(r.M), Y: r.PeakActivations})
			}
			if len(meas) == 0 {
				continue
			}
			col := schedColors[name]
			label := name
			if name == "interleaved" {
				label = fmt.Sprintf("interleaved v=%d", v)
			}
			if name != "1f1b" { // 1F1B's formula is GPipe's
				l, err := plotter.NewLine(form)
				if err != nil {
					return "", err
				}
				l.Color = col
				left.Add(l)
			}
			sc, err := plotter.NewScatter(meas)
			if err != nil {
				return "", err
			}
			sc.Color = col
			sc.GlyphStyle.Radius = vg.Points(2.5)
			sc.Shape = glyphFor(name)
			left.Add(sc)
			left.Legend.Add(label, sc)
			pl, err := plotter.NewLine(peak)
			if err != nil {
				return "", err
			}
			pl.Color = col
			pk, err := plotter.NewScatter(peak)
			if err != nil {
				return "", err
			}
			pk.Color = col
			pk.Shape = glyphFor(name)
			right.Add(pl, pk)
			right.Legend.Add(label, pk)
		}
		left.Legend.Top = true
		right.Legend.Top, right.Legend.Left = true, true
		left.Y.Min = 0
		right.Y.Min = 0
		grid[i] = []*plot.Plot{left, right}
	}
	w, h := 24*vg.Centimeter, vg.Length(len(ps))*9*vg.Centimeter
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: len(ps), Cols: 2, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j := range grid[i] {
			grid[i][j].Draw(canvases[i][j])
		}
	}
	path := filepath.Join(dir, "bubble.png")
	return path, savePNG(img, path)
}

func glyphFor(name string) draw.GlyphDrawer {
	switch name {
	case "gpipe":
		return draw.CircleGlyph{}
	case "1f1b":
		return draw.CrossGlyph{}
	}
	return draw.TriangleGlyph{}
}
