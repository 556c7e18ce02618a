package attack

import (
	"errors"
	"fmt"
	"math"

	"github.com/tessera-ml/tessera/robust"
	"github.com/tessera-ml/tessera/tensor"
)

// Input is what the attacker sees when the Byzantine workers' vectors are
// due.
type Input struct {
	Honest *tensor.Tensor    // [n−f, d] honest workers' vectors
	Own    *tensor.Tensor    // [f, d] the Byzantine workers' own vectors (may be nil)
	N, F   int               // workers and Byzantine workers
	Rule   robust.Aggregator // the server's rule (adaptive attackers)
	Gen    *tensor.Generator // randomness (Gaussian)
}

// Attack forges the Byzantine workers' vectors.
type Attack interface {
	// Name is the attack's short name, e.g. "ipm".
	Name() string
	// Forge returns the F vectors ([F, d]) the Byzantine workers send.
	Forge(in Input) (*tensor.Tensor, error)
}

// LabelAttack is implemented by attacks that poison the Byzantine workers'
// data: the trainer maps their labels through Label before computing their
// vectors.
type LabelAttack interface {
	Attack
	Label(y int64, classes int) int64
}

func check(in Input) (f, d int, err error) {
	if in.Honest == nil || in.Honest.NDim() != 2 || in.Honest.Dim(0) == 0 {
		return 0, 0, errors.New("attack: need the honest vectors as a non-empty [n-f, d] tensor")
	}
	if in.F < 0 || in.N != in.Honest.Dim(0)+in.F {
		return 0, 0, fmt.Errorf("attack: n=%d, f=%d do not match %d honest vectors", in.N, in.F, in.Honest.Dim(0))
	}
	return in.F, in.Honest.Dim(1), nil
}

// repeat stacks v ([d]) f times.
func repeat(v *tensor.Tensor, f int) *tensor.Tensor {
	return v.Reshape(1, -1).Expand(f, v.NumElements()).Contiguous()
}

// None is no attack: the Byzantine workers send their own vectors.
type None struct{}

// Name returns "none".
func (None) Name() string { return "none" }

// Forge returns in.Own.
func (None) Forge(in Input) (*tensor.Tensor, error) {
	f, d, err := check(in)
	if err != nil {
		return nil, err
	}
	if in.Own == nil {
		return tensor.ZerosLike(in.Honest).Narrow(0, 0, 0).Reshape(0, d), nil
	}
	if in.Own.Dim(0) != f {
		return nil, fmt.Errorf("attack: %d own vectors for f=%d", in.Own.Dim(0), f)
	}
	return in.Own, nil
}

// SignFlip sends −μ, the negated honest mean (ByzFL's SignFlipping).
type SignFlip struct{}

// Name returns "signflip".
func (SignFlip) Name() string { return "signflip" }

// Forge returns f copies of −μ.
func (SignFlip) Forge(in Input) (*tensor.Tensor, error) {
	f, _, err := check(in)
	if err != nil {
		return nil, err
	}
	return repeat(tensor.Neg(tensor.Mean(in.Honest, false, 0)), f), nil
}

// IPM is inner-product manipulation: −ε·μ. With f of n workers the mean
// becomes (n−f−fε)/n·μ, which reverses direction only for ε > (n−f)/f
// (4 at n = 10, f = 2).
type IPM struct{ Eps float64 }

// Name returns "ipm".
func (IPM) Name() string { return "ipm" }

// Forge returns f copies of −ε·μ.
func (a IPM) Forge(in Input) (*tensor.Tensor, error) {
	f, _, err := check(in)
	if err != nil {
		return nil, err
	}
	return repeat(tensor.MulScalar(tensor.Mean(in.Honest, false, 0), -a.Eps), f), nil
}

// ALIE is "A little is enough": μ − z·σ, with σ the coordinate-wise
// standard deviation of the honest vectors. When Auto is set, z is the
// paper's ALIEZ(n, f); otherwise Z.
type ALIE struct {
	Z    float64
	Auto bool
}

// Name returns "alie".
func (ALIE) Name() string { return "alie" }

// ZFor returns the z the attack uses at n workers, f Byzantine.
func (a ALIE) ZFor(n, f int) float64 {
	if a.Auto {
		return ALIEZ(n, f)
	}
	return a.Z
}

// Forge returns f copies of μ − z·σ.
func (a ALIE) Forge(in Input) (*tensor.Tensor, error) {
	f, _, err := check(in)
	if err != nil {
		return nil, err
	}
	return repeat(alieVector(in.Honest, a.ZFor(in.N, in.F)), f), nil
}

func alieVector(h *tensor.Tensor, z float64) *tensor.Tensor {
	mu := tensor.Mean(h, false, 0)
	if h.Dim(0) < 2 {
		return mu
	}
	sd := tensor.Std(h, 1, false, 0)
	return tensor.Sub(mu, tensor.MulScalar(sd, z))
}

