package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// readRows reads the JSON rows (one object per line) of the given files.
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

// plotRows draws the figures of docs/modules/2-data-parallel.md from bench
// rows: ddp-buckets.png (step time and exposed communication against the
// bucket cap, overlap on and off) when the rows hold a bucket sweep, and
// ddp-strategies.png (step time and bytes per rank of each strategy).
func plotRows(rows []Row, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var sweep []Row
	for _, r := range rows {
		if r.Strategy == "allreduce" && r.World > 1 {
			sweep = append(sweep, r)
		}
	}
	caps := map[float64]bool{}
	for _, r := range sweep {
		caps[r.BucketMiB] = true
	}
	if len(caps) > 1 {
		if err := plotBuckets(sweep, filepath.Join(dir, "ddp-buckets.png")); err != nil {
			return err
		}
	}
	strats := map[string]bool{}
	for _, r := range rows {
		strats[r.Strategy] = true
	}
	if len(strats) > 1 {
		return plotStrategies(rows, filepath.Join(dir, "ddp-strategies.png"))
	}
	return nil
}

func plotBuckets(rows []Row, path string) error {
	world := rows[0].World
	left, right := plot.New(), plot.New()
	left.Title.Text = fmt.Sprintf("DDP step, %d ranks (%s): ms per step", world, rows[0].Backend)
	right.Title.Text = "communication left exposed (ms per step)"
	for _, p := range []*plot.Plot{left, right} {
		p.X.Label.Text = "bucket cap (MiB, log scale)"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Add(plotter.NewGrid())
		p.Y.Min = 0
	}
	for i, ovl := range []bool{true, false} {
		var ms, ex plotter.XYs
		for _, r := range rows {
			if r.Overlap == ovl && r.World == world {
				ms = append(ms, plotter.XY{X: r.BucketMiB, Y: r.MsPerStep})
				ex = append(ex, plotter.XY{X: r.BucketMiB, Y: r.CommExposedMs})
			}
		}
		slices.SortFunc(ms, func(a, b plotter.XY) int { return cmpF(a.X, b.X) })
		slices.SortFunc(ex, func(a, b plotter.XY) int { return cmpF(a.X, b.X) })
		name := "overlap off"
		if ovl {
			name = "overlap on"
		}
		for j, p := range []*plot.Plot{left, right} {
			xys := ms
			if j == 1 {
				xys = ex
			}
			if len(xys) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
			l.Width = vg.Points(1.5)
			p.Add(l, pts)
			p.Legend.Add(name, l, pts)
		}
	}
	left.Legend.Top, right.Legend.Top = true, true
	return savePNG(path, 24*vg.Centimeter, 9*vg.Centimeter, [][]*plot.Plot{{left, right}})
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func plotStrategies(rows []Row, path string) error {
	// One bar per (strategy, staleness, overlap) at each world size.
	type key struct {
		name  string
		world int
	}
	var names []string
	var worlds []int
	ms, bytes := map[key]float64{}, map[key]float64{}
	for _, r := range rows {
		if r.World < 2 || r.Strategy == "allreduce" && (!r.Overlap || r.BucketMiB != 25) {
			continue
		}
		n := r.Strategy
		if r.Staleness > 0 {
			n += fmt.Sprintf(" s=%d", r.Staleness)
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
		if !slices.Contains(worlds, r.World) {
			worlds = append(worlds, r.World)
		}
		k := key{n, r.World}
		ms[k] = r.MsPerStep
		bytes[k] = float64(r.BytesPerRank) / (1 << 20)
	}
	slices.Sort(worlds)
	left, right := plot.New(), plot.New()
	left.Title.Text = "ms per step by strategy"
	right.Title.Text = "MiB sent per rank per step (rank 0)"
	w := vg.Points(14)
	for i, wd := range worlds {
		var v1, v2 plotter.Values
		for _, n := range names {
			v1 = append(v1, ms[key{n, wd}])
			v2 = append(v2, bytes[key{n, wd}])
		}
		for _, pair := range []struct {
			p *plot.Plot
			v plotter.Values
		}{{left, v1}, {right, v2}} {
			b, err := plotter.NewBarChart(pair.v, w)
			if err != nil {
				return err
			}
			b.Color = plotutil.Color(i)
			b.LineStyle.Width = 0
			b.Offset = vg.Length(float64(i)-float64(len(worlds)-1)/2) * w
			pair.p.Add(b)
			pair.p.Legend.Add(fmt.Sprintf("%d ranks", wd), b)
		}
	}
	for _, p := range []*plot.Plot{left, right} {
		p.NominalX(names...)
		p.Legend.Top = true
		p.Add(plotter.NewGrid())
		p.X.Tick.Label.Rotation = 0.35
		p.X.Tick.Label.XAlign = -0.8
	}
	return savePNG(path, 26*vg.Centimeter, 10*vg.Centimeter, [][]*plot.Plot{{left, right}})
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

// plotTrace draws a Chrome trace (one step) as a timeline: one row per
// rank and lane, one box per span.
func plotTrace(tracePath, out string) error {
	b, err := os.ReadFile(tracePath)
	if err != nil {
		return err
	}
	var tr struct {
		TraceEvents []struct {
			Name string  `json:"name"`
			Ph   string  `json:"ph"`
			Ts   float64 `json:"ts"`
			Dur  float64 `json:"dur"`
			Pid  int     `json:"pid"`
			Tid  int     `json:"tid"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		return fmt.Errorf("%s: %w", tracePath, err)
	}
	p := plot.New()
	p.Title.Text = "one DDP step (ms): compute and comm lanes per rank"
	p.X.Label.Text = "ms"
	maxPid := 0
	for _, e := range tr.TraceEvents {
		maxPid = max(maxPid, e.Pid)
	}
	row := func(pid, tid int) float64 { return float64((maxPid-pid)*2 + (1 - tid)) }
	names := map[string]int{}
	for _, e := range tr.TraceEvents {
		if e.Ph != "X" {
			continue
		}
		kind := strings.Fields(e.Name)[0]
		if _, ok := names[kind]; !ok {
			names[kind] = len(names)
		}
		y := row(e.Pid, e.Tid)
		x0, x1 := e.Ts/1e3, (e.Ts+e.Dur)/1e3
		poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y + 0.1}, {X: x1, Y: y + 0.1}, {X: x1, Y: y + 0.9}, {X: x0, Y: y + 0.9}})
		if err != nil {
			return err
		}
		poly.Color = plotutil.Color(names[kind])
		poly.LineStyle.Width = vg.Points(0.5)
		p.Add(poly)
		if e.Dur/1e3 > 0 {
			lbl, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: x0, Y: y + 0.35}}, Labels: []string{e.Name}})
			if err == nil {
				for i := range lbl.TextStyle {
					lbl.TextStyle[i].Font.Size = vg.Points(7)
				}
				p.Add(lbl)
			}
		}
	}
	var ticks []plot.Tick
	for pid := 0; pid <= maxPid; pid++ {
		ticks = append(ticks, plot.Tick{Value: row(pid, 0) + 0.5, Label: fmt.Sprintf("rank %d compute", pid)},
			plot.Tick{Value: row(pid, 1) + 0.5, Label: fmt.Sprintf("rank %d comm", pid)})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Y.Min, p.Y.Max = 0, float64(2*(maxPid+1))
	return savePNG(out, 26*vg.Centimeter, float64ToLen(4+2.2*float64(maxPid+1)), [][]*plot.Plot{{p}})
}

func float64ToLen(cm float64) vg.Length { return vg.Length(cm) * vg.Centimeter }
