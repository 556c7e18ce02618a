package scaling

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Sample is one measured collective: op (as CollectiveCost names it) with
// algorithm Algorithm over Ranks ranks on Bytes bytes took Seconds.
type Sample struct {
	Op        string
	Algorithm Algorithm
	Ranks     int
	Bytes     float64
	Seconds   float64
}

// Calibration is a link fitted to measurements, with its fit error.
type Calibration struct {
	Link
	// StdErr are the standard errors of α, β and γ (from the residuals and
	// the design, as ordinary least squares gives them; 0 for a parameter
	// pinned at 0).
	StdErr [3]float64
	// RMSRel and MaxRel are the root-mean-square and the largest relative
	// error |predicted − measured|/measured over the samples.
	RMSRel, MaxRel float64
	Samples        int
}

func (c Calibration) String() string {
	return fmt.Sprintf("α = %.3g ± %.2g µs, β = %.4g ± %.2g ns/B (%.3g GB/s), γ = %.4g ± %.2g ns/B; fit over %d samples: rms %.1f%%, max %.1f%%",
		c.Alpha*1e6, c.StdErr[0]*1e6, c.Beta*1e9, c.StdErr[1]*1e9, 1/(c.Beta*1e9), c.Gamma*1e9, c.StdErr[2]*1e9,
		c.Samples, 100*c.RMSRel, 100*c.MaxRel)
}

// FitLink fits α, β and γ to measured collectives by least squares on the
// relative error (each sample weighted by 1/Seconds, so a 64 MiB message
// does not drown the latency of a 1 KiB one), keeping every parameter ≥ 0 (a
// negative one is pinned at 0 and the rest refitted). β and γ are told apart
// only when the samples include an operation without a reduction
// (all-gather, broadcast, send-receive) beside one with it; otherwise γ is
// pinned at 0 and β carries both (send-receive samples alone fit α and β).
func FitLink(name string, samples []Sample) (Calibration, error) {
	var rows [][3]float64
	var ts []float64
	for _, s := range samples {
		if s.Seconds <= 0 || s.Ranks < 2 && s.Op != "sendrecv" {
			continue
		}
		c, err := CollectiveCost(s.Op, s.Algorithm, s.Ranks, s.Bytes)
		if err != nil {
			return Calibration{}, err
		}
		rows = append(rows, [3]float64{c.A, c.B, c.G})
		ts = append(ts, s.Seconds)
	}
	free := [3]bool{true, true, true}
	plain, reducing := false, false
	for _, r := range rows {
		if r[2] == 0 && r[1] != 0 {
			plain = true
		}
		if r[2] != 0 {
			reducing = true
		}
	}
	if !plain || !reducing {
		free[2] = false
	}
	for {
		x, se, err := wls(rows, ts, free)
		if err != nil {
			return Calibration{}, err
		}
		neg := -1
		for i := range 3 {
			if free[i] && x[i] < 0 && (neg < 0 || x[i] < x[neg]) {
				neg = i
			}
		}
		if neg >= 0 {
			free[neg] = false
			continue
		}
		cal := Calibration{Link: Link{Name: name, Alpha: x[0], Beta: x[1], Gamma: x[2]}, StdErr: se, Samples: len(ts)}
		for i, r := range rows {
			rel := math.Abs(r[0]*x[0]+r[1]*x[1]+r[2]*x[2]-ts[i]) / ts[i]
			cal.RMSRel += rel * rel
			cal.MaxRel = math.Max(cal.MaxRel, rel)
		}
		cal.RMSRel = math.Sqrt(cal.RMSRel / float64(len(ts)))
		return cal, nil
	}
}

