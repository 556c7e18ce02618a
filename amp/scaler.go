package amp

import (
	"fmt"
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// ScalerOptions configure a GradScaler. Zero fields take torch's defaults
// (torch.cuda.amp.GradScaler): InitScale 2^16, GrowthFactor 2,
// BackoffFactor 0.5, GrowthInterval 2000.
type ScalerOptions struct {
	InitScale      float64 // the first loss scale
	GrowthFactor   float64 // the scale is multiplied by it after GrowthInterval good steps (> 1)
	BackoffFactor  float64 // the scale is multiplied by it after a step with an inf or NaN gradient (in (0, 1))
	GrowthInterval int     // consecutive good steps before the scale grows
}

func (o ScalerOptions) withDefaults() ScalerOptions {
	if o.InitScale == 0 {
		o.InitScale = 65536
	}
	if o.GrowthFactor == 0 {
		o.GrowthFactor = 2
	}
	if o.BackoffFactor == 0 {
		o.BackoffFactor = 0.5
	}
	if o.GrowthInterval == 0 {
		o.GrowthInterval = 2000
	}
	return o
}

// GradScaler is dynamic loss scaling for float16 training, as
// torch.cuda.amp.GradScaler: the loss is multiplied by the scale before
// the backward pass so that small gradients survive in float16; before the
// optimizer step the gradients are divided by it again (Unscale). A step
// whose gradients hold an inf or NaN is skipped and the scale multiplied by
// BackoffFactor; after GrowthInterval consecutive good steps it is
// multiplied by GrowthFactor.
//
// The usual loop, with float32 parameters (autocast) or with master weights
// (Optimizer, which calls the scaler itself):
//
//	loss := ...
//	scaler.ScaleLoss(loss).Backward()
//	stepped, err := scaler.Step(opt) // unscale, check, step or skip
//	scaler.Update()                  // lower or raise the scale
//
// A sharded trainer calls Unscale on its own gradients, combines the
// found-inf flags of all ranks, and passes the result to RecordInf before
// deciding to step, so every rank agrees. A GradScaler is not safe for
// concurrent use.
type GradScaler struct {
	o             ScalerOptions
	scale         float64
	growthTracker int  // consecutive good steps since the last change
	foundInf      bool // an inf or NaN was seen in this iteration
	unscaled      bool // Unscale ran in this iteration
}

// NewGradScaler returns a scaler with the given options (zero fields take
// the defaults). It panics with a *tensor.Error on a non-positive
// InitScale, a GrowthFactor not above 1, a BackoffFactor outside (0, 1) or
// a negative GrowthInterval.
func NewGradScaler(o ScalerOptions) *GradScaler {
	o = o.withDefaults()
	checkScaler("amp.NewGradScaler", o, o.InitScale)
	return &GradScaler{o: o, scale: o.InitScale}
}

func checkScaler(op string, o ScalerOptions, scale float64) {
	switch {
	case !(scale > 0) || math.IsInf(scale, 0):
		panic(tensor.Errorf(op, "scale %v (need a finite value > 0)", scale))
	case !(o.GrowthFactor > 1) || math.IsInf(o.GrowthFactor, 0):
		panic(tensor.Errorf(op, "growth factor %v (need a finite value > 1)", o.GrowthFactor))
	case !(o.BackoffFactor > 0 && o.BackoffFactor < 1):
		panic(tensor.Errorf(op, "backoff factor %v (need 0 < f < 1)", o.BackoffFactor))
	case o.GrowthInterval < 1:
		panic(tensor.Errorf(op, "growth interval %d (need >= 1)", o.GrowthInterval))
	}
}

// Scale returns the current loss scale.
func (s *GradScaler) Scale() float64 { return s.scale }

// Options returns the scaler's options (with the defaults filled in).
func (s *GradScaler) Options() ScalerOptions { return s.o }

// GrowthTracker returns the number of consecutive good steps counted
// toward the next growth of the scale.
func (s *GradScaler) GrowthTracker() int { return s.growthTracker }

// FoundInf reports whether an inf or NaN gradient was recorded in this
// iteration (by Unscale, Step or RecordInf); Update clears it.
func (s *GradScaler) FoundInf() bool { return s.foundInf }

// ScaleLoss returns loss multiplied by the scale (a differentiable op), in
// the loss's dtype. Call Backward on the result.
func (s *GradScaler) ScaleLoss(loss *autograd.Var) *autograd.Var {
	return autograd.MulScalar(loss, s.scale)
}

// Unscale divides the gradients of params by the scale in place, once per
// iteration (later calls before Update do nothing and return the recorded
// flag), and reports whether one of them holds an inf or NaN. It records
// the finding for Step and Update. Parameters without a gradient are
// skipped. Gradients in float16 are divided in float16 (their values only
// get smaller, so nothing overflows); keep float32 gradients for
// optimizers that step float32 parameters.
func (s *GradScaler) Unscale(params []*autograd.Var) (foundInf bool) {
	if s.unscaled {
		return s.foundInf
	}
	s.unscaled = true
	inv := 1 / s.scale
	for _, p := range params {
		g := p.Grad()
		if g == nil {
			continue
		}
		if !AllFinite(g) {
			s.foundInf = true
			continue
		}
		tensor.UnaryInto(tensor.OpAffine, g, g, inv, 0)
	}
	return s.foundInf
}

// RecordInf ors found into the iteration's overflow flag: a sharded
// trainer records the flag combined over all ranks, so that every rank
// skips the same steps and keeps the same scale.
func (s *GradScaler) RecordInf(found bool) {
	s.foundInf = s.foundInf || found
}

// Step unscales the gradients of opt's parameters (unless Unscale already
// ran in this iteration) and runs opt.Step when all of them are finite. It
// reports whether the step ran; a skipped step leaves the parameters and
// the optimizer's state untouched. Call Update afterwards.
func (s *GradScaler) Step(opt *optim.Optimizer) (stepped bool, err error) {
	if s.Unscale(opt.Params()); s.foundInf {
		return false, nil
	}
	if err := opt.Step(); err != nil {
		return false, err
	}
	return true, nil
}

// Update ends the iteration: after a step with an inf or NaN gradient the
// scale is multiplied by BackoffFactor and the count of good steps
// restarts; otherwise the count grows and, when it reaches
// GrowthInterval, the scale is multiplied by GrowthFactor (unless that
// would overflow float32) and the count restarts.
func (s *GradScaler) Update() {
	if s.foundInf {
		s.scale *= s.o.BackoffFactor
		s.growthTracker = 0
	} else if s.growthTracker++; s.growthTracker >= s.o.GrowthInterval {
		if next := s.scale * s.o.GrowthFactor; next <= math.MaxFloat32 {
			s.scale = next
		}
		s.growthTracker = 0
	}
	s.foundInf, s.unscaled = false, false
}

// StateDict returns the scaler's state as torch names it: "scale",
// "growth_factor", "backoff_factor" (Float64 scalars), "growth_interval"
// and "_growth_tracker" (Int64 scalars).
func (s *GradScaler) StateDict() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"scale":           tensor.Scalar(s.scale, tensor.Float64),
		"growth_factor":   tensor.Scalar(s.o.GrowthFactor, tensor.Float64),
		"backoff_factor":  tensor.Scalar(s.o.BackoffFactor, tensor.Float64),
		"growth_interval": tensor.Scalar(float64(s.o.GrowthInterval), tensor.Int64),
		"_growth_tracker": tensor.Scalar(float64(s.growthTracker), tensor.Int64),
	}
}

