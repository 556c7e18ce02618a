package robust

import (
	"github.com/tessera-ml/tessera/tensor"
)

// GeoMed approximates the geometric median (the point minimising the sum
// of Euclidean distances to the rows) by smoothed Weiszfeld iterations
// (Pillutla et al., RFA): z ← Σ wᵢxᵢ / Σ wᵢ with wᵢ = 1/max(ν, ‖z−xᵢ‖).
// It starts from the coordinate-wise median (a start at the mean needs
// many iterations to walk back from an arbitrarily far outlier) and stops
// after Iters iterations or when z moves by less than Tol·(1+‖z‖). Needs
// n ≥ 2f+1 (breakdown point 1/2). Cost O(T·nd). Computed in float64.
type GeoMed struct {
	F     int
	Nu    float64 // smoothing ν; 0 means 0.1 (ByzFL's default)
	Iters int     // 0 means 100
	Tol   float64 // 0 means 1e-7
}

// Name returns "geomed".
func (GeoMed) Name() string { return "geomed" }

// Aggregate returns the smoothed geometric median of the rows.
func (g GeoMed) Aggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	n := checkInput("robust.GeoMed", x)
	checkF("robust.GeoMed", g.F)
	if n < 2*g.F+1 {
		return nil, tooFew("geomed", "n ≥ 2f+1", n, g.F)
	}
	nu, iters, tol := g.Nu, g.Iters, g.Tol
	if nu <= 0 {
		nu = 0.1
	}
	if iters <= 0 {
		iters = 100
	}
	if tol <= 0 {
		tol = 1e-7
	}
	x64 := x.Cast(tensor.Float64)
	z, _ := tensor.Median(x64, 0, true) // [1, d]
	for range iters {
		dist := tensor.Norm(tensor.Sub(x64, z), 2, true, 1) // [n, 1]
		w := tensor.Reciprocal(tensor.MaximumScalar(dist, nu))
		nz := tensor.Div(tensor.Sum(tensor.Mul(w, x64), true, 0), tensor.Sum(w, true))
		step := tensor.Norm(tensor.Sub(nz, z), 2, false).Item()
		z = nz
		if step <= tol*(1+tensor.Norm(z, 2, false).Item()) {
			break
		}
	}
	return z.Reshape(-1).Cast(x.DType()), nil
}
