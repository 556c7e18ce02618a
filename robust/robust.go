package robust

import (
	"errors"
	"fmt"

	"github.com/tessera-ml/tessera/tensor"
)

// ErrTooFew is wrapped by the error a rule returns when n is too small for
// the number f of Byzantine workers it must tolerate.
var ErrTooFew = errors.New("too few workers for f")

// Aggregator is a robust aggregation rule: it combines the rows of an
// [n, d] tensor into one [d] vector.
type Aggregator interface {
	// Name is the rule's short name, e.g. "krum".
	Name() string
	// Aggregate returns the aggregate of the rows of x ([n, d], floating
	// point). It panics with a *tensor.Error on a malformed x and returns
	// an error wrapping ErrTooFew when n is too small for the rule's f.
	Aggregate(x *tensor.Tensor) (*tensor.Tensor, error)
}

// PreAggregator transforms the [n, d] worker vectors before a rule (it may
// change n).
type PreAggregator interface {
	Name() string
	PreAggregate(x *tensor.Tensor) (*tensor.Tensor, error)
}

// Stack returns the vectors (each flattened) as the rows of an [n, d]
// tensor; they must have the same number of elements.
func Stack(vs []*tensor.Tensor) *tensor.Tensor {
	rows := make([]*tensor.Tensor, len(vs))
	for i, v := range vs {
		rows[i] = v.Reshape(-1)
	}
	return tensor.Stack(rows, 0)
}

// checkInput panics when x is not a non-empty [n, d] float tensor and
// returns n.
func checkInput(op string, x *tensor.Tensor) int {
	if x.NDim() != 2 || !x.DType().IsFloat() || x.Dim(0) == 0 {
		panic(&tensor.Error{Op: op, Msg: fmt.Sprintf("need a non-empty [n, d] floating-point tensor, got %s%v", x.DType(), x.Shape())})
	}
	return x.Dim(0)
}

func tooFew(rule string, need string, n, f int) error {
	return fmt.Errorf("robust: %s needs %s, have n=%d, f=%d: %w", rule, need, n, f, ErrTooFew)
}

func checkF(op string, f int) {
	if f < 0 {
		panic(&tensor.Error{Op: op, Msg: fmt.Sprintf("negative f=%d", f)})
	}
}

// Mean is plain averaging, what the all-reduce computes: one Byzantine
// vector moves it arbitrarily far. Cost O(nd).
type Mean struct{}

// Name returns "mean".
func (Mean) Name() string { return "mean" }

// Aggregate returns the mean of the rows.
func (Mean) Aggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	checkInput("robust.Mean", x)
	return tensor.Mean(x, false, 0), nil
}

// Median is the coordinate-wise median: in each coordinate, the lower
// median of the n values (torch.median's convention). Needs n ≥ 2f+1, so
// that the honest values surround it. Cost O(nd log n) (a sort per column).
type Median struct{ F int }

// Name returns "median".
func (Median) Name() string { return "median" }

// Aggregate returns the coordinate-wise median of the rows.
func (m Median) Aggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	n := checkInput("robust.Median", x)
	checkF("robust.Median", m.F)
	if n < 2*m.F+1 {
		return nil, tooFew("median", "n ≥ 2f+1", n, m.F)
	}
	v, _ := tensor.Median(x, 0, false)
	return v, nil
}

// TrimmedMean drops, in each coordinate, the F largest and the F smallest
// values and averages the n−2F left. Needs n ≥ 2f+1. Cost O(nd log n).
type TrimmedMean struct{ F int }

// Name returns "trimmedmean".
func (TrimmedMean) Name() string { return "trimmedmean" }

// Aggregate returns the coordinate-wise trimmed mean of the rows.
func (t TrimmedMean) Aggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	n := checkInput("robust.TrimmedMean", x)
	checkF("robust.TrimmedMean", t.F)
	if n < 2*t.F+1 {
		return nil, tooFew("trimmedmean", "n ≥ 2f+1", n, t.F)
	}
	s, _ := tensor.Sort(x, 0, false)
	return tensor.Mean(s.Narrow(0, t.F, n-2*t.F), false, 0), nil
}
