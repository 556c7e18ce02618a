package tensorparallel

import (
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// VocabParallelEmbedding is an embedding table whose rows (the vocabulary)
// are split across the group: rank r holds rows [Lo, Hi). A lookup gathers
// the local rows of the tokens in range, zeros for the others, and g sums
// the ranks' partial results. As the output projection of a model with
// tied embeddings (Logits), each rank computes the logits of its own
// vocabulary range.
type VocabParallelEmbedding struct {
	nn.Base
	Weight *autograd.Var // [Hi-Lo, Dim]
	Vocab  int
	Lo, Hi int
	Group  *Group
	// SequenceParallel: lookups end in a sequence reduce-scatter, and
	// Logits all-gathers its input's sequence shards.
	SequenceParallel bool
}

// NewVocabParallelEmbedding cuts this rank's rows from the full table.
func NewVocabParallelEmbedding(g *Group, full *nn.Embedding) *VocabParallelEmbedding {
	v := full.Weight.Dim(0)
	lo, hi := Partition(v, g.Size(), g.Rank())
	if hi <= lo {
		panic(tensor.Errorf("tensorparallel.NewVocabParallelEmbedding", "%d rows over %d ranks leave rank %d none", v, g.Size(), g.Rank()))
	}
	e := &VocabParallelEmbedding{Vocab: v, Lo: lo, Hi: hi, Group: g}
	e.Train(true)
	e.Weight = shardOf(full.Weight, 0, lo, hi)
	e.RegisterParam("weight", &e.Weight)
	return e
}

// localIndex returns the tokens' rows in the local table (0 where out of
// range) and the Bool mask of the tokens in range.
func localIndex(idx *tensor.Tensor, lo, hi int) (local, in *tensor.Tensor) {
	if idx.DType() != tensor.Int64 {
		panic(tensor.Errorf("tensorparallel.VocabParallel", "indices of dtype %v, want int64", idx.DType()))
	}
	in = tensor.LogicalAnd(tensor.CompareScalar(tensor.OpGe, idx, float64(lo)), tensor.CompareScalar(tensor.OpLt, idx, float64(hi)))
	shifted := tensor.AddScalar(idx, float64(-lo))
	local = tensor.Where(in, shifted, tensor.ZerosLike(shifted))
	return local, in
}

// Partial returns this rank's part of the lookup of idx: the rows of the
// tokens in [Lo, Hi), zeros elsewhere; shape idx.Shape()+[Dim].
func (e *VocabParallelEmbedding) Partial(idx *tensor.Tensor) *autograd.Var {
	local, in := localIndex(idx, e.Lo, e.Hi)
	rows := autograd.IndexSelect(e.Weight, 0, local.Reshape(-1))
	mask := in.Reshape(-1, 1).Cast(e.Weight.DType())
	shape := append(idx.Shape(), e.Weight.Dim(1))
	return autograd.Reshape(autograd.Mul(rows, autograd.Constant(mask)), shape...)
}

// Lookup returns the embeddings of idx, summed over the ranks (a sequence
// shard of them under SequenceParallel).
func (e *VocabParallelEmbedding) Lookup(idx *tensor.Tensor) *autograd.Var {
	p := e.Partial(idx)
	if e.SequenceParallel {
		return ReduceScatterSequence(e.Group, p)
	}
	return Reduce(e.Group, p)
}

// Forward looks up the indices x holds.
func (e *VocabParallelEmbedding) Forward(x *autograd.Var) *autograd.Var { return e.Lookup(x.Value()) }

// Logits returns h Wᵣᵀ, the logits [..., Hi-Lo] of this rank's vocabulary
// range, with h entering through f (or the sequence all-gather).
func (e *VocabParallelEmbedding) Logits(h *autograd.Var) *autograd.Var {
	if e.SequenceParallel {
		h = GatherSequence(e.Group, h)
	} else {
		h = Copy(e.Group, h)
	}
	return autograd.Linear(h, e.Weight, nil)
}

// CrossEntropy is the mean softmax cross-entropy of logits split over the
// vocabulary — this rank's logits [..., Hi-Lo] for the classes [lo, hi) —
// against Int64 targets [...]. It never gathers the logits: the row maxima,
// the sums of exponentials and the target logits are all-reduced ([tokens]
// vectors, three all-reduces), and the backward pass is local
// (softmax − one-hot of the rank's slice). Every rank returns the same loss.
func CrossEntropy(g *Group, logits *autograd.Var, targets *tensor.Tensor, lo int) *autograd.Var {
	const op = "tensorparallel.CrossEntropy"
	vl := logits.Dim(logits.NDim() - 1)
	n := targets.Shape().NumElements()
	if logits.Shape().NumElements() != n*vl {
		panic(tensor.Errorf(op, "logits %v for targets %v", logits.Shape(), targets.Shape()))
	}
	x := autograd.Reshape(logits, n, vl)
	m := tensor.Max(x.Value(), true, 1).Contiguous().Clone()
	g.allReduce("CrossEntropy max", m, collectives.Max)
	z := autograd.Sub(x, autograd.Constant(m))
	sumExp := Reduce(g, autograd.Sum(autograd.Exp(z), true, 1)) // [n, 1]
	local, in := localIndex(targets.Reshape(-1), lo, lo+vl)
	onehot := tensor.Mul(tensor.OneHot(local, vl).Cast(x.DType()), in.Reshape(n, 1).Cast(x.DType()))
	target := Reduce(g, autograd.Sum(autograd.Mul(z, autograd.Constant(onehot)), true, 1)) // [n, 1]
	return autograd.Mean(autograd.Sub(autograd.Log(sumExp), target), false)
}
