package nas

import (
	"fmt"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// Cell is a discrete cell: the operations of a Genotype on c channels.
type Cell struct {
	nn.Base
	Geno Genotype
	ops  [][]nn.Module
}

// NewCell builds the cell of geno on c channels.
func NewCell(g *tensor.Generator, geno Genotype, c int, opts ...nn.Option) *Cell {
	cell := &Cell{Geno: geno.Clone()}
	cell.Train(true)
	for i, node := range geno {
		if len(node) == 0 {
			panic(&tensor.Error{Op: "nas.NewCell", Msg: fmt.Sprintf("node %d has no inputs", i+1)})
		}
		var ops []nn.Module
		for j, e := range node {
			if e.From < 0 || e.From > i || e.Op == Zero || e.Op >= numOps {
				panic(&tensor.Error{Op: "nas.NewCell", Msg: fmt.Sprintf("node %d edge %d: %v from %d", i+1, j, e.Op, e.From)})
			}
			m := newOp(g, e.Op, c, opts)
			cell.RegisterModule(fmt.Sprintf("n%d_e%d", i+1, j), m)
			ops = append(ops, m)
		}
		cell.ops = append(cell.ops, ops)
	}
	return cell
}

// Forward computes the nodes in order and returns their mean.
func (c *Cell) Forward(x *autograd.Var) *autograd.Var {
	nodes := []*autograd.Var{x}
	for i, node := range c.Geno {
		var s *autograd.Var
		for j, e := range node {
			y := c.ops[i][j].Forward(nodes[e.From])
			if s == nil {
				s = y
			} else {
				s = autograd.Add(s, y)
			}
		}
		nodes = append(nodes, s)
	}
	return meanOf(nodes[1:])
}

func meanOf(xs []*autograd.Var) *autograd.Var {
	s := xs[0]
	for _, x := range xs[1:] {
		s = autograd.Add(s, x)
	}
	return autograd.MulScalar(s, 1/float64(len(xs)))
}

// SuperCell is DARTS's continuous relaxation of the cell: every node takes
// every predecessor through a mixed operation Σ_o softmax(α_e)_o·o(x) over
// all of Ops (Zero contributes nothing). α ([edges, len(Ops)]) is held by
// the network and shared by its cells.
type SuperCell struct {
	nn.Base
	Nodes int
	ops   [][]nn.Module // [edge][op], nil for Zero
	alpha *autograd.Var
}

// NumEdges is the number of edges of a supercell with nodes intermediate
// nodes: node i (from 0) has i+1 predecessors.
func NumEdges(nodes int) int { return nodes * (nodes + 1) / 2 }

// edgeIndex is the index of the edge from predecessor j into node i.
func edgeIndex(i, j int) int { return i*(i+1)/2 + j }

func newSuperCell(g *tensor.Generator, nodes, c int, alpha *autograd.Var, opts []nn.Option) *SuperCell {
	s := &SuperCell{Nodes: nodes, alpha: alpha}
	s.Train(true)
	for i := range nodes {
		for j := 0; j <= i; j++ {
			var row []nn.Module
			for _, op := range Ops {
				m := newOp(g, op, c, opts)
				if m != nil {
					s.RegisterModule(fmt.Sprintf("n%d_p%d_%v", i+1, j, op), m)
				}
				row = append(row, m)
			}
			s.ops = append(s.ops, row)
		}
	}
	return s
}

// Forward computes the mixed cell.
func (s *SuperCell) Forward(x *autograd.Var) *autograd.Var {
	w := autograd.Softmax(s.alpha, -1) // [edges, ops]
	nodes := []*autograd.Var{x}
	for i := range s.Nodes {
		var sum *autograd.Var
		for j := 0; j <= i; j++ {
			e := edgeIndex(i, j)
			var outs []*autograd.Var
			for _, m := range s.ops[e][1:] {
				outs = append(outs, m.Forward(nodes[j]))
			}
			we := autograd.Reshape(autograd.Narrow(autograd.Select(w, 0, e), 0, 1, len(outs)), len(outs), 1, 1, 1, 1)
			y := autograd.Sum(autograd.Mul(autograd.Stack(outs, 0), we), false, 0)
			if sum == nil {
				sum = y
			} else {
				sum = autograd.Add(sum, y)
			}
		}
		nodes = append(nodes, sum)
	}
	return meanOf(nodes[1:])
}

// Network is the classifier around the cells, for [N, 1, H, W] images: a
// 3x3 stem convolution to C channels and ReLU, the cells with a 2x2 max
// pooling between consecutive cells, average pooling to 2x2 and a linear
// layer from the 4·C features to the classes.
type Network struct {
	nn.Base
	Stem  *nn.Conv2d
	Cells []nn.Module
	Head  *nn.Linear
	// Alpha are the architecture weights of a supernet ([edges, len(Ops)]),
	// nil for a discrete network. They are not among Parameters: the
	// bilevel search updates them with their own optimizer.
	Alpha *autograd.Var
}

func newNetwork(g *tensor.Generator, c, classes int, opts []nn.Option) *Network {
	n := &Network{}
	n.Train(true)
	n.Stem = nn.NewConv2d(g, 1, c, tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}, 1, true, opts...)
	n.RegisterModule("stem", n.Stem)
	return n
}

