package tensorparallel

import (
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/collectives"
)

// Sequence is the axis that sequence parallelism splits ([B, T, E]).
const Sequence = 1

// Copy is Megatron's f: the identity in the forward pass, an all-reduce of
// the gradient in the backward pass. It enters a tensor-parallel region
// whose ranks each compute a part of the result from the same input.
func Copy(g *Group, x *autograd.Var) *autograd.Var {
	if g.Size() == 1 {
		return x
	}
	return autograd.Record("tensorparallel.Copy", x.Value(), []*autograd.Var{x}, func(_ *autograd.Ctx, gr *autograd.Var) []*autograd.Var {
		t := gr.Value().Clone()
		g.allReduce("Copy backward", t, collectives.Sum)
		return []*autograd.Var{autograd.Constant(t)}
	})
}

// Reduce is Megatron's g, f's conjugate: an all-reduce (sum) in the forward
// pass, the identity in the backward pass. It leaves a tensor-parallel
// region whose ranks each hold a partial sum.
func Reduce(g *Group, x *autograd.Var) *autograd.Var {
	if g.Size() == 1 {
		return x
	}
	t := x.Value().Clone()
	g.allReduce("Reduce", t, collectives.Sum)
	return autograd.Record("tensorparallel.Reduce", t, []*autograd.Var{x}, func(_ *autograd.Ctx, gr *autograd.Var) []*autograd.Var {
		return []*autograd.Var{gr}
	})
}

// GatherLast concatenates the ranks' x along the last axis (all-gather);
// its backward pass keeps this rank's slice of the gradient. The ranks'
// slices must have equal sizes.
func GatherLast(g *Group, x *autograd.Var) *autograd.Var {
	return gatherOp(g, "GatherLast", x, -1)
}

// ScatterLast keeps this rank's slice of x's last axis (no communication);
// its backward pass all-gathers the gradient.
func ScatterLast(g *Group, x *autograd.Var) *autograd.Var {
	return splitOp(g, "ScatterLast", x, -1)
}

// GatherSequence all-gathers sequence shards [B, T/n, E] into [B, T, E];
// its backward pass reduce-scatters the gradient (sequence parallelism's
// replacement for f).
func GatherSequence(g *Group, x *autograd.Var) *autograd.Var {
	return gatherOp(g, "GatherSequence", x, Sequence)
}

// ReduceScatterSequence sums partial results [B, T, E] over the ranks and
// keeps this rank's sequence shard [B, T/n, E]; its backward pass
// all-gathers the gradient (sequence parallelism's replacement for g).
func ReduceScatterSequence(g *Group, x *autograd.Var) *autograd.Var {
	if g.Size() == 1 {
		return x
	}
	t := g.reduceScatter("ReduceScatterSequence", x.Value(), Sequence)
	return autograd.Record("tensorparallel.ReduceScatterSequence", t, []*autograd.Var{x}, func(_ *autograd.Ctx, gr *autograd.Var) []*autograd.Var {
		return []*autograd.Var{autograd.Constant(g.gather("ReduceScatterSequence backward", gr.Value(), Sequence))}
	})
}

// SplitSequence keeps this rank's sequence shard of a replicated x
// (no communication); its backward pass all-gathers the gradient.
func SplitSequence(g *Group, x *autograd.Var) *autograd.Var {
	return splitOp(g, "SplitSequence", x, Sequence)
}

func gatherOp(g *Group, name string, x *autograd.Var, axis int) *autograd.Var {
	if g.Size() == 1 {
		return x
	}
	t := g.gather(name, x.Value(), axis)
	return autograd.Record("tensorparallel."+name, t, []*autograd.Var{x}, func(_ *autograd.Ctx, gr *autograd.Var) []*autograd.Var {
		if name == "GatherSequence" {
			return []*autograd.Var{autograd.Constant(g.reduceScatter(name+" backward", gr.Value(), axis))}
		}
		return []*autograd.Var{autograd.Constant(g.split(name+" backward", gr.Value(), axis))}
	})
}

func splitOp(g *Group, name string, x *autograd.Var, axis int) *autograd.Var {
	if g.Size() == 1 {
		return x
	}
	t := g.split(name, x.Value(), axis)
	return autograd.Record("tensorparallel."+name, t, []*autograd.Var{x}, func(_ *autograd.Ctx, gr *autograd.Var) []*autograd.Var {
		return []*autograd.Var{autograd.Constant(g.gather(name+" backward", gr.Value(), axis))}
	})
}
