package optim

import (
	"errors"
	"fmt"
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// Kind names an optimization algorithm.
type Kind int

// The algorithms.
const (
	KindSGD Kind = iota
	KindAdam
	KindAdamW
	KindRMSProp
	KindLARS
	KindLAMB
)

func (k Kind) String() string {
	switch k {
	case KindSGD:
		return "SGD"
	case KindAdam:
		return "Adam"
	case KindAdamW:
		return "AdamW"
	case KindRMSProp:
		return "RMSProp"
	case KindLARS:
		return "LARS"
	case KindLAMB:
		return "LAMB"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Options are the hyperparameters of a parameter group. Each algorithm reads
// the fields it documents and ignores the others.
//
// A zero LR, Beta1, Beta2, Eps, Alpha or TrustCoefficient passed to a
// constructor takes the algorithm's default (PyTorch's defaults; see the
// constructors). Once a group exists its fields are used as they are, so a
// schedule may set LR to 0. WeightDecay, Momentum and Dampening have no
// default other than 0.
type Options struct {
	LR          float64 // learning rate
	WeightDecay float64 // L2 penalty (SGD, Adam, RMSProp, LARS) or decoupled decay (AdamW, LAMB)

	Momentum  float64 // SGD, RMSProp, LARS
	Dampening float64 // SGD
	Nesterov  bool    // SGD

	Beta1, Beta2 float64 // Adam, AdamW, LAMB: moment decay rates
	Eps          float64 // Adam, AdamW, RMSProp, LAMB: denominator term; LARS: added to the trust-ratio denominator

	Alpha    float64 // RMSProp: smoothing constant of the squared-gradient average
	Centered bool    // RMSProp: normalise by the estimated variance of the gradient

	TrustCoefficient float64 // LARS: η in η‖w‖/(‖g‖+β‖w‖)
}

// Group is a set of parameters that share hyperparameters. Optimizer.Groups
// returns pointers to the live groups: changing a field (a schedule sets LR)
// affects the next Step.
type Group struct {
	Params []*autograd.Var
	Options
	// InitialLR is the group's LR when it was added; schedules scale it.
	InitialLR float64
}

// paramState is the per-parameter state: the number of updates it has
// received and its named buffers (momentum, moments).
type paramState struct {
	step int64
	bufs map[string]*tensor.Tensor
}

// Optimizer updates parameters from their gradients with one of the
// algorithms of Kind. It is not safe for concurrent use.
type Optimizer struct {
	kind   Kind
	def    Options
	groups []*Group
	state  map[*autograd.Var]*paramState
}

// NewSGD returns stochastic gradient descent with optional momentum,
// dampening, Nesterov momentum and L2 weight decay, as torch.optim.SGD:
//
//	g = ∇ + wd·w
//	b = g (first step), else b = μ·b + (1-dampening)·g      (if μ ≠ 0)
//	g = g + μ·b (Nesterov), else g = b                     (if μ ≠ 0)
//	w = w - lr·g
//
// Default LR: 1e-3.
func NewSGD(params []*autograd.Var, o Options) *Optimizer { return newOpt(KindSGD, params, o) }

// NewAdam returns Adam (Kingma and Ba, 2015) with L2 weight decay added to
// the gradient, as torch.optim.Adam. Defaults: LR 1e-3, Beta1 0.9,
// Beta2 0.999, Eps 1e-8.
func NewAdam(params []*autograd.Var, o Options) *Optimizer { return newOpt(KindAdam, params, o) }

// NewAdamW returns AdamW (Loshchilov and Hutter, 2019): Adam with decoupled
// weight decay w = w·(1 - lr·wd), as torch.optim.AdamW. Defaults as Adam;
// note that torch's default WeightDecay for AdamW is 0.01, here it is
// whatever o says.
func NewAdamW(params []*autograd.Var, o Options) *Optimizer { return newOpt(KindAdamW, params, o) }

// NewRMSProp returns RMSProp as torch.optim.RMSprop:
//
//	g = ∇ + wd·w
//	s = α·s + (1-α)·g²
//	a = √(s - ḡ²) + ε with ḡ = α·ḡ + (1-α)·g (Centered), else a = √s + ε
//	b = μ·b + g/a; w = w - lr·b  (μ ≠ 0), else w = w - lr·g/a
//
// Defaults: LR 1e-2, Alpha 0.99, Eps 1e-8.
func NewRMSProp(params []*autograd.Var, o Options) *Optimizer {
	return newOpt(KindRMSProp, params, o)
}

// NewLARS returns layer-wise adaptive rate scaling (You, Gitman and Ginsburg,
// 2017, Algorithm 1), per parameter tensor:
//
//	λ = η‖w‖ / (‖∇‖ + β‖w‖ + ε)   (λ = 1 when ‖w‖ or ‖∇‖ is 0)
//	v = μ·v + lr·λ·(∇ + β·w)
//	w = w - v
//
// with β = WeightDecay and η = TrustCoefficient. Defaults: LR 1e-3 (the
// global rate γ), TrustCoefficient 1e-3, Eps 0.
func NewLARS(params []*autograd.Var, o Options) *Optimizer { return newOpt(KindLARS, params, o) }

// NewLAMB returns LAMB (You et al., 2020, Algorithm 2), per parameter tensor:
//
//	m = β1·m + (1-β1)·∇;  v = β2·v + (1-β2)·∇²
//	r = (m/(1-β1ᵗ)) / (√(v/(1-β2ᵗ)) + ε) + wd·w
//	w = w - lr·(‖w‖/‖r‖)·r       (ratio 1 when ‖w‖ or ‖r‖ is 0)
//
// Defaults: LR 1e-3, Beta1 0.9, Beta2 0.999, Eps 1e-6.
func NewLAMB(params []*autograd.Var, o Options) *Optimizer { return newOpt(KindLAMB, params, o) }

// New returns an optimizer of the given kind.
func New(kind Kind, params []*autograd.Var, o Options) *Optimizer { return newOpt(kind, params, o) }

func newOpt(kind Kind, params []*autograd.Var, o Options) *Optimizer {
	if kind < KindSGD || kind > KindLAMB {
		panic(tensor.Errorf("optim.New", "unknown kind %v", kind))
	}
	opt := &Optimizer{kind: kind, state: map[*autograd.Var]*paramState{}}
	opt.def = opt.withDefaults(o)
	opt.AddGroup(params, opt.def)
	return opt
}

func (opt *Optimizer) withDefaults(o Options) Options {
	def := func(p *float64, v float64) {
		if *p == 0 {
			*p = v
		}
	}
	switch opt.kind {
	case KindSGD:
		def(&o.LR, 1e-3)
	case KindAdam, KindAdamW:
		def(&o.LR, 1e-3)
		def(&o.Beta1, 0.9)
		def(&o.Beta2, 0.999)
		def(&o.Eps, 1e-8)
	case KindRMSProp:
		def(&o.LR, 1e-2)
		def(&o.Alpha, 0.99)
		def(&o.Eps, 1e-8)
	case KindLARS:
		def(&o.LR, 1e-3)
		def(&o.TrustCoefficient, 1e-3)
	case KindLAMB:
		def(&o.LR, 1e-3)
		def(&o.Beta1, 0.9)
		def(&o.Beta2, 0.999)
		def(&o.Eps, 1e-6)
	}
	return o
}

func (opt *Optimizer) check(o Options) {
	bad := func(msg string, args ...any) {
		panic(tensor.Errorf(fmt.Sprintf("optim.%v", opt.kind), msg, args...))
	}
	finite := func(name string, v float64) {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			bad("%s = %v must be finite and >= 0", name, v)
		}
	}
	finite("LR", o.LR)
	finite("WeightDecay", o.WeightDecay)
	finite("Momentum", o.Momentum)
	finite("Dampening", o.Dampening)
	finite("Eps", o.Eps)
	finite("TrustCoefficient", o.TrustCoefficient)
	for _, b := range []struct {
		name string
		v    float64
	}{{"Beta1", o.Beta1}, {"Beta2", o.Beta2}, {"Alpha", o.Alpha}} {
		if !(b.v >= 0 && b.v < 1) {
			bad("%s = %v must be in [0, 1)", b.name, b.v)
		}
	}
	if o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0) {
		bad("Nesterov momentum requires Momentum > 0 and Dampening 0")
	}
}

// AddGroup adds a parameter group with hyperparameters o (zero fields take
// the algorithm's defaults, see Options) and returns it. Use
// opt.Defaults() as a starting point to override only some fields. A
// parameter may belong to one group only; it panics otherwise.
func (opt *Optimizer) AddGroup(params []*autograd.Var, o Options) *Group {
	o = opt.withDefaults(o)
	opt.check(o)
	seen := map[*autograd.Var]bool{}
	for _, g := range opt.groups {
		for _, p := range g.Params {
			seen[p] = true
		}
	}
	for i, p := range params {
		if p == nil {
			panic(tensor.Errorf("optim.AddGroup", "parameter %d is nil", i))
		}
		if seen[p] {
			panic(tensor.Errorf("optim.AddGroup", "parameter %d is already in a group", i))
		}
		seen[p] = true
	}
	g := &Group{Params: append([]*autograd.Var(nil), params...), Options: o, InitialLR: o.LR}
	opt.groups = append(opt.groups, g)
	return g
}

// Kind returns the algorithm.
func (opt *Optimizer) Kind() Kind { return opt.kind }

// Defaults returns the options the optimizer was created with (defaults
// filled in).
func (opt *Optimizer) Defaults() Options { return opt.def }

// Groups returns the live parameter groups.
func (opt *Optimizer) Groups() []*Group { return opt.groups }

// Params returns every parameter, group by group, in order. A parameter's
// index in this list names it in the state dict.
func (opt *Optimizer) Params() []*autograd.Var {
	var ps []*autograd.Var
	for _, g := range opt.groups {
		ps = append(ps, g.Params...)
	}
	return ps
}

// SetLR sets the learning rate of every group; a negative or non-finite
// rate panics with a *tensor.Error.
func (opt *Optimizer) SetLR(lr float64) {
	if !(lr >= 0) || math.IsInf(lr, 0) {
		panic(tensor.Errorf("optim.SetLR", "LR = %v must be finite and >= 0", lr))
	}
	for _, g := range opt.groups {
		g.LR = lr
	}
}

// ClearGrad sets the gradient of every parameter to nil, like PyTorch's
// zero_grad(set_to_none=True): the next backward pass stores fresh
// gradients instead of adding into zeroed buffers, and parameters that get
// no gradient are skipped by Step.
func (opt *Optimizer) ClearGrad() {
	for _, g := range opt.groups {
		for _, p := range g.Params {
			p.SetGrad(nil)
		}
	}
}

// ZeroGrad sets the gradient of every parameter that has one to zero, in
// place (autograd.Var.ZeroGrad), so the next backward pass adds into the
// same buffers.
func (opt *Optimizer) ZeroGrad() {
	for _, g := range opt.groups {
		for _, p := range g.Params {
			p.ZeroGrad()
		}
	}
}

// ErrShape is wrapped by the errors of Step and LoadStateDict that report a
// gradient or state tensor whose shape does not match its parameter.
var ErrShape = errors.New("optim: shape mismatch")

// Step updates every parameter that has a gradient (parameters whose Grad is
// nil are skipped, as in PyTorch). It returns an error, and may have updated
// only some parameters, when a gradient does not match its parameter or a
// device op fails. A group whose fields were set to values the constructors
// refuse (a negative LR, a beta outside [0, 1), ...) is an error (a
// *tensor.Error naming the value) before any parameter is updated.
func (opt *Optimizer) Step() error {
	for _, g := range opt.groups {
		if err := tensor.Try(func() { opt.check(g.Options) }); err != nil {
			return err
		}
	}
	for gi, g := range opt.groups {
		for pi, p := range g.Params {
			grad := p.Grad()
			if grad == nil {
				continue
			}
			w := p.Value()
			if !grad.SameShape(w) {
				return fmt.Errorf("%w: group %d parameter %d is %v, its gradient %v", ErrShape, gi, pi, w.Shape(), grad.Shape())
			}
			if grad.DType() != w.DType() || grad.Device() != w.Device() {
				return fmt.Errorf("optim: group %d parameter %d is %v on %s, its gradient %v on %s",
					gi, pi, w.DType(), w.Device().Name(), grad.DType(), grad.Device().Name())
			}
			st := opt.state[p]
			if st == nil {
				st = &paramState{bufs: map[string]*tensor.Tensor{}}
				opt.state[p] = st
			}
			var err error
			if e := tensor.Try(func() { err = opt.update(&g.Options, w, grad, st) }); e != nil {
				return fmt.Errorf("optim: %v step, group %d parameter %d: %w", opt.kind, gi, pi, e)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// StepCount returns how many updates parameter p has received (0 if none or
// if p is not optimized here).
func (opt *Optimizer) StepCount(p *autograd.Var) int {
	if st := opt.state[p]; st != nil {
		return int(st.step)
	}
	return 0
}
