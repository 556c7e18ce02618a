package optim

import (
	"math"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// GradNorm returns the Euclidean norm of all the parameters' gradients taken
// together, as if they were one vector (computed in float64). Parameters
// without a gradient are skipped.
func GradNorm(params []*autograd.Var) float64 {
	var ss float64
	for _, p := range params {
		if g := p.Grad(); g != nil {
			ss += tensor.Sum(tensor.Square(g.Cast(tensor.Float64)), false).Item()
		}
	}
	return math.Sqrt(ss)
}

// ClipGradNorm scales the gradients of params in place so that their global
// Euclidean norm is at most maxNorm, as torch.nn.utils.clip_grad_norm_: with
// total the norm before clipping, every gradient is multiplied by
// maxNorm/(total+1e-6) when that factor is below 1. It returns total.
func ClipGradNorm(params []*autograd.Var, maxNorm float64) float64 {
	if !(maxNorm >= 0) {
		panic(tensor.Errorf("optim.ClipGradNorm", "maxNorm must be >= 0"))
	}
	total := GradNorm(params)
	coef := maxNorm / (total + 1e-6)
	if coef < 1 || math.IsNaN(coef) {
		for _, p := range params {
			if g := p.Grad(); g != nil {
				tensor.UnaryInto(tensor.OpAffine, g, g, coef, 0)
			}
		}
	}
	return total
}

// ClipGradValue clamps every gradient element of params to [-clip, clip] in
// place, as torch.nn.utils.clip_grad_value_.
func ClipGradValue(params []*autograd.Var, clip float64) {
	if !(clip >= 0) {
		panic(tensor.Errorf("optim.ClipGradValue", "clip must be >= 0"))
	}
	for _, p := range params {
		if g := p.Grad(); g != nil {
			tensor.UnaryInto(tensor.OpClamp, g, g, -clip, clip)
		}
	}
}