// ALIEZ is the paper's z (Baruch et al., NeurIPS 2019, as in epfml's
// alittle.py): s = ⌊n/2+1⌋ − f workers must be won over, and
// z = Φ⁻¹((n−f−s)/(n−f)). It is 0 at n = 10, f = 2, and negative (an
// attack towards +σ) when s > (n−f)/2.
func ALIEZ(n, f int) float64 {
	s := n/2 + 1 - f
	p := float64(n-f-s) / float64(n-f)
	return math.Sqrt2 * math.Erfinv(2*p-1)
}

// Gaussian sends independent N(0, Sigma²) vectors.
type Gaussian struct{ Sigma float64 }

// Name returns "gaussian".
func (Gaussian) Name() string { return "gaussian" }

// Forge draws f vectors from in.Gen.
func (a Gaussian) Forge(in Input) (*tensor.Tensor, error) {
	f, d, err := check(in)
	if err != nil {
		return nil, err
	}
	if in.Gen == nil {
		return nil, errors.New("attack: gaussian needs Input.Gen")
	}
	return in.Gen.Normal(0, a.Sigma, in.Honest.DType(), f, d).To(in.Honest.Device()), nil
}

// LabelFlip is data poisoning: the Byzantine workers train honestly on
// labels y → classes−1−y and send what they compute.
type LabelFlip struct{}

// Name returns "labelflip".
func (LabelFlip) Name() string { return "labelflip" }

// Label maps y to classes−1−y.
func (LabelFlip) Label(y int64, classes int) int64 { return int64(classes) - 1 - y }

// Forge returns the workers' own (poisoned) vectors.
func (LabelFlip) Forge(in Input) (*tensor.Tensor, error) { return None{}.Forge(in) }

// Adaptive knows the rule: it tries the IPM (Base "ipm": −s·μ) or ALIE
// (Base "alie": μ − s·σ) vector at each scale s of Scales, runs the rule
// (a clone, for stateful rules) on the honest vectors plus f copies, and
// sends the one that moves the rule's output farthest from μ (ByzFL's
// Opt-IPM / Opt-ALIE do the same by a line search). Scales that make the
// rule fail are skipped; a non-finite output counts as the farthest. Cost: len(Scales) evaluations of the rule.
type Adaptive struct {
	Base   string
	Scales []float64
}

// DefaultScales is the grid Adaptive uses when Scales is empty.
var DefaultScales = []float64{0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 20, 50}

// Name returns "adaptive-<base>".
func (a Adaptive) Name() string { return "adaptive-" + a.Base }

// Forge returns the vectors of the most damaging scale.
func (a Adaptive) Forge(in Input) (*tensor.Tensor, error) {
	f, _, err := check(in)
	if err != nil {
		return nil, err
	}
	if in.Rule == nil {
		return nil, errors.New("attack: adaptive needs Input.Rule")
	}
	if a.Base != "ipm" && a.Base != "alie" {
		return nil, fmt.Errorf("attack: adaptive base %q (ipm or alie)", a.Base)
	}
	scales := a.Scales
	if len(scales) == 0 {
		scales = DefaultScales
	}
	mu := tensor.Mean(in.Honest, false, 0)
	var best *tensor.Tensor
	bestDist := -1.0
	for _, s := range scales {
		var v *tensor.Tensor
		if a.Base == "ipm" {
			v = tensor.MulScalar(mu, -s)
		} else {
			v = alieVector(in.Honest, s)
		}
		byz := repeat(v, f)
		rule := in.Rule
		if c, ok := rule.(robust.Cloner); ok {
			rule = c.Clone()
		}
		out, err := rule.Aggregate(tensor.Concat([]*tensor.Tensor{in.Honest, byz}, 0))
		if err != nil {
			continue
		}
		dist := tensor.Norm(tensor.Sub(out.Cast(tensor.Float64), mu.Cast(tensor.Float64)), 2, false).Item()
		if math.IsNaN(dist) {
			dist = math.Inf(1) // non-finite output (or an already diverged model): maximal damage
		}
		if dist > bestDist {
			best, bestDist = byz, dist
		}
	}
	if best == nil {
		return nil, fmt.Errorf("attack: the rule %s failed at every scale", in.Rule.Name())
	}
	return best, nil
}

// ByName returns the attack named name ("none", "signflip", "ipm",
// "alie", "gaussian", "labelflip", "adaptive-ipm", "adaptive-alie") with
// the given parameters: IPM's ε, ALIE's z (NaN: the paper's formula),
// Gaussian's σ.
func ByName(name string, eps, z, sigma float64) (Attack, error) {
	switch name {
	case "none":
		return None{}, nil
	case "signflip":
		return SignFlip{}, nil
	case "ipm":
		return IPM{Eps: eps}, nil
	case "alie":
		if math.IsNaN(z) {
			return ALIE{Auto: true}, nil
		}
		return ALIE{Z: z}, nil
	case "gaussian":
		return Gaussian{Sigma: sigma}, nil
	case "labelflip":
		return LabelFlip{}, nil
	case "adaptive-ipm":
		return Adaptive{Base: "ipm"}, nil
	case "adaptive-alie":
		return Adaptive{Base: "alie"}, nil
	}
	return nil, fmt.Errorf("attack: unknown attack %q", name)
}
