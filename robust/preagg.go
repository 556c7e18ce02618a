package robust

import (
	"fmt"
	"math/rand/v2"

	"github.com/tessera-ml/tessera/tensor"
)

// Bucketing (Karimireddy, He and Jaggi, ICLR 2022) shuffles the n vectors
// and averages them in buckets of S (the last bucket may be smaller),
// giving ⌈n/S⌉ vectors with less heterogeneity between them. The rule after
// it still has to tolerate f bad buckets, so its precondition applies to
// ⌈n/S⌉ (at n = 10, f = 2, S = 2, Krum's 2f+3 = 7 > 5 buckets: it cannot
// run). Cost O(nd). The shuffle is drawn from a PCG stream seeded with Seed
// that advances on every call.
type Bucketing struct {
	S    int
	Seed uint64
	rng  *rand.Rand
}

// Name returns "bucket<S>" (the form ByName parses).
func (b *Bucketing) Name() string { return fmt.Sprintf("bucket%d", b.S) }

// PreAggregate returns the bucket means, [⌈n/S⌉, d].
func (b *Bucketing) PreAggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	n := checkInput("robust.Bucketing", x)
	if b.S < 1 {
		panic(&tensor.Error{Op: "robust.Bucketing", Msg: fmt.Sprintf("bucket size %d < 1", b.S)})
	}
	if b.rng == nil {
		b.rng = rand.New(rand.NewPCG(b.Seed, 0xb0c4e7))
	}
	perm := b.rng.Perm(n)
	rows := make([]*tensor.Tensor, 0, (n+b.S-1)/b.S)
	for lo := 0; lo < n; lo += b.S {
		hi := min(lo+b.S, n)
		idx := make([]int64, hi-lo)
		for i := range idx {
			idx[i] = int64(perm[lo+i])
		}
		sel := tensor.IndexSelect(x, 0, tensor.FromSlice(idx, len(idx)).To(x.Device()))
		rows = append(rows, tensor.Mean(sel, false, 0))
	}
	return tensor.Stack(rows, 0), nil
}

// NNM is nearest-neighbour mixing (Allouah et al., AISTATS 2023): each
// vector is replaced by the mean of its n−F nearest neighbours (itself
// included). It makes the rules after it robust under heterogeneous
// (non-IID) honest vectors. Needs n > F. Cost O(n²d) (one GEMM for the
// distances).
type NNM struct{ F int }

// Name returns "nnm".
func (NNM) Name() string { return "nnm" }

// PreAggregate returns the mixed vectors, [n, d].
func (m NNM) PreAggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	n := checkInput("robust.NNM", x)
	checkF("robust.NNM", m.F)
	if n <= m.F {
		return nil, tooFew("nnm", "n > f", n, m.F)
	}
	x64 := x.Cast(tensor.Float64)
	d := tensor.PairwiseSqDist(x64, x64)
	eye := tensor.Eye(n, tensor.Bool).To(x.Device())
	d = tensor.MaskedFill(d, eye, -1) // itself first
	k := n - m.F
	_, idx := tensor.TopK(d, k, 1, false) // [n, k]
	sel := tensor.IndexSelect(x, 0, idx.Reshape(-1)).Reshape(n, k, x.Dim(1))
	return tensor.Mean(sel, false, 1), nil
}

// Pipeline applies the pre-aggregation steps in order, then the rule.
type Pipeline struct {
	Pre  []PreAggregator
	Rule Aggregator
}

// Name joins the steps' names with "+", e.g. "nnm+krum".
func (p Pipeline) Name() string {
	s := ""
	for _, q := range p.Pre {
		s += q.Name() + "+"
	}
	return s + p.Rule.Name()
}

// Aggregate runs the steps and the rule.
func (p Pipeline) Aggregate(x *tensor.Tensor) (*tensor.Tensor, error) {
	var err error
	for _, q := range p.Pre {
		if x, err = q.PreAggregate(x); err != nil {
			return nil, err
		}
	}
	return p.Rule.Aggregate(x)
}

// Clone copies the pipeline, cloning stateful steps (see Cloner).
func (p Pipeline) Clone() Aggregator {
	q := Pipeline{Pre: p.Pre, Rule: p.Rule}
	if c, ok := p.Rule.(Cloner); ok {
		q.Rule = c.Clone()
	}
	return q
}

// Cloner is implemented by stateful aggregators (CenteredClipping, and
// pipelines holding one) so that a caller can evaluate the rule on trial
// inputs without changing the state used in training.
type Cloner interface{ Clone() Aggregator }
