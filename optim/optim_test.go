package optim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// refState is the float64 reference's state of one parameter.
type refState struct {
	t                 int
	buf, m, v, sq, ga []float64
	hasBuf            bool
}

func zeros(n int) []float64 { return make([]float64, n) }

func l2(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v * v
	}
	return math.Sqrt(s)
}

// refStep is a direct float64 transcription of the papers / torch.optim
// formulas, written independently of the package's tensor code.
func refStep(k Kind, o Options, w, grad []float64, s *refState) {
	n := len(w)
	s.t++
	t := float64(s.t)
	if s.m == nil {
		s.m, s.v, s.sq, s.ga, s.buf = zeros(n), zeros(n), zeros(n), zeros(n), zeros(n)
	}
	switch k {
	case KindSGD:
		g := make([]float64, n)
		for i := range g {
			g[i] = grad[i] + o.WeightDecay*w[i]
		}
		if o.Momentum != 0 {
			for i := range g {
				if !s.hasBuf {
					s.buf[i] = g[i]
				} else {
					s.buf[i] = o.Momentum*s.buf[i] + (1-o.Dampening)*g[i]
				}
			}
			s.hasBuf = true
			for i := range g {
				if o.Nesterov {
					g[i] += o.Momentum * s.buf[i]
				} else {
					g[i] = s.buf[i]
				}
			}
		}
		for i := range w {
			w[i] -= o.LR * g[i]
		}
	case KindAdam, KindAdamW:
		for i := range w {
			g := grad[i]
			if k == KindAdam {
				g += o.WeightDecay * w[i]
			} else {
				w[i] *= 1 - o.LR*o.WeightDecay
			}
			s.m[i] = o.Beta1*s.m[i] + (1-o.Beta1)*g
			s.v[i] = o.Beta2*s.v[i] + (1-o.Beta2)*g*g
			mh := s.m[i] / (1 - math.Pow(o.Beta1, t))
			vh := s.v[i] / (1 - math.Pow(o.Beta2, t))
			w[i] -= o.LR * mh / (math.Sqrt(vh) + o.Eps)
		}
	case KindRMSProp:
		for i := range w {
			g := grad[i] + o.WeightDecay*w[i]
			s.sq[i] = o.Alpha*s.sq[i] + (1-o.Alpha)*g*g
			avg := s.sq[i]
			if o.Centered {
				s.ga[i] = o.Alpha*s.ga[i] + (1-o.Alpha)*g
				avg -= s.ga[i] * s.ga[i]
			}
			d := math.Sqrt(avg) + o.Eps
			if o.Momentum > 0 {
				s.buf[i] = o.Momentum*s.buf[i] + g/d
				w[i] -= o.LR * s.buf[i]
			} else {
				w[i] -= o.LR * g / d
			}
		}
	case KindLARS:
		wn, gn := l2(w), l2(grad)
		trust := 1.0
		if wn > 0 && gn > 0 {
			trust = o.TrustCoefficient * wn / (gn + o.WeightDecay*wn + o.Eps)
		}
		for i := range w {
			s.buf[i] = o.Momentum*s.buf[i] + o.LR*trust*(grad[i]+o.WeightDecay*w[i])
			w[i] -= s.buf[i]
		}
	case KindLAMB:
		r := make([]float64, n)
		for i := range w {
			s.m[i] = o.Beta1*s.m[i] + (1-o.Beta1)*grad[i]
			s.v[i] = o.Beta2*s.v[i] + (1-o.Beta2)*grad[i]*grad[i]
			mh := s.m[i] / (1 - math.Pow(o.Beta1, t))
			vh := s.v[i] / (1 - math.Pow(o.Beta2, t))
			r[i] = mh/(math.Sqrt(vh)+o.Eps) + o.WeightDecay*w[i]
		}
		wn, rn := l2(w), l2(r)
		ratio := 1.0
		if wn > 0 && rn > 0 {
			ratio = wn / rn
		}
		for i := range w {
			w[i] -= o.LR * ratio * r[i]
		}
	}
}

