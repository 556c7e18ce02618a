package autograd

import (
	"fmt"
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// GradCheck compares the gradients autograd computes for f at inputs with
// central finite differences, everything in float64. f must return a Var;
// a non-scalar result is reduced with a fixed random projection (so every
// output element is checked). Each input element is perturbed by ±eps; an
// element passes when |analytic - numeric| <= tol·(1 + |numeric|). It
// returns nil on success and an error naming the first mismatches otherwise.
// Inputs are converted to float64 CPU copies; f must be deterministic.
func GradCheck(f func(xs []*Var) *Var, inputs []*tensor.Tensor, eps, tol float64) error {
	xs := make([]*tensor.Tensor, len(inputs))
	for i, in := range inputs {
		xs[i] = in.To(tensor.CPU).Cast(tensor.Float64).Clone()
	}
	var proj *tensor.Tensor
	eval := func(vars []*Var) (*Var, error) {
		out := f(vars)
		if out == nil {
			return nil, fmt.Errorf("autograd.GradCheck: f returned nil")
		}
		out = Cast(out, tensor.Float64)
		if proj == nil {
			proj = tensor.NewGenerator(12345).Uniform(0.5, 1.5, tensor.Float64, out.Shape()...)
			// Alternate signs so cancellations are caught too.
			n := proj.NumElements()
			sg := make([]float64, n)
			for i := range sg {
				sg[i] = 1 - 2*float64(i%2)
			}
			proj = tensor.Mul(proj, tensor.FromSlice(sg, out.Shape()...))
		}
		if !out.Shape().Equal(proj.Shape()) {
			return nil, fmt.Errorf("autograd.GradCheck: output shape changed from %v to %v", proj.Shape(), out.Shape())
		}
		return Sum(Mul(out, Constant(proj)), false), nil
	}
	vars := make([]*Var, len(xs))
	for i, x := range xs {
		vars[i] = Param(x)
	}
	loss, err := eval(vars)
	if err != nil {
		return err
	}
	grads := make([]*Var, len(vars))
	if loss.RequiresGrad() {
		if grads, err = Grad([]*Var{loss}, vars, nil, BackwardOpts{}); err != nil {
			return fmt.Errorf("autograd.GradCheck: backward: %w", err)
		}
	} else {
		// The output does not depend on the inputs through recorded ops.
		for i, x := range xs {
			grads[i] = Constant(tensor.ZerosLike(x))
		}
	}
	scalar := func() (float64, error) {
		// Inputs stay differentiable: f may itself take gradients.
		cv := make([]*Var, len(xs))
		for i, x := range xs {
			cv[i] = Param(x)
		}
		l, err := eval(cv)
		if err != nil {
			return 0, err
		}
		return l.Item(), nil
	}
	var msgs []string
	for i, x := range xs {
		ga := grads[i].value.Float64s()
		n := x.NumElements()
		flat := x.Reshape(n)
		for j := range n {
			orig := flat.At(j)
			flat.Set(orig+eps, j)
			fp, err := scalar()
			if err != nil {
				return err
			}
			flat.Set(orig-eps, j)
			fm, err := scalar()
			if err != nil {
				return err
			}
			flat.Set(orig, j)
			num := (fp - fm) / (2 * eps)
			if d := math.Abs(ga[j] - num); !(d <= tol*(1+math.Abs(num))) {
				if len(msgs) < 5 {
					msgs = append(msgs, fmt.Sprintf("input %d element %d: analytic %.8g, numeric %.8g", i, j, ga[j], num))
				}
			}
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("autograd.GradCheck: gradients differ: %v", msgs)
	}
	return nil
}
