package tensorparallel

import (
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// shardOf returns a parameter holding a contiguous copy of the [lo, hi)
// slice of v along axis.
func shardOf(v *autograd.Var, axis, lo, hi int) *autograd.Var {
	return autograd.Param(v.Value().Narrow(axis, lo, hi-lo).Contiguous().Clone())
}

func replicaOf(v *autograd.Var) *autograd.Var {
	if v == nil {
		return nil
	}
	return autograd.Param(v.Value().Clone())
}

// ColumnParallelLinear is a Linear layer whose output features are split
// across the group: rank r holds rows [Lo, Hi) of the weight [Out, In] and
// of the bias and computes Y_r = X A_rᵀ + b_r from the whole input (entered
// through f, Copy). With GatherOutput the slices are all-gathered into the
// full output (equal slices only); otherwise each rank keeps its slice,
// ready for a RowParallelLinear.
type ColumnParallelLinear struct {
	nn.Base
	Weight, Bias *autograd.Var // [Hi-Lo, In], [Hi-Lo] (nil without bias)
	In, Out      int
	Lo, Hi       int
	Group        *Group
	GatherOutput bool
	// SequenceParallel: the input is this rank's sequence shard, all-gathered
	// on entry (reduce-scattered backward) instead of passed through f.
	SequenceParallel bool
}

// NewColumnParallelLinear cuts this rank's column-parallel slice from the
// full layer (the parameters are copied).
func NewColumnParallelLinear(g *Group, full *nn.Linear) *ColumnParallelLinear {
	out, in := full.Weight.Dim(0), full.Weight.Dim(1)
	lo, hi := Partition(out, g.Size(), g.Rank())
	return newColumn(g, full, in, out, lo, hi)
}

func newColumn(g *Group, full *nn.Linear, in, out, lo, hi int) *ColumnParallelLinear {
	if hi <= lo {
		panic(tensor.Errorf("tensorparallel.ColumnParallelLinear", "%d output features over %d ranks leave rank %d none", out, g.Size(), g.Rank()))
	}
	l := &ColumnParallelLinear{In: in, Out: out, Lo: lo, Hi: hi, Group: g}
	l.Train(true)
	l.Weight = shardOf(full.Weight, 0, lo, hi)
	l.RegisterParam("weight", &l.Weight)
	if full.Bias != nil {
		l.Bias = shardOf(full.Bias, 0, lo, hi)
		l.RegisterParam("bias", &l.Bias)
	}
	return l
}

// Enter is the layer's entry operator applied to x: f (Copy), or the
// sequence all-gather under SequenceParallel.
func (l *ColumnParallelLinear) Enter(x *autograd.Var) *autograd.Var {
	if l.SequenceParallel {
		return GatherSequence(l.Group, x)
	}
	return Copy(l.Group, x)
}

// Local is the local product of an input that already passed Enter.
func (l *ColumnParallelLinear) Local(x *autograd.Var) *autograd.Var {
	return autograd.Linear(x, l.Weight, l.Bias)
}

// Forward returns this rank's output slice [..., Hi-Lo] (the full output
// with GatherOutput).
func (l *ColumnParallelLinear) Forward(x *autograd.Var) *autograd.Var {
	y := l.Local(l.Enter(x))
	if l.GatherOutput {
		y = GatherLast(l.Group, y)
	}
	return y
}

// RowParallelLinear is a Linear layer whose input features are split
// across the group: rank r holds columns [Lo, Hi) of the weight [Out, In]
// and computes the partial product X_r B_rᵀ; g (Reduce) sums the partials
// and the bias, replicated on every rank, is added once after the sum.
type RowParallelLinear struct {
	nn.Base
	Weight *autograd.Var // [Out, Hi-Lo]
	Bias   *autograd.Var // [Out], replicated (nil without bias)
	In     int
	Out    int
	Lo, Hi int
	Group  *Group
	// InputIsParallel: the input is already this rank's slice [..., Hi-Lo]
	// (the output of a ColumnParallelLinear); otherwise Forward scatters
	// the full input's last axis (equal slices only).
	InputIsParallel bool
	// SequenceParallel: the partial sums are reduce-scattered along the
	// sequence instead of all-reduced, leaving a sequence shard.
	SequenceParallel bool
}

// NewRowParallelLinear cuts this rank's row-parallel slice from the full
// layer (parameters copied), for input that is already parallel.
func NewRowParallelLinear(g *Group, full *nn.Linear) *RowParallelLinear {
	out, in := full.Weight.Dim(0), full.Weight.Dim(1)
	lo, hi := Partition(in, g.Size(), g.Rank())
	return newRow(g, full, in, out, lo, hi)
}

func newRow(g *Group, full *nn.Linear, in, out, lo, hi int) *RowParallelLinear {
	if hi <= lo {
		panic(tensor.Errorf("tensorparallel.RowParallelLinear", "%d input features over %d ranks leave rank %d none", in, g.Size(), g.Rank()))
	}
	l := &RowParallelLinear{In: in, Out: out, Lo: lo, Hi: hi, Group: g, InputIsParallel: true}
	l.Train(true)
	l.Weight = shardOf(full.Weight, 1, lo, hi)
	l.RegisterParam("weight", &l.Weight)
	if full.Bias != nil {
		l.Bias = replicaOf(full.Bias)
		l.RegisterParam("bias", &l.Bias)
	}
	return l
}

// Partial is the local product X_r B_rᵀ, before the reduction.
func (l *RowParallelLinear) Partial(x *autograd.Var) *autograd.Var {
	if !l.InputIsParallel {
		x = ScatterLast(l.Group, x)
	}
	return autograd.Linear(x, l.Weight, nil)
}

// Finish reduces partial products over the group (g, or a sequence
// reduce-scatter) and adds the bias.
func (l *RowParallelLinear) Finish(partial *autograd.Var) *autograd.Var {
	var y *autograd.Var
	if l.SequenceParallel {
		y = ReduceScatterSequence(l.Group, partial)
	} else {
		y = Reduce(l.Group, partial)
	}
	if l.Bias != nil {
		y = autograd.Add(y, l.Bias)
	}
	return y
}

// Forward returns the full output [..., Out] (a sequence shard under
// SequenceParallel).
func (l *RowParallelLinear) Forward(x *autograd.Var) *autograd.Var {
	return l.Finish(l.Partial(x))
}

// ParallelMLP is Megatron's MLP: FC1 column-parallel, so the activation
// applies to local slices, and FC2 row-parallel, so the block has one f on
// entry and one g on exit.
type ParallelMLP struct {
	nn.Base
	FC1 *ColumnParallelLinear
	FC2 *RowParallelLinear
	Act func(*autograd.Var) *autograd.Var
}

// NewParallelMLP cuts this rank's slices from the full MLP.
func NewParallelMLP(g *Group, full *nn.MLP) *ParallelMLP {
	m := &ParallelMLP{Act: full.Act}
	m.Train(true)
	m.FC1 = NewColumnParallelLinear(g, full.FC1)
	m.FC2 = NewRowParallelLinear(g, full.FC2)
	m.RegisterModule("fc1", m.FC1)
	m.RegisterModule("fc2", m.FC2)
	return m
}

// Forward applies the MLP to x (replicated, or a sequence shard).
func (m *ParallelMLP) Forward(x *autograd.Var) *autograd.Var {
	return m.FC2.Forward(m.Act(m.FC1.Forward(x)))
}

func (m *ParallelMLP) setSequenceParallel(on bool) {
	m.FC1.SequenceParallel, m.FC2.SequenceParallel = on, on
}

// ParallelAttention is self-attention with its heads split across the
// group: rank r holds heads [HeadLo, HeadHi), the matching rows of the Q, K
// and V projections (column-parallel) and columns of the output projection
// (row-parallel), and runs nn.MultiHeadAttention over its heads (Local,
// which shares these parameters). One f on entry, one g on exit.
type ParallelAttention struct {
	nn.Base
	Q, K, V        *ColumnParallelLinear
	Out            *RowParallelLinear
	Local          *nn.MultiHeadAttention
	HeadLo, HeadHi int
	Causal         bool
	Group          *Group
}

// NewParallelAttention cuts this rank's heads from the full attention.
func NewParallelAttention(g *Group, full *nn.MultiHeadAttention) *ParallelAttention {
	e := full.Q.Weight.Dim(0)
	h := full.NumHeads
	d := e / h
	hlo, hhi := Partition(h, g.Size(), g.Rank())
	if hhi <= hlo {
		panic(tensor.Errorf("tensorparallel.NewParallelAttention", "%d heads over %d ranks leave rank %d none", h, g.Size(), g.Rank()))
	}
	in := full.Q.Weight.Dim(1)
	m := &ParallelAttention{HeadLo: hlo, HeadHi: hhi, Causal: full.Causal, Group: g}
	m.Train(true)
	m.Q = newColumn(g, full.Q, in, e, hlo*d, hhi*d)
	m.K = newColumn(g, full.K, in, e, hlo*d, hhi*d)
	m.V = newColumn(g, full.V, in, e, hlo*d, hhi*d)
	m.Out = newRow(g, full.Out, e, full.Out.Weight.Dim(0), hlo*d, hhi*d)
	m.RegisterModule("q_proj", m.Q)
	m.RegisterModule("k_proj", m.K)
	m.RegisterModule("v_proj", m.V)
	m.RegisterModule("out_proj", m.Out)
	m.Local = &nn.MultiHeadAttention{
		Q:        &nn.Linear{Weight: m.Q.Weight, Bias: m.Q.Bias},
		K:        &nn.Linear{Weight: m.K.Weight, Bias: m.K.Bias},
		V:        &nn.Linear{Weight: m.V.Weight, Bias: m.V.Bias},
		Out:      &nn.Linear{Weight: m.Out.Weight}, // partial sums; Out adds the bias after g
		NumHeads: hhi - hlo,
		Causal:   full.Causal,
	}
	return m
}

// Forward is self-attention of x (replicated [B, T, E], or a sequence
// shard under sequence parallelism).
func (m *ParallelAttention) Forward(x *autograd.Var) *autograd.Var {
	x = m.Q.Enter(x)
	return m.Out.Finish(m.Local.Attend(x, x, x, m.Causal, nil))
}

func (m *ParallelAttention) setSequenceParallel(on bool) {
	m.Q.SequenceParallel, m.Out.SequenceParallel = on, on
}