func randSlice(r *rand.Rand, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = r.NormFloat64()
	}
	return x
}

func toTensor(x []float64, dt tensor.DType, shape ...int) *tensor.Tensor {
	return tensor.FromSlice(append([]float64(nil), x...), shape...).Cast(dt)
}

type optCase struct {
	name string
	kind Kind
	o    Options
}

func optCases() []optCase {
	return []optCase{
		{"sgd", KindSGD, Options{LR: 0.1}},
		{"sgd-wd", KindSGD, Options{LR: 0.1, WeightDecay: 0.01}},
		{"sgd-momentum", KindSGD, Options{LR: 0.05, Momentum: 0.9}},
		{"sgd-dampening", KindSGD, Options{LR: 0.05, Momentum: 0.9, Dampening: 0.3, WeightDecay: 1e-3}},
		{"sgd-nesterov", KindSGD, Options{LR: 0.05, Momentum: 0.8, Nesterov: true, WeightDecay: 1e-2}},
		{"adam", KindAdam, Options{LR: 1e-2}},
		{"adam-wd", KindAdam, Options{LR: 1e-2, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6, WeightDecay: 0.1}},
		{"adamw", KindAdamW, Options{LR: 1e-2, WeightDecay: 0.1}},
		{"rmsprop", KindRMSProp, Options{LR: 1e-2}},
		{"rmsprop-centered-momentum", KindRMSProp, Options{LR: 1e-2, Centered: true, Momentum: 0.9, WeightDecay: 0.01, Alpha: 0.9}},
		{"rmsprop-momentum", KindRMSProp, Options{LR: 1e-3, Momentum: 0.5}},
		{"lars", KindLARS, Options{LR: 0.5, Momentum: 0.9, WeightDecay: 5e-4, TrustCoefficient: 0.01}},
		{"lars-nomomentum", KindLARS, Options{LR: 0.1, Eps: 1e-9}},
		{"lamb", KindLAMB, Options{LR: 1e-2}},
		{"lamb-wd", KindLAMB, Options{LR: 1e-2, WeightDecay: 0.01, Beta1: 0.85}},
	}
}

// run applies steps updates with random gradients to two parameters (a matrix
// and a vector) in dtype dt and in the float64 reference, and returns the
// largest relative difference.
func runCase(t *testing.T, c optCase, dt tensor.DType, steps int) float64 {
	r := rand.New(rand.NewPCG(1, uint64(c.kind)))
	shapes := [][]int{{7, 5}, {11}}
	var params []*autograd.Var
	var ref [][]float64
	for _, sh := range shapes {
		w := randSlice(r, tensor.Shape(sh).NumElements())
		params = append(params, autograd.Param(toTensor(w, dt, sh...)))
		ref = append(ref, w)
	}
	opt := New(c.kind, params, c.o)
	o := opt.Groups()[0].Options
	states := make([]refState, len(params))
	for range steps {
		for i, p := range params {
			g := randSlice(r, len(ref[i]))
			p.SetGrad(toTensor(g, dt, shapes[i]...))
			refStep(c.kind, o, ref[i], g, &states[i])
		}
		require.NoError(t, opt.Step())
	}
	worst := 0.0
	for i, p := range params {
		got := p.Value().Float64s()
		for j := range got {
			d := math.Abs(got[j]-ref[i][j]) / (math.Abs(ref[i][j]) + 1e-3)
			worst = max(worst, d)
		}
	}
	return worst
}

// TestAgainstReference checks every algorithm and option against the float64
// reference over 6 steps: to 1e-10 (relative, floor 1e-3) in float64 and
// 2e-4 in float32.
func TestAgainstReference(t *testing.T) {
	for _, c := range optCases() {
		t.Run(c.name, func(t *testing.T) {
			require.Less(t, runCase(t, c, tensor.Float64, 6), 1e-10, "float64")
			require.Less(t, runCase(t, c, tensor.Float32, 6), 2e-4, "float32")
		})
	}
}