// wls solves min Σ((row·x − t)/t)² over the free coordinates of x.
func wls(rows [][3]float64, ts []float64, free [3]bool) (x, se [3]float64, err error) {
	var idx []int
	for i, f := range free {
		if f {
			idx = append(idx, i)
		}
	}
	n, k := len(rows), len(idx)
	if k == 0 {
		return x, se, errors.New("scaling: every parameter pinned at 0")
	}
	if n <= k {
		return x, se, fmt.Errorf("scaling: %d samples for %d parameters", n, k)
	}
	// Scale the columns so that α (µs), β and γ (ns/B) are of one order.
	colScale := [3]float64{1e-6, 1e-9, 1e-9}
	a := mat.NewDense(n, k, nil)
	b := mat.NewVecDense(n, nil)
	for i, r := range rows {
		for j, c := range idx {
			a.Set(i, j, r[c]*colScale[c]/ts[i])
		}
		b.SetVec(i, 1)
	}
	var sol mat.VecDense
	if err := sol.SolveVec(a, b); err != nil {
		return x, se, fmt.Errorf("scaling: least squares: %w", err)
	}
	var res mat.VecDense
	res.MulVec(a, &sol)
	res.SubVec(&res, b)
	s2 := mat.Dot(&res, &res) / float64(n-k)
	var ata, inv mat.Dense
	ata.Mul(a.T(), a)
	if err := inv.Inverse(&ata); err != nil {
		return x, se, fmt.Errorf("scaling: the samples do not determine the parameters: %w", err)
	}
	for j, c := range idx {
		x[c] = sol.AtVec(j) * colScale[c]
		se[c] = math.Sqrt(s2*inv.At(j, j)) * colScale[c]
	}
	return x, se, nil
}

// StepSample is one measured single-rank training step: the time of the
// forward pass, the backward pass and the optimizer update at a batch size.
type StepSample struct {
	Batch                        int
	Forward, Backward, Optimizer float64 // seconds
}

// Compute is the computation of one rank's step: forward + backward take
// Fixed + PerSample·b seconds for a batch of b, of which BackwardShare is the
// backward pass; the optimizer update takes Optimizer seconds.
type Compute struct {
	PerSample     float64 // seconds per sample, forward + backward
	Fixed         float64 // seconds per step, forward + backward, independent of the batch
	BackwardShare float64 // fraction of forward + backward spent in backward
	Optimizer     float64 // seconds per step
	// RMSRel and MaxRel are the fit's relative errors on forward + backward.
	RMSRel, MaxRel float64
}

// Scale returns the computation slowed by factor f (f > 1: a rank that gets
// a smaller share of the cores).
func (c Compute) Scale(f float64) Compute {
	c.PerSample *= f
	c.Fixed *= f
	c.Optimizer *= f
	return c
}

// FitCompute fits Compute to one-rank step timings at three or more batch
// sizes (least squares on the relative error; a term the noise would make
// negative is pinned at 0).
func FitCompute(samples []StepSample) (Compute, error) {
	var rows [][3]float64
	var ts []float64
	var fwd, bwd, opt float64
	for _, s := range samples {
		t := s.Forward + s.Backward
		if t <= 0 || s.Batch < 1 {
			continue
		}
		// α-column: fixed cost (in µs units), β-column: per-sample (ns units, scaled back below).
		rows = append(rows, [3]float64{1, float64(s.Batch) * 1e3, 0})
		ts = append(ts, t)
		fwd += s.Forward
		bwd += s.Backward
		opt += s.Optimizer
	}
	x, _, err := wls(rows, ts, [3]bool{true, true, false})
	if err != nil {
		return Compute{}, err
	}
	// Keep both terms ≥ 0 (noise can tip one below).
	if x[0] < 0 {
		x, _, err = wls(rows, ts, [3]bool{false, true, false})
	} else if x[1] < 0 {
		x, _, err = wls(rows, ts, [3]bool{true, false, false})
	}
	if err != nil {
		return Compute{}, err
	}
	c := Compute{Fixed: x[0], PerSample: x[1] * 1e3, BackwardShare: bwd / (fwd + bwd), Optimizer: opt / float64(len(ts))}
	for i, r := range rows {
		rel := math.Abs(r[0]*x[0]+r[1]*x[1]-ts[i]) / ts[i]
		c.RMSRel += rel * rel
		c.MaxRel = math.Max(c.MaxRel, rel)
	}
	c.RMSRel = math.Sqrt(c.RMSRel / float64(len(ts)))
	return c, nil
}
