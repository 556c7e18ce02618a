package main

import (
	"fmt"
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

var colors = map[string]color.Color{
	"darts-1st": color.RGBA{R: 31, G: 119, B: 180, A: 255},
	"darts-2nd": color.RGBA{R: 214, G: 39, B: 40, A: 255},
	"evolution": color.RGBA{R: 44, G: 160, B: 44, A: 255},
}

func writePNG(path string, c *vgimg.Canvas) error {
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

// plotSearch draws validation accuracy against search time: the supernet's
// after each DARTS epoch and evolution's best trial so far.
func plotSearch(path string, res *result) error {
	p := plot.New()
	p.Title.Text = "Search on the digits: validation accuracy against search time"
	p.X.Label.Text = "seconds"
	p.Y.Label.Text = "validation accuracy"
	p.Add(plotter.NewGrid())
	for _, m := range []string{"darts-1st", "darts-2nd", "evolution"} {
		var xys plotter.XYs
		for _, c := range res.Curves[m] {
			y := c.ValAcc
			if m == "evolution" {
				y = c.BestAcc
			}
			xys = append(xys, plotter.XY{X: c.Seconds, Y: y})
		}
		if len(xys) == 0 {
			continue
		}
		l, pts, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, pts.Color = colors[m], colors[m]
		p.Add(l, pts)
		label := m + " (supernet)"
		if m == "evolution" {
			label = m + " (best trial)"
		}
		p.Legend.Add(label, l, pts)
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.YOffs = -vg.Centimeter
	p.Y.Max = 1
	c := vgimg.New(16*vg.Centimeter, 11*vg.Centimeter)
	p.Draw(draw.New(c))
	return writePNG(path, c)
}

// plotCells draws each found cell as a graph: the input, the nodes and the
// output on a line, edges as arcs labelled with their operation.
func plotCells(path string, res *result) error {
	methods := []string{"darts-1st", "darts-2nd", "evolution"}
	const w, rowH = 18 * vg.Centimeter, 5 * vg.Centimeter
	c := vgimg.New(w, rowH*vg.Length(len(methods)))
	dc := draw.New(c)
	text := plot.New().Title.TextStyle
	text.Font.Size = vg.Points(9)
	text.XAlign, text.YAlign = draw.XCenter, draw.YCenter
	for ri, m := range methods {
		g := res.Found[m]
		top := rowH * vg.Length(len(methods)-ri)
		y0 := top - rowH*0.55
		n := len(g) + 2
		xs := func(i int) vg.Length { return vg.Centimeter*1.5 + (w-3*vg.Centimeter)*vg.Length(i)/vg.Length(n-1) }
		name := func(i int) string {
			if i == 0 {
				return "in"
			}
			if i == n-1 {
				return "out"
			}
			return fmt.Sprintf("n%d", i)
		}
		title := text
		title.XAlign = draw.XLeft
		dc.FillText(title, vg.Point{X: vg.Centimeter * 0.5, Y: top - vg.Centimeter*0.4}, m+": "+g.String())
		edge := draw.LineStyle{Color: colors[m], Width: vg.Points(1.2)}
		for i, node := range g {
			for k, e := range node {
				a, b := xs(e.From), xs(i+1)
				// an arc above (first edge) or below (second edge) the line
				h := rowH * 0.1 * vg.Length(1+i-e.From)
				if k == 1 {
					h = -h
				}
				var pts []vg.Point
				for s := 0; s <= 20; s++ {
					t := float64(s) / 20
					pts = append(pts, vg.Point{X: a + (b-a)*vg.Length(t), Y: y0 + h*vg.Length(math.Sin(math.Pi*t))})
				}
				dc.StrokeLines(edge, pts)
				label := text
				label.Font.Size = vg.Points(7)
				dc.FillText(label, vg.Point{X: (a + b) / 2, Y: y0 + h + vg.Points(5)*vg.Length(sign(float64(h)))}, e.Op.String())
			}
			dc.StrokeLine2(draw.LineStyle{Color: color.Gray{Y: 180}, Width: vg.Points(0.8), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}},
				xs(i+1), y0, xs(n-1), y0)
		}
		for i := range n {
			pt := vg.Point{X: xs(i), Y: y0}
			dc.FillPolygon(color.White, circle(pt, vg.Points(11)))
			dc.StrokeLines(draw.LineStyle{Color: color.Black, Width: vg.Points(1)}, append(circle(pt, vg.Points(11)), circle(pt, vg.Points(11))[0]))
			dc.FillText(text, pt, name(i))
		}
	}
	return writePNG(path, c)
}

func sign(x float64) float64 {
	if x < 0 {
		return -1
	}
	return 1
}

func circle(c vg.Point, r vg.Length) []vg.Point {
	var pts []vg.Point
	for i := range 24 {
		a := 2 * math.Pi * float64(i) / 24
		pts = append(pts, vg.Point{X: c.X + r*vg.Length(math.Cos(a)), Y: c.Y + r*vg.Length(math.Sin(a))})
	}
	return pts
}
