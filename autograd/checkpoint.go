package autograd

import "github.com/tessera-ml/tessera/tensor"

// Checkpoint computes f(inputs) without keeping f's intermediate results
// (activation checkpointing): the forward pass runs without recording, and
// the backward pass runs f again on the saved inputs and differentiates
// the recomputation. Memory for f's activations is traded for a second
// forward pass (f's intermediate results live only while f runs).
//
// The recomputed graph is run by a nested backward pass, so parameters that
// f uses (captured leaves, e.g. a layer's weights) get their gradients
// accumulated and their hooks fired as usual. Caveats: f must compute the
// same values again (reset any random generator it draws from, e.g. a
// Dropout's, to the same state, or avoid randomness); parameters used
// inside f should not also be used outside it (their hooks would fire once
// for each pass); a CreateGraph pass through a checkpoint panics; and the
// backward pass must run where recording is enabled (not inside NoGrad).
func Checkpoint(f func(xs []*Var) *Var, inputs ...*Var) *Var {
	detached := make([]*Var, len(inputs))
	for i, in := range inputs {
		detached[i] = Constant(in.value)
	}
	// f runs on constants; its graph (only parameters it captures can make
	// the result require a gradient) is dropped as soon as f returns.
	rule := AutocastRule() // the recomputation casts as the forward pass did
	out := f(detached)
	needed := out.requiresGrad
	out = &Var{value: out.value, seq: seqCounter.Add(1)}
	for _, in := range inputs {
		needed = needed || in.requiresGrad
	}
	if !needed || !out.value.DType().IsFloat() || !IsGradEnabled() {
		return out
	}
	out.requiresGrad = true
	out.node = &node{op: "autograd.Checkpoint", inputs: inputs, out: out, backward: func(c *Ctx, g *Var) []*Var {
		if c.CreateGraph() {
			panic(tensor.Errorf("autograd.Checkpoint", "a CreateGraph pass cannot go through a checkpoint"))
		}
		leaves := make([]*Var, len(inputs))
		for i := range leaves {
			in := c.Input(i)
			leaves[i] = NewVar(in.value, c.NeedsGrad(i) && in.value.DType().IsFloat())
		}
		var y *Var
		if rule != nil {
			WithAutocast(rule, func() { y = f(leaves) })
		} else {
			y = f(leaves)
		}
		res := make([]*Var, len(leaves))
		if !y.requiresGrad {
			return res
		}
		if err := Backward([]*Var{y}, []*tensor.Tensor{g.value}, BackwardOpts{}); err != nil {
			panic(&tensor.Error{Op: "autograd.Checkpoint", Msg: "recomputed backward", Err: err})
		}
		for i, l := range leaves {
			if gr := l.Grad(); gr != nil {
				res[i] = Constant(gr)
			}
		}
		return res
	}}
	return out
}
