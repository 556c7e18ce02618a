package optim

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// TestHyperParametersCheckedAtConstruction: optimizers, SetLR, Step (for
// fields changed after construction) and the schedules refuse values
// PyTorch refuses, with a *tensor.Error naming the value (issue 11, item
// 8); the edges of the valid ranges are accepted.
func TestHyperParametersCheckedAtConstruction(t *testing.T) {
	ps := func() []*autograd.Var { return []*autograd.Var{autograd.Param(tensor.Ones(tensor.Float32, 2))} }
	nan, inf := math.NaN(), math.Inf(1)
	sched := func(s Schedule) func() { return func() { NewScheduler(NewSGD(ps(), Options{LR: 0.1}), s) } }
	bad := []struct {
		want string
		f    func()
	}{
		{"optim.SGD: LR = -0.1 must be finite and >= 0", func() { NewSGD(ps(), Options{LR: -0.1}) }},
		{"optim.Adam: LR = NaN must be finite and >= 0", func() { NewAdam(ps(), Options{LR: nan}) }},
		{"optim.SGD: LR = +Inf must be finite and >= 0", func() { NewSGD(ps(), Options{LR: inf}) }},
		{"optim.SGD: WeightDecay = -1 must be finite and >= 0", func() { NewSGD(ps(), Options{WeightDecay: -1}) }},
		{"optim.SGD: Momentum = -0.9 must be finite and >= 0", func() { NewSGD(ps(), Options{Momentum: -0.9}) }},
		{"optim.SGD: Dampening = -0.5 must be finite and >= 0", func() { NewSGD(ps(), Options{Dampening: -0.5}) }},
		{"optim.Adam: Eps = -1e-08 must be finite and >= 0", func() { NewAdam(ps(), Options{Eps: -1e-8}) }},
		{"optim.LARS: TrustCoefficient = -0.001 must be finite and >= 0", func() { NewLARS(ps(), Options{TrustCoefficient: -1e-3}) }},
		{"optim.Adam: Beta1 = 1 must be in [0, 1)", func() { NewAdam(ps(), Options{Beta1: 1}) }},
		{"optim.AdamW: Beta2 = -0.5 must be in [0, 1)", func() { NewAdamW(ps(), Options{Beta2: -0.5}) }},
		{"optim.LAMB: Beta2 = 1.5 must be in [0, 1)", func() { NewLAMB(ps(), Options{Beta2: 1.5}) }},
		{"optim.RMSProp: Alpha = 1 must be in [0, 1)", func() { NewRMSProp(ps(), Options{Alpha: 1}) }},
		{"optim.Adam: Beta1 = NaN must be in [0, 1)", func() { NewAdam(ps(), Options{Beta1: nan}) }},
		{"optim.SGD: Nesterov momentum requires Momentum > 0 and Dampening 0", func() { NewSGD(ps(), Options{Nesterov: true}) }},
		{"optim.SGD: LR = -2 must be finite and >= 0", func() {
			o := NewSGD(ps(), Options{})
			o.AddGroup(ps(), Options{LR: -2})
		}},
		{"optim.SetLR: LR = -1 must be finite and >= 0", func() { NewSGD(ps(), Options{}).SetLR(-1) }},
		{"optim.SetLR: LR = NaN must be finite and >= 0", func() { NewSGD(ps(), Options{}).SetLR(nan) }},
		{"optim.StepDecay: Gamma = -0.5 must be finite and >= 0", sched(StepDecay{StepSize: 2, Gamma: -0.5})},
		{"optim.StepDecay: StepSize must be > 0", sched(StepDecay{Gamma: 0.5})},
		{"optim.Cosine: MinLR = -0.01 must be finite and >= 0", sched(Cosine{Steps: 10, MinLR: -0.01})},
		{"optim.Warmup: Steps = -1 and StartFactor = 0.1", sched(Warmup{Steps: -1, StartFactor: 0.1})},
		{"optim.Warmup: Steps = 5 and StartFactor = 2", sched(Warmup{Steps: 5, StartFactor: 2})},
		{"optim.OneCycle: PctStart = 1.5, DivFactor = 25", sched(OneCycle{Steps: 10, PctStart: 1.5})},
		{"optim.OneCycle: PctStart = 0.3, DivFactor = -2", sched(OneCycle{Steps: 10, DivFactor: -2})},
	}
	for _, c := range bad {
		requireMisuse(t, c.want, c.f)
	}

	// Fields changed after construction: Step refuses before updating anything.
	p := ps()
	o := NewAdam(p, Options{LR: 0.1})
	p[0].SetGrad(tensor.Ones(tensor.Float32, 2))
	o.Groups()[0].Beta1 = 1
	err := o.Step()
	var te *tensor.Error
	require.ErrorAs(t, err, &te)
	require.Contains(t, err.Error(), "optim.Adam: Beta1 = 1 must be in [0, 1)")
	require.Equal(t, []float32{1, 1}, p[0].Value().Float32s(), "nothing updated")
	o.Groups()[0].Beta1 = 0
	require.NoError(t, o.Step())
	require.NotEqual(t, []float32{1, 1}, p[0].Value().Float32s())

	good := []func(){
		func() { NewSGD(ps(), Options{LR: 0.1, Momentum: 0.9, Nesterov: true}) },
		func() { NewSGD(ps(), Options{}).SetLR(0) },
		func() { NewRMSProp(ps(), Options{Alpha: 0.5, Momentum: 0.9, Centered: true}) },
		sched(StepDecay{StepSize: 1, Gamma: 0}),
		sched(Cosine{Steps: 3}),
		sched(Warmup{Steps: 0, StartFactor: 1}),
		sched(OneCycle{Steps: 10, PctStart: 0.5}),
	}
	for i, f := range good {
		require.NoError(t, tensor.Try(f), "valid case %d", i)
	}
}
