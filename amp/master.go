package amp

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// CastModule returns a structural copy of m whose parameters are new
// leaves holding m's parameter values converted to dt (bfloat16 or
// float16 for a low-precision model; nn.WithParamList makes the copy).
// Buffers (BatchNorm's running statistics) are shared with m and keep
// their dtype. The new values are counted as parameters in the memory
// statistics (tensor.MemoryStats), in the ledger of the originals. m is not changed; drop it when its float32 parameters are
// no longer needed (the master copies of NewOptimizer are made from the
// low-precision values).
func CastModule(m nn.Module, dt tensor.DType) nn.Module {
	if !dt.IsFloat() {
		panic(tensor.Errorf("amp.CastModule", "dtype %s is not a float type", dt))
	}
	ps := nn.Params(m)
	low := make([]*autograd.Var, len(ps))
	for i, p := range ps {
		v := p.Value().Cast(dt).Contiguous()
		if v == p.Value() {
			v = v.Clone()
		}
		tensor.ChargeMemoryLike(v, tensor.MemoryParameters, p.Value())
		low[i] = autograd.NewVar(v, p.RequiresGrad())
	}
	return nn.WithParamList(m, low)
}

// Config configures an Optimizer.
type Config struct {
	// Scaler, when not nil, is the dynamic loss scaler of float16
	// training: the model gradients are divided by its scale on their way
	// to the masters and a step with an inf or NaN gradient is skipped.
	// bfloat16 has float32's range and usually needs none.
	Scaler *GradScaler
	// MaxGradNorm > 0 clips the global norm of the unscaled gradients to
	// it (torch.nn.utils.clip_grad_norm_ on the master gradients).
	MaxGradNorm float64
}

// Optimizer is the master-weights arrangement of mixed-precision
// training (Micikevicius et al., 2018): the model computes with
// low-precision parameters (bfloat16 or float16) and gets low-precision
// gradients; an optim.Optimizer steps float32 master copies of the
// parameters, and the updated masters are rounded back into the model.
// For Adam the model state is then 2Ψ bytes of parameters, 2Ψ of
// gradients and 12Ψ of optimizer state (4Ψ master, 4Ψ m, 4Ψ v) for Ψ
// parameters: the 16Ψ that ZeRO partitions (Bytes measures it).
//
// The float32 gradient a master needs exists only while that master is
// stepped: Step converts one parameter's gradient at a time into a shared
// float32 scratch buffer the size of the largest parameter and steps that
// master alone (optimizer state is per parameter, so this is the same
// update as stepping all of them at once).
//
// In the memory statistics (tensor.MemoryStats, tensor.MemoryLedger) the
// masters count as optimizer state, in the ledger of their parameters,
// as do the inner optimizer's buffers; autograd counts the model
// gradients; the scratch buffer counts as other.
//
// Parameters may be views of a larger buffer (a ZeRO shard of a flat
// parameter buffer): the rounding back writes through SetValue, in place.
// An Optimizer is not safe for concurrent use.
type Optimizer struct {
	params  []*autograd.Var
	masters []*autograd.Var
	opt     *optim.Optimizer
	cfg     Config
	scratch *tensor.Tensor // float32, numel of the largest parameter, per device
	idx     map[*autograd.Var]int
}

