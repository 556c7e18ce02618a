package nas

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// Op is a candidate operation on an edge of a cell. Every op maps
// [N, C, H, W] to [N, C, H, W].
type Op int

// The operations of the search space (DARTS's, without the separable and
// dilated convolutions).
const (
	Zero    Op = iota // no connection (only in the supernet)
	Skip              // identity
	Conv3             // ReLU, 3x3 convolution, BatchNorm
	Conv5             // ReLU, 5x5 convolution, BatchNorm
	MaxPool           // 3x3 max pooling, stride 1
	AvgPool           // 3x3 average pooling, stride 1
	numOps
)

// Ops lists every operation, Zero first.
var Ops = []Op{Zero, Skip, Conv3, Conv5, MaxPool, AvgPool}

// CellOps lists the operations a discrete cell may use (all but Zero).
var CellOps = []Op{Skip, Conv3, Conv5, MaxPool, AvgPool}

func (o Op) String() string {
	switch o {
	case Zero:
		return "zero"
	case Skip:
		return "skip"
	case Conv3:
		return "conv3x3"
	case Conv5:
		return "conv5x5"
	case MaxPool:
		return "maxpool3x3"
	case AvgPool:
		return "avgpool3x3"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// newOp returns op as a module on c channels (Zero has none: nil).
func newOp(g *tensor.Generator, op Op, c int, opts []nn.Option) nn.Module {
	conv := func(k int) nn.Module {
		p := tensor.ConvParams{KH: k, KW: k, PadH: k / 2, PadW: k / 2}
		return nn.NewSequential(nn.NewReLU(), nn.NewConv2d(g, c, c, p, 1, false, opts...), nn.NewBatchNorm2d(c, opts...))
	}
	switch op {
	case Zero:
		return nil
	case Skip:
		return &nn.Func{F: func(x *autograd.Var) *autograd.Var { return x }}
	case Conv3:
		return conv(3)
	case Conv5:
		return conv(5)
	case MaxPool:
		return nn.NewMaxPool2d(3, 1, 1)
	case AvgPool:
		return nn.NewAvgPool2d(3, 1, 1)
	}
	panic(&tensor.Error{Op: "nas.newOp", Msg: fmt.Sprintf("unknown op %d", int(op))})
}

// Edge is one input of a node of a discrete cell: the node (0 is the
// cell's input, i ≥ 1 the i-th intermediate node) and the operation.
type Edge struct {
	From int
	Op   Op
}

// Genotype is a discrete cell: for each intermediate node, its input
// edges. The node's value is the sum of its edges' outputs; the cell's
// output is the mean of its intermediate nodes.
type Genotype [][]Edge

// String renders g like "n1 = conv3x3(in); n2 = skip(in) + maxpool3x3(n1)".
func (g Genotype) String() string {
	var b strings.Builder
	for i, node := range g {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "n%d = ", i+1)
		for j, e := range node {
			if j > 0 {
				b.WriteString(" + ")
			}
			from := "in"
			if e.From > 0 {
				from = fmt.Sprintf("n%d", e.From)
			}
			fmt.Fprintf(&b, "%v(%s)", e.Op, from)
		}
	}
	return b.String()
}

// DOT renders g as a Graphviz digraph.
func (g Genotype) DOT() string {
	var b strings.Builder
	b.WriteString("digraph cell {\n  rankdir=LR;\n  in [shape=box];\n  out [shape=box];\n")
	name := func(i int) string {
		if i == 0 {
			return "in"
		}
		return fmt.Sprintf("n%d", i)
	}
	for i, node := range g {
		for _, e := range node {
			fmt.Fprintf(&b, "  %s -> n%d [label=%q];\n", name(e.From), i+1, e.Op.String())
		}
		fmt.Fprintf(&b, "  n%d -> out;\n", i+1)
	}
	b.WriteString("}\n")
	return b.String()
}

// Key is a canonical string for g (edges of a node sorted), for
// de-duplication.
func (g Genotype) Key() string { return g.String() }

// Clone returns a copy of g.
func (g Genotype) Clone() Genotype {
	out := make(Genotype, len(g))
	for i, n := range g {
		out[i] = append([]Edge(nil), n...)
	}
	return out
}

// edgesOf is the number of input edges a node of a discrete cell keeps:
// two (from distinct predecessors), one for the first node, which has
// only the cell input before it.
func edgesOf(node int) int { return min(2, node+1) }

// RandomGenotype draws a cell of nodes intermediate nodes, each with
// edgesOf(node) inputs from distinct predecessors and a random operation
// of CellOps: the "random cell of the same size" baseline and the
// evolution's initial population.
func RandomGenotype(r *rand.Rand, nodes int) Genotype {
	g := make(Genotype, nodes)
	for i := range g {
		preds := r.Perm(i + 1)[:edgesOf(i)]
		for _, p := range preds {
			g[i] = append(g[i], Edge{From: p, Op: CellOps[r.IntN(len(CellOps))]})
		}
	}
	return g
}

// Mutate returns a copy of g with one edge changed: with probability 1/2
// its operation (to a different one), otherwise its input (to a different
// predecessor not already used by the node), as in regularized evolution's
// op and hidden-state mutations.
func Mutate(r *rand.Rand, g Genotype) Genotype {
	out := g.Clone()
	for {
		i := r.IntN(len(out))
		j := r.IntN(len(out[i]))
		if r.IntN(2) == 0 {
			cur := out[i][j].Op
			for out[i][j].Op == cur {
				out[i][j].Op = CellOps[r.IntN(len(CellOps))]
			}
			return out
		}
		var free []int
		for p := 0; p <= i; p++ {
			used := false
			for _, e := range out[i] {
				used = used || e.From == p
			}
			if !used {
				free = append(free, p)
			}
		}
		if len(free) > 0 {
			out[i][j].From = free[r.IntN(len(free))]
			return out
		}
	}
}