func TestDefaults(t *testing.T) {
	p := []*autograd.Var{autograd.Param(tensor.Ones(tensor.Float32, 2))}
	o := NewAdam(p, Options{}).Defaults()
	require.Equal(t, Options{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}, o)
	o = NewRMSProp(p, Options{}).Defaults()
	require.Equal(t, Options{LR: 1e-2, Alpha: 0.99, Eps: 1e-8}, o)
	o = NewLAMB(p, Options{}).Defaults()
	require.Equal(t, 1e-6, o.Eps)
	o = NewLARS(p, Options{}).Defaults()
	require.Equal(t, 1e-3, o.TrustCoefficient)
	require.Panics(t, func() { NewSGD(p, Options{LR: 0.1, Nesterov: true}) })
	require.Panics(t, func() { NewAdam(p, Options{Beta1: 1}) })
	require.Panics(t, func() { NewSGD(p, Options{LR: -1}) })
	require.Panics(t, func() { NewSGD(append(p, p[0]), Options{}) })
}

func TestGroups(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	wa, wb := randSlice(r, 6), randSlice(r, 4)
	a := autograd.Param(toTensor(wa, tensor.Float64, 2, 3))
	b := autograd.Param(toTensor(wb, tensor.Float64, 4))
	c := autograd.Param(tensor.Ones(tensor.Float64, 3)) // never gets a gradient
	opt := NewAdamW([]*autograd.Var{a, c}, Options{LR: 1e-2, WeightDecay: 0.1})
	o2 := opt.Defaults()
	o2.LR, o2.WeightDecay = 0.05, 0
	g2 := opt.AddGroup([]*autograd.Var{b}, o2)
	require.Len(t, opt.Groups(), 2)
	require.Equal(t, 0.05, g2.InitialLR)
	require.Equal(t, []*autograd.Var{a, c, b}, opt.Params())
	var sa, sb refState
	for range 4 {
		ga, gb := randSlice(r, 6), randSlice(r, 4)
		a.SetGrad(toTensor(ga, tensor.Float64, 2, 3))
		b.SetGrad(toTensor(gb, tensor.Float64, 4))
		refStep(KindAdamW, opt.Groups()[0].Options, wa, ga, &sa)
		refStep(KindAdamW, g2.Options, wb, gb, &sb)
		require.NoError(t, opt.Step())
	}
	require.InDeltaSlice(t, wa, a.Value().Float64s(), 1e-12)
	require.InDeltaSlice(t, wb, b.Value().Float64s(), 1e-12)
	require.Equal(t, []float64{1, 1, 1}, c.Value().Float64s(), "a parameter without gradient is not updated")
	require.Equal(t, 4, opt.StepCount(a))
	require.Equal(t, 0, opt.StepCount(c))

	opt.ZeroGrad()
	require.Equal(t, make([]float64, 6), a.Grad().Float64s())
	opt.ClearGrad()
	require.Nil(t, a.Grad())
	require.Nil(t, b.Grad())

	// A gradient of the wrong shape is an error, not a panic.
	a.SetGrad(nil)
	c.SetGrad(tensor.Ones(tensor.Float64, 3))
	b.SetGrad(nil)
	d := autograd.Param(tensor.Ones(tensor.Float64, 2))
	opt.AddGroup([]*autograd.Var{d}, Options{})
	d.SetGrad(tensor.Ones(tensor.Float32, 2))
	require.Error(t, opt.Step())
}