// NewOptimizer makes float32 master copies of params (low-precision
// leaves, e.g. the parameters of CastModule's result) and builds the
// optimizer that steps them with build (any optimizer of package optim,
// with its groups and options; schedules drive Inner()). build must use
// exactly the masters it is given, each once, in any groups.
func NewOptimizer(params []*autograd.Var, build func(masters []*autograd.Var) *optim.Optimizer, cfg Config) *Optimizer {
	const op = "amp.NewOptimizer"
	if cfg.MaxGradNorm < 0 || math.IsNaN(cfg.MaxGradNorm) {
		panic(tensor.Errorf(op, "MaxGradNorm %v (need >= 0)", cfg.MaxGradNorm))
	}
	o := &Optimizer{params: params, cfg: cfg, idx: map[*autograd.Var]int{}}
	maxN := 0
	var dev tensor.Device
	for i, p := range params {
		if p == nil || !p.IsLeaf() {
			panic(tensor.Errorf(op, "parameter %d is not a leaf", i))
		}
		if !p.DType().IsFloat() {
			panic(tensor.Errorf(op, "parameter %d is %s (need a float dtype)", i, p.DType()))
		}
		if dev == nil {
			dev = p.Value().Device()
		} else if p.Value().Device() != dev {
			panic(tensor.Errorf(op, "parameters on %s and %s", dev.Name(), p.Value().Device().Name()))
		}
		mv := p.Value().Cast(tensor.Float32).Contiguous()
		if mv == p.Value() {
			mv = mv.Clone()
		}
		// The master is optimizer state, in the parameter's memory ledger.
		tensor.ChargeMemoryLike(mv, tensor.MemoryOptimizerState, p.Value())
		m := autograd.Param(mv)
		o.masters = append(o.masters, m)
		o.idx[m] = i
		maxN = max(maxN, p.Value().NumElements())
	}
	o.opt = build(o.masters)
	if o.opt == nil {
		panic(tensor.Errorf(op, "build returned no optimizer"))
	}
	inner := o.opt.Params()
	seen := make([]bool, len(params))
	for _, m := range inner {
		i, ok := o.idx[m]
		if !ok || seen[i] {
			panic(tensor.Errorf(op, "the optimizer must hold each master once and nothing else"))
		}
		seen[i] = true
	}
	if len(inner) != len(params) {
		panic(tensor.Errorf(op, "the optimizer holds %d of %d masters", len(inner), len(params)))
	}
	if maxN > 0 {
		o.scratch = tensor.EmptyOn(dev, tensor.Float32, maxN)
		tensor.ChargeMemoryLike(o.scratch, tensor.MemoryOther, params[0].Value())
	}
	return o
}

// Params returns the model's (low-precision) parameters.
func (o *Optimizer) Params() []*autograd.Var { return o.params }

// Masters returns the float32 master copies, in the order of Params.
func (o *Optimizer) Masters() []*autograd.Var { return o.masters }

// Inner returns the optimizer over the masters (for schedules, groups
// and learning rates).
func (o *Optimizer) Inner() *optim.Optimizer { return o.opt }

// Scaler returns the loss scaler (nil without one).
func (o *Optimizer) Scaler() *GradScaler { return o.cfg.Scaler }

// ZeroGrad zeroes the model gradients in place (autograd.Var.ZeroGrad).
func (o *Optimizer) ZeroGrad() {
	for _, p := range o.params {
		p.ZeroGrad()
	}
}

// scale is the loss scale the gradients carry (1 without a scaler).
func (o *Optimizer) scale() float64 {
	if o.cfg.Scaler == nil {
		return 1
	}
	return o.cfg.Scaler.Scale()
}

// Check is the local half of a step: it reports whether every model
// gradient is finite and the sum of squares of the unscaled gradients (in
// float32 accumulated in float64; 0 when MaxGradNorm is 0 and sqNorm is
// not needed, unless wantNorm). A sharded trainer combines both over its
// ranks (all finite; sum of the sums) and calls StepWith.
func (o *Optimizer) Check(wantNorm bool) (finite bool, sqNorm float64) {
	finite = true
	inv := 1 / o.scale()
	for _, p := range o.params {
		g := p.Grad()
		if g == nil {
			continue
		}
		if !AllFinite(g) {
			finite = false
			continue
		}
		if wantNorm {
			n := tensor.Sum(tensor.Square(g.Cast(tensor.Float32)), false).Item()
			sqNorm += n * inv * inv
		}
	}
	if !finite {
		sqNorm = math.Inf(1)
	}
	return finite, sqNorm
}

// Step checks the gradients (Check), clips them to MaxGradNorm when set,
// and runs StepWith. It reports whether the masters were updated.
func (o *Optimizer) Step() (stepped bool, err error) {
	finite, sq := o.Check(o.cfg.MaxGradNorm > 0)
	mul := 1.0
	if o.cfg.MaxGradNorm > 0 && finite {
		mul = ClipCoef(math.Sqrt(sq), o.cfg.MaxGradNorm)
	}
	return o.StepWith(finite, mul)
}

// ClipCoef is the factor that brings a gradient of the given global norm
// to at most maxNorm, as torch.nn.utils.clip_grad_norm_ computes it:
// min(1, maxNorm/(norm+1e-6)).
func ClipCoef(norm, maxNorm float64) float64 {
	return min(1, maxNorm/(norm+1e-6))
}

