package robust

import (
	"math"
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

// Krum (Blanchard et al., NeurIPS 2017) scores each vector by the sum of
// its squared distances to its n−f−2 nearest other vectors and returns the
// vector with the lowest score (ties: the lowest index). M > 1 makes it
// Multi-Krum: the mean of the M lowest-scoring vectors (M = 0 or 1 is
// Krum; M above n−f is taken as n−f). Needs n ≥ 2f+3. Cost O(n²d): the distances are one GEMM
// (tensor.PairwiseSqDist), computed in float64.
//
// The neighbour count follows the paper (n−f−2); ByzFL uses n−f−1 and
// averages n−f vectors in its Multi-Krum.
type Krum struct {
	F int
	M int
}

// Name returns "krum", or "multikrum" when M > 1.
func (k Krum) Name() string {
	if k.M > 1 {
		return "multikrum"
	}
	return "krum"
}

// Aggregate returns the Krum (or Multi-Krum) choice among the rows.
func (k Krum) Aggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	n := checkInput("robust.Krum", x)
	checkF("robust.Krum", k.F)
	if n < 2*k.F+3 {
		return nil, tooFew(k.Name(), "n ≥ 2f+3", n, k.F)
	}
	m := min(max(k.M, 1), n-k.F) // Multi-Krum averages at most n−f
	scores := krumScores(sqDists(x), n-k.F-2)
	_, best := tensor.TopK(scores, m, 0, false)
	return tensor.Mean(tensor.IndexSelect(x, 0, best), false, 0), nil
}

// sqDists returns the [n, n] squared distances between the rows of x in
// float64, with +Inf on the diagonal (a vector is not its own neighbour).
func sqDists(x *tensor.Tensor) *tensor.Tensor {
	x64 := x.Cast(tensor.Float64)
	d := tensor.PairwiseSqDist(x64, x64)
	eye := tensor.Eye(x.Dim(0), tensor.Bool).To(x.Device())
	return tensor.MaskedFill(d, eye, math.Inf(1))
}

// krumScores sums, for each row of the distance matrix, its k smallest
// entries (k ≥ 1).
func krumScores(d *tensor.Tensor, k int) *tensor.Tensor {
	k = max(k, 1)
	v, _ := tensor.TopK(d, k, 1, false)
	return tensor.Sum(v, false, 1)
}

// Bulyan (El Mhamdi et al., ICML 2018) selects θ = n−2f vectors by
// iterated Krum (each round picks the Krum winner among the vectors left,
// scoring with max(k−f−2, 1) neighbours among the k left), then in each
// coordinate averages the β = θ−2f selected values closest to their median.
// Needs n ≥ 4f+3 (so at n = 10 it tolerates f ≤ 1). Cost O(n²d + n³).
type Bulyan struct{ F int }

// Name returns "bulyan".
func (Bulyan) Name() string { return "bulyan" }

// Aggregate returns Bulyan's aggregate of the rows.
func (b Bulyan) Aggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	n := checkInput("robust.Bulyan", x)
	checkF("robust.Bulyan", b.F)
	if n < 4*b.F+3 {
		return nil, tooFew("bulyan", "n ≥ 4f+3", n, b.F)
	}
	f := b.F
	d := sqDists(x).Float64s() // n×n, computed once
	left := make([]int, n)
	for i := range left {
		left[i] = i
	}
	theta := n - 2*f
	sel := make([]int64, 0, theta)
	for range theta {
		k := len(left)
		nb := max(k-f-2, 1)
		best, bestScore := -1, math.Inf(1)
		for _, i := range left {
			row := make([]float64, 0, k-1)
			for _, j := range left {
				if j != i {
					row = append(row, d[i*n+j])
				}
			}
			s := sumSmallest(row, nb)
			if s < bestScore || best < 0 {
				best, bestScore = i, s
			}
		}
		sel = append(sel, int64(best))
		for p, i := range left {
			if i == best {
				left = append(left[:p], left[p+1:]...)
				break
			}
		}
	}
	s := tensor.IndexSelect(x, 0, tensor.FromSlice(sel, len(sel)).To(x.Device())) // [θ, d]
	beta := theta - 2*f
	med, _ := tensor.Median(s, 0, true)
	_, idx := tensor.TopK(tensor.Abs(tensor.Sub(s, med)), beta, 0, false)
	return tensor.Mean(tensor.Gather(s, 0, idx), false, 0), nil
}

// sumSmallest returns the sum of the k smallest values of v.
func sumSmallest(v []float64, k int) float64 {
	slices.Sort(v)
	sum := 0.0
	for _, x := range v[:min(k, len(v))] {
		sum += x
	}
	return sum
}