// LoadStateDict restores a state saved by StateDict. Every key must be
// present with a one-element tensor and valid values; otherwise it
// returns an error and the scaler is unchanged.
func (s *GradScaler) LoadStateDict(sd map[string]*tensor.Tensor) error {
	get := func(k string) (float64, error) {
		t, ok := sd[k]
		if !ok || t == nil {
			return 0, fmt.Errorf("amp: scaler state has no %q", k)
		}
		if t.NumElements() != 1 {
			return 0, fmt.Errorf("amp: scaler state %q has shape %v (want one element)", k, t.Shape())
		}
		return t.Item(), nil
	}
	var v [5]float64
	for i, k := range []string{"scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker"} {
		x, err := get(k)
		if err != nil {
			return err
		}
		v[i] = x
	}
	for k := range sd {
		switch k {
		case "scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker":
		default:
			return fmt.Errorf("amp: unknown scaler state %q", k)
		}
	}
	o := ScalerOptions{InitScale: s.o.InitScale, GrowthFactor: v[1], BackoffFactor: v[2], GrowthInterval: int(v[3])}
	if err := tensor.Try(func() { checkScaler("amp.GradScaler.LoadStateDict", o, v[0]) }); err != nil {
		return err
	}
	if v[4] < 0 || v[4] != math.Trunc(v[4]) {
		return fmt.Errorf("amp: scaler state _growth_tracker %v (want an integer >= 0)", v[4])
	}
	s.o, s.scale, s.growthTracker = o, v[0], int(v[4])
	s.foundInf, s.unscaled = false, false
	return nil
}