// StepWith is the step once the overflow verdict is known (finite, which
// a sharded trainer agrees on over all ranks). When finite is false the
// step is skipped: masters, optimizer state and model parameters are
// untouched. Otherwise each gradient is converted to float32, multiplied
// by mul/scale (mul is a clipping coefficient, 1 for none), its master
// stepped, and the master rounded back into the model parameter. A
// scaler, when configured, is told the verdict and updated either way.
// It reports whether the masters were updated; an error (a device
// failure, or a finite 16-bit gradient that overflows float32 once
// divided by a loss scale far below 1) may leave some masters updated.
func (o *Optimizer) StepWith(finite bool, mul float64) (stepped bool, err error) {
	if s := o.cfg.Scaler; s != nil {
		s.RecordInf(!finite)
		defer s.Update()
	}
	if !finite {
		return false, nil
	}
	mul /= o.scale()
	for i, p := range o.params {
		g := p.Grad()
		if g == nil {
			continue
		}
		m := o.masters[i]
		n := g.NumElements()
		buf := o.scratch.Narrow(0, 0, n).Reshape(g.Shape()...)
		finite := true
		if e := tensor.Try(func() { finite = UnscaleInto(buf, g, mul) }); e != nil {
			return false, fmt.Errorf("amp: parameter %d: %w", i, e)
		}
		if !finite { // only a loss scale far below 1 can get here
			return false, fmt.Errorf("amp: parameter %d: the gradient times %g overflows float32", i, mul)
		}
		m.SetGrad(buf)
		err := o.opt.Step() // only m has a gradient
		m.SetGrad(nil)
		if err != nil {
			return false, err
		}
		if e := tensor.Try(func() { p.SetValue(m.Value()) }); e != nil {
			return false, fmt.Errorf("amp: parameter %d: %w", i, e)
		}
	}
	return true, nil
}

// CopyToModel rounds every master into its model parameter (after
// loading masters from a checkpoint).
func (o *Optimizer) CopyToModel() {
	for i, p := range o.params {
		p.SetValue(o.masters[i].Value())
	}
}

// StateDict returns the masters ("master.<i>", float32, the live
// tensors), the inner optimizer's state prefixed "optim." and, with a
// scaler, its state prefixed "scaler.".
func (o *Optimizer) StateDict() map[string]*tensor.Tensor {
	sd := map[string]*tensor.Tensor{}
	for i, m := range o.masters {
		sd["master."+strconv.Itoa(i)] = m.Value()
	}
	for k, v := range o.opt.StateDict() {
		sd["optim."+k] = v
	}
	if o.cfg.Scaler != nil {
		for k, v := range o.cfg.Scaler.StateDict() {
			sd["scaler."+k] = v
		}
	}
	return sd
}

// LoadStateDict restores a state saved by StateDict, copies the masters
// into the model parameters (rounded), and returns an error (changing
// nothing) when a master is missing or has the wrong shape, or the inner
// optimizer or the scaler refuses its part.
func (o *Optimizer) LoadStateDict(sd map[string]*tensor.Tensor) error {
	opt, scl := map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	for k, v := range sd {
		switch {
		case strings.HasPrefix(k, "master."):
			i, err := strconv.Atoi(strings.TrimPrefix(k, "master."))
			if err != nil || i < 0 || i >= len(o.masters) {
				return fmt.Errorf("amp: unknown state %q", k)
			}
			if !v.Shape().Equal(o.masters[i].Shape()) {
				return fmt.Errorf("amp: state %q has shape %v, master %v", k, v.Shape(), o.masters[i].Shape())
			}
		case strings.HasPrefix(k, "optim."):
			opt[strings.TrimPrefix(k, "optim.")] = v
		case strings.HasPrefix(k, "scaler.") && o.cfg.Scaler != nil:
			scl[strings.TrimPrefix(k, "scaler.")] = v
		default:
			return fmt.Errorf("amp: unknown state %q", k)
		}
	}
	for i := range o.masters {
		if sd["master."+strconv.Itoa(i)] == nil {
			return fmt.Errorf("amp: state has no master.%d", i)
		}
	}
	if o.cfg.Scaler != nil {
		probe := NewGradScaler(o.cfg.Scaler.Options())
		if err := probe.LoadStateDict(scl); err != nil {
			return err
		}
	}
	if err := o.opt.LoadStateDict(opt); err != nil {
		return err
	}
	if o.cfg.Scaler != nil {
		_ = o.cfg.Scaler.LoadStateDict(scl) // checked above
	}
	for i, m := range o.masters {
		m.SetValue(sd["master."+strconv.Itoa(i)])
	}
	o.CopyToModel()
	return nil
}
