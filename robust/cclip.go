package robust

import (
	"github.com/tessera-ml/tessera/tensor"
)

// CenteredClipping (Karimireddy, He and Jaggi, ICML 2021) clips every
// vector's deviation from a centre v to length Tau and moves v by their
// mean, Iters times:
//
//	v ← v + (1/n) Σᵢ (xᵢ − v) · min(1, τ/‖xᵢ − v‖)
//
// The centre starts at the previous call's result (zeros at first), which
// is why the rule is meant for workers that send momentum: their vectors
// change slowly, so the last aggregate is a good centre. A CenteredClipping
// is therefore stateful; use one per training run (Reset starts over). It
// has no hard precondition on n (a Byzantine vector moves v by at most
// τ/n per iteration), so F is informational. Cost O(L·nd).
type CenteredClipping struct {
	F      int
	Tau    float64 // clipping radius τ (> 0)
	Iters  int     // L; 0 means 1 (ByzFL's default)
	center *tensor.Tensor
}

// Name returns "cclip".
func (*CenteredClipping) Name() string { return "cclip" }

// Reset forgets the centre, so the next call starts from zeros.
func (c *CenteredClipping) Reset() { c.center = nil }

// Clone returns a copy with the same centre (for attackers that probe the
// rule without disturbing it).
func (c *CenteredClipping) Clone() Aggregator {
	cp := *c
	return &cp
}

// Aggregate returns the clipped centre and keeps it for the next call.
func (c *CenteredClipping) Aggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	checkInput("robust.CenteredClipping", x)
	checkF("robust.CenteredClipping", c.F)
	if !(c.Tau > 0) {
		panic(&tensor.Error{Op: "robust.CenteredClipping", Msg: "Tau must be > 0"})
	}
	iters := max(c.Iters, 1)
	v := c.center
	if v == nil || v.Dim(1) != x.Dim(1) || v.Device() != x.Device() {
		v = tensor.ZerosLike(x.Narrow(0, 0, 1).Cast(tensor.Float64))
	}
	x64 := x.Cast(tensor.Float64)
	for range iters {
		dev := tensor.Sub(x64, v)           // [n, d]
		nrm := tensor.Norm(dev, 2, true, 1) // [n, 1]
		scale := tensor.MinimumScalar(tensor.Div(tensor.FullLike(nrm, c.Tau), tensor.MaximumScalar(nrm, 1e-300)), 1)
		v = tensor.Add(v, tensor.Mean(tensor.Mul(dev, scale), true, 0))
	}
	c.center = v
	return v.Reshape(-1).Cast(x.DType()), nil
}
