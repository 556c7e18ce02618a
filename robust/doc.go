// Package robust holds Byzantine-robust aggregation rules: the server-side
// replacement for the all-reduce when f of the n workers may send arbitrary
// vectors (course module 4; see docs/modules/4-robust.md).
//
// Every rule takes the n workers' flattened gradients as the rows of one
// [n, d] floating-point tensor (Stack builds it from n vectors) and returns
// the aggregate, a [d] tensor. The rules are written with tensor ops
// (Sort/Median/TopK, Norm, PairwiseSqDist through one GEMM), so they run on
// any device. Each states its precondition on n and f and returns an error
// wrapping ErrTooFew, not a wrong answer, when n is too small for f:
//
//	rule                 precondition   cost per call
//	Mean                 n ≥ 1          O(nd)
//	Median (coordinate)  n ≥ 2f+1       O(nd log n)
//	TrimmedMean          n ≥ 2f+1       O(nd log n)
//	Krum, MultiKrum      n ≥ 2f+3       O(n²d)
//	Bulyan               n ≥ 4f+3       O(n²d + n³)
//	GeoMed (Weiszfeld)   n ≥ 2f+1       O(T·nd), T iterations
//	CenteredClipping     n ≥ 1          O(L·nd), L iterations
//
// Pre-aggregation steps (PreAggregator) transform the [n, d] input before a
// rule: Bucketing (average random buckets of s, O(nd)) and NNM (replace
// each vector by the mean of its n−f nearest neighbours, O(n²d)); Pipeline
// chains them with a rule.
//
// Example:
//
//	agg := robust.Pipeline{Pre: []robust.PreAggregator{robust.NNM{F: 2}}, Rule: robust.Krum{F: 2}}
//	out, err := agg.Aggregate(robust.Stack(grads)) // grads: ten [d] tensors
package robust