func TestSchedules(t *testing.T) {
	near := func(want, got float64) { t.Helper(); require.InDelta(t, want, got, 1e-12) }
	s := StepDecay{StepSize: 3, Gamma: 0.1}
	near(1, s.LR(0, 1))
	near(1, s.LR(2, 1))
	near(0.1, s.LR(3, 1))
	near(0.01, s.LR(7, 1))

	c := Cosine{Steps: 10, MinLR: 0.1}
	near(1, c.LR(0, 1))
	near(0.55, c.LR(5, 1))
	near(0.1+0.9*(1+math.Cos(math.Pi*0.3))/2, c.LR(3, 1))
	near(0.1, c.LR(10, 1))
	near(0.1, c.LR(20, 1))

	w := Warmup{Steps: 4, StartFactor: 0, Then: c}
	near(0, w.LR(0, 2))
	near(1, w.LR(2, 2))
	near(1.5, w.LR(3, 2))
	near(2, w.LR(4, 2))
	near(c.LR(5, 2), w.LR(9, 2))
	near(2, Warmup{Steps: 2, StartFactor: 0.5}.LR(7, 2))
	near(1.5, Warmup{Steps: 2, StartFactor: 0.5}.LR(1, 2))

	// torch.optim.lr_scheduler.OneCycleLR(max_lr=1, total_steps=100) gives
	// 0.04 at step 0, 1 at step 29, 4e-6 at step 99.
	oc := OneCycle{Steps: 100}
	near(0.04, oc.LR(0, 1))
	near(1, oc.LR(29, 1))
	near(4e-6, oc.LR(99, 1))
	// Step 14 of the warm-up: pct = 14/29.
	near(1+(0.04-1)/2*(math.Cos(math.Pi*14/29)+1), oc.LR(14, 1))
	lin := OneCycle{Steps: 11, PctStart: 6.0 / 11, Linear: true, DivFactor: 10, FinalDivFactor: 10}
	near(0.1, lin.LR(0, 1))
	near(0.46, lin.LR(2, 1))
	near(1, lin.LR(5, 1))
	near(0.604, lin.LR(7, 1))
	near(0.01, lin.LR(10, 1))
	near(0.01, lin.LR(50, 1))

	p := []*autograd.Var{autograd.Param(tensor.Ones(tensor.Float32, 2))}
	opt := NewSGD(p, Options{LR: 0.5})
	g := opt.AddGroup([]*autograd.Var{autograd.Param(tensor.Ones(tensor.Float32, 1))}, Options{LR: 1})
	sch := NewScheduler(opt, Warmup{Steps: 2, StartFactor: 0.5})
	near(0.25, sch.LR())
	near(0.5, g.LR)
	sch.Step()
	near(0.375, sch.LR())
	near(0.75, g.LR)
	sch.SetStep(10)
	near(0.5, sch.LR())
	near(1, g.LR)
}

func TestClip(t *testing.T) {
	a := autograd.Param(tensor.Ones(tensor.Float32, 2))
	b := autograd.Param(tensor.Ones(tensor.Float32, 2, 2))
	c := autograd.Param(tensor.Ones(tensor.Float32, 1)) // no gradient
	a.SetGrad(tensor.FromSlice([]float32{3, 4}, 2))
	b.SetGrad(tensor.FromSlice([]float32{0, 12, 0, 0}, 2, 2))
	ps := []*autograd.Var{a, b, c}
	require.InDelta(t, 13, GradNorm(ps), 1e-12)
	n := ClipGradNorm(ps, 26)
	require.InDelta(t, 13, n, 1e-12)
	require.Equal(t, []float32{3, 4}, a.Grad().Float32s(), "below the limit nothing changes")
	n = ClipGradNorm(ps, 1.3)
	require.InDelta(t, 13, n, 1e-12)
	coef := 1.3 / (13 + 1e-6)
	require.InDeltaSlice(t, []float64{3 * coef, 4 * coef}, a.Grad().Float64s(), 1e-6)
	require.InDelta(t, 1.3, GradNorm(ps), 1e-5)
	b.SetGrad(tensor.FromSlice([]float32{-5, 0.5, 2, -0.1}, 2, 2))
	ClipGradValue(ps, 1)
	require.Equal(t, []float32{-1, 0.5, 1, -0.1}, b.Grad().Float32s())
}

// cloneSD copies a state dict, as saving it to a file would.
func cloneSD(sd map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for k, v := range sd {
		out[k] = v.Clone()
	}
	return out
}