func (n *Network) finish(g *tensor.Generator, c, classes int, opts []nn.Option) *Network {
	for i, cell := range n.Cells {
		n.RegisterModule(fmt.Sprintf("cell%d", i), cell)
	}
	n.Head = nn.NewLinear(g, 4*c, classes, true, opts...)
	n.RegisterModule("head", n.Head)
	return n
}

// NewNetwork returns a discrete network of cells copies of geno's cell
// (each with its own weights) on c channels.
func NewNetwork(g *tensor.Generator, geno Genotype, c, cells, classes int, opts ...nn.Option) *Network {
	n := newNetwork(g, c, classes, opts)
	for range cells {
		n.Cells = append(n.Cells, NewCell(g, geno, c, opts...))
	}
	return n.finish(g, c, classes, opts)
}

// NewSuperNet returns a DARTS supernet of cells supercells with nodes
// intermediate nodes on c channels; Alpha starts at 1e-3·N(0, 1), as in
// DARTS.
func NewSuperNet(g *tensor.Generator, nodes, c, cells, classes int, opts ...nn.Option) *Network {
	n := newNetwork(g, c, classes, opts)
	dt := n.Stem.Weight.DType()
	n.Alpha = autograd.Param(tensor.MulScalar(g.Normal(0, 1, dt, NumEdges(nodes), len(Ops)), 1e-3))
	for range cells {
		n.Cells = append(n.Cells, newSuperCell(g, nodes, c, n.Alpha, opts))
	}
	return n.finish(g, c, classes, opts)
}

var pool2 = tensor.ConvParams{KH: 2, KW: 2, StrideH: 2, StrideW: 2}

// Forward classifies x [N, 1, H, W].
func (n *Network) Forward(x *autograd.Var) *autograd.Var {
	h := autograd.ReLU(n.Stem.Forward(x))
	for i, c := range n.Cells {
		if i > 0 {
			h = autograd.MaxPool2d(h, pool2)
		}
		h = c.Forward(h)
	}
	k := max(1, h.Dim(2)/2)
	h = autograd.AvgPool2d(h, tensor.ConvParams{KH: k, KW: k, StrideH: k, StrideW: k})
	return n.Head.Forward(autograd.Flatten(h, 1, -1))
}

// Derive discretises the supernet's α as DARTS does: for each node, every
// incoming edge is scored by its strongest non-Zero operation's softmax
// weight, and the node keeps its edgesOf(node) best edges with that
// operation.
func Derive(alpha *tensor.Tensor, nodes int) Genotype {
	w := tensor.Softmax(alpha.Cast(tensor.Float64), -1).Float64s()
	no := len(Ops)
	g := make(Genotype, nodes)
	for i := range nodes {
		type cand struct {
			e     Edge
			score float64
		}
		var cs []cand
		for j := 0; j <= i; j++ {
			row := w[edgeIndex(i, j)*no : (edgeIndex(i, j)+1)*no]
			best := cand{score: -1}
			for o := 1; o < no; o++ {
				if row[o] > best.score {
					best = cand{Edge{From: j, Op: Ops[o]}, row[o]}
				}
			}
			cs = append(cs, best)
		}
		for range edgesOf(i) {
			bi := 0
			for k := range cs {
				if cs[k].score > cs[bi].score {
					bi = k
				}
			}
			g[i] = append(g[i], cs[bi].e)
			cs = append(cs[:bi], cs[bi+1:]...)
		}
	}
	return g
}