// TestStateDictRoundTrip: stopping after 3 steps, loading the state into a
// fresh optimizer over copies of the parameters and continuing gives the same
// trajectory, bit for bit, as not stopping.
func TestStateDictRoundTrip(t *testing.T) {
	for _, c := range optCases() {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, 9))
			shapes := [][]int{{4, 3}, {5}}
			var ps []*autograd.Var
			for _, sh := range shapes {
				ps = append(ps, autograd.Param(toTensor(randSlice(r, tensor.Shape(sh).NumElements()), tensor.Float32, sh...)))
			}
			grads := make([][]*tensor.Tensor, 6)
			for s := range grads {
				for _, sh := range shapes {
					grads[s] = append(grads[s], toTensor(randSlice(r, tensor.Shape(sh).NumElements()), tensor.Float32, sh...))
				}
			}
			step := func(opt *Optimizer, ps []*autograd.Var, s int) {
				for i, p := range ps {
					p.SetGrad(grads[s][i])
				}
				require.NoError(t, opt.Step())
			}
			opt := New(c.kind, ps, c.o)
			for s := range 3 {
				step(opt, ps, s)
			}
			sd := cloneSD(opt.StateDict())
			var ps2 []*autograd.Var
			for _, p := range ps {
				ps2 = append(ps2, autograd.Param(p.Value().Clone()))
			}
			opt2 := New(c.kind, ps2, Options{LR: 123}) // the state dict restores the hyperparameters
			require.NoError(t, opt2.LoadStateDict(sd))
			require.Equal(t, opt.Groups()[0].Options, opt2.Groups()[0].Options)
			for s := 3; s < 6; s++ {
				step(opt, ps, s)
				step(opt2, ps2, s)
			}
			for i := range ps {
				require.Equal(t, ps[i].Value().Float32s(), ps2[i].Value().Float32s())
			}
		})
	}
}

func TestLoadStateDictErrors(t *testing.T) {
	p := autograd.Param(tensor.Ones(tensor.Float32, 3))
	opt := NewAdam([]*autograd.Var{p}, Options{})
	p.SetGrad(tensor.Ones(tensor.Float32, 3))
	require.NoError(t, opt.Step())
	good := cloneSD(opt.StateDict())
	bad := map[string]func(sd map[string]*tensor.Tensor){
		"unknown":   func(sd map[string]*tensor.Tensor) { sd["foo"] = tensor.Ones(tensor.Float32, 1) },
		"index":     func(sd map[string]*tensor.Tensor) { sd["param.1.exp_avg"] = tensor.Ones(tensor.Float32, 3) },
		"bufname":   func(sd map[string]*tensor.Tensor) { sd["param.0.momentum_buffer"] = tensor.Ones(tensor.Float32, 3) },
		"shape":     func(sd map[string]*tensor.Tensor) { sd["param.0.exp_avg"] = tensor.Ones(tensor.Float32, 4) },
		"group":     func(sd map[string]*tensor.Tensor) { sd["group.1.lr"] = tensor.Scalar(1, tensor.Float64) },
		"field":     func(sd map[string]*tensor.Tensor) { sd["group.0.bogus"] = tensor.Scalar(1, tensor.Float64) },
		"step":      func(sd map[string]*tensor.Tensor) { sd["param.0.step"] = tensor.Scalar(-1, tensor.Int64) },
		"leadzero":  func(sd map[string]*tensor.Tensor) { sd["param.00.step"] = tensor.Scalar(1, tensor.Int64) },
		"nostep":    func(sd map[string]*tensor.Tensor) { delete(sd, "param.0.step") },
		"intbuffer": func(sd map[string]*tensor.Tensor) { sd["param.0.exp_avg"] = tensor.Ones(tensor.Int64, 3) },
	}
	for name, mod := range bad {
		t.Run(name, func(t *testing.T) {
			sd := cloneSD(good)
			mod(sd)
			before := fmt.Sprint(opt.StateDict())
			require.Error(t, opt.LoadStateDict(sd))
			require.Equal(t, before, fmt.Sprint(opt.StateDict()), "a failed load changes nothing")
		})
	}
	require.NoError(t, opt.LoadStateDict(good))
}
