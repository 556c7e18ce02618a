package nas

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

func randData(seed uint64, n, classes int) (*tensor.Tensor, *tensor.Tensor) {
	g := tensor.NewGenerator(seed)
	x := g.Normal(0, 1, tensor.Float64, n, 1, 8, 8)
	y := g.RandInt(0, int64(classes), n)
	return x, y
}

func norm(t *tensor.Tensor) float64 { return math.Sqrt(tensor.Sum(tensor.Square(t), false).Item()) }

// TestHyperGradientSecondOrder checks DARTS's finite-difference unrolled
// hypergradient against the exact one, ∇α L_val(w - ξ∇w L_train(w, α), α)
// differentiated through the inner gradient with CreateGraph (float64).
func TestHyperGradientSecondOrder(t *testing.T) {
	net := NewSuperNet(tensor.NewGenerator(3), 2, 3, 1, 4, nn.WithDType(tensor.Float64))
	// A non-uniform α so the mixture weights differ.
	net.Alpha.SetValue(tensor.NewGenerator(4).Normal(0, 1, tensor.Float64, net.Alpha.Shape()...))
	xt, yt := randData(5, 6, 4)
	xv, yv := randData(6, 6, 4)
	const xi = 0.1
	w := nn.Params(net)
	gw, err := autograd.Grad([]*autograd.Var{lossOn(net, w, xt, yt)}, w, nil, autograd.BackwardOpts{CreateGraph: true})
	require.NoError(t, err)
	wp := make([]*autograd.Var, len(w))
	for i := range w {
		wp[i] = autograd.Sub(w[i], autograd.MulScalar(gw[i], xi))
	}
	exact, err := autograd.Grad([]*autograd.Var{lossOn(net, wp, xv, yv)}, []*autograd.Var{net.Alpha}, nil, autograd.BackwardOpts{})
	require.NoError(t, err)

	// With a small finite-difference step the approximation converges to
	// the exact hypergradient (O(ε²)); DARTS's step (‖εv‖ = 0.01) crosses
	// ReLU and max-pooling kinks and is only roughly right.
	second, err := HyperGradient(net, xt, yt, xv, yv, xi, 1e-5)
	require.NoError(t, err)
	darts, err := HyperGradient(net, xt, yt, xv, yv, xi, 0)
	require.NoError(t, err)
	first, err := HyperGradient(net, xt, yt, xv, yv, 0, 0)
	require.NoError(t, err)
	ex := exact[0].Value()
	firstErr := norm(tensor.Sub(first, ex)) / norm(ex)
	secondErr := norm(tensor.Sub(second, ex)) / norm(ex)
	dartsErr := norm(tensor.Sub(darts, ex)) / norm(ex)
	t.Logf("relative error to the exact hypergradient: first order %.3g, second order %.3g (r = 1e-5), %.3g (r = 0.01)", firstErr, secondErr, dartsErr)
	assert.Less(t, secondErr, 1e-6)
	assert.Less(t, dartsErr, firstErr)
	assert.Greater(t, firstErr, 1e-2, "the second-order term matters here")
	// Nothing of net changed.
	for i, p := range nn.Params(net) {
		assert.Same(t, w[i], p)
	}
}

func TestDeriveAndGenotypes(t *testing.T) {
	nodes := 3
	alpha := tensor.Zeros(tensor.Float64, NumEdges(nodes), len(Ops))
	set := func(i, j int, op Op, v float64) { alpha.Set(v, edgeIndex(i, j), int(op)) }
	set(0, 0, Conv3, 2)
	set(1, 0, Zero, 9) // zero never wins
	set(1, 0, Skip, 1)
	set(1, 1, MaxPool, 3)
	set(2, 0, Conv5, 0.5)
	set(2, 1, AvgPool, 4)
	set(2, 2, Conv3, 5)
	g := Derive(alpha, nodes)
	want := Genotype{{{0, Conv3}}, {{1, MaxPool}, {0, Skip}}, {{2, Conv3}, {1, AvgPool}}}
	assert.Equal(t, want, g)
	assert.Equal(t, "n1 = conv3x3(in); n2 = maxpool3x3(n1) + skip(in); n3 = conv3x3(n2) + avgpool3x3(n1)", g.String())
	assert.True(t, strings.Contains(g.DOT(), `n1 -> n3 [label="avgpool3x3"]`))

	r := rand.New(rand.NewPCG(1, 1))
	for range 50 {
		rg := RandomGenotype(r, 4)
		checkGenotype(t, rg, 4)
		m := Mutate(r, rg)
		checkGenotype(t, m, 4)
		diff := 0
		for i := range rg {
			for j := range rg[i] {
				if rg[i][j] != m[i][j] {
					diff++
				}
			}
		}
		assert.Equal(t, 1, diff, "one edge changes: %v -> %v", rg, m)
	}
}

func checkGenotype(t *testing.T, g Genotype, nodes int) {
	t.Helper()
	require.Len(t, g, nodes)
	for i, node := range g {
		require.Len(t, node, edgesOf(i))
		seen := map[int]bool{}
		for _, e := range node {
			assert.True(t, e.From >= 0 && e.From <= i)
			assert.False(t, seen[e.From], "two edges from %d in %v", e.From, g)
			seen[e.From] = true
			assert.NotEqual(t, Zero, e.Op)
		}
	}
}

// TestNetworkShapesAndGrad runs a discrete network and a supernet forward
// and backward.
func TestNetworkShapesAndGrad(t *testing.T) {
	x, y := randData(7, 5, 10)
	geno := Genotype{{{0, Conv3}}, {{0, Skip}, {1, Conv5}}, {{1, MaxPool}, {2, AvgPool}}}
	for _, net := range []*Network{
		NewNetwork(tensor.NewGenerator(1), geno, 4, 2, 10, nn.WithDType(tensor.Float64)),
		NewSuperNet(tensor.NewGenerator(1), 3, 4, 2, 10, nn.WithDType(tensor.Float64)),
	} {
		out := net.Forward(autograd.Constant(x))
		require.Equal(t, tensor.Shape{5, 10}, out.Shape())
		loss := nn.CrossEntropy(out, y)
		require.NoError(t, loss.Backward())
		for _, p := range net.Parameters() {
			require.NotNil(t, p.Param.Grad(), p.Name)
		}
		if net.Alpha != nil {
			require.NotNil(t, net.Alpha.Grad())
			assert.Greater(t, norm(net.Alpha.Grad()), 0.0)
		}
	}
}

// TestSearchesOnDigits runs a tiny DARTS search (both orders) and a tiny
// evolution on a slice of the digits and checks their bookkeeping and that
// a short training learns.
func TestSearchesOnDigits(t *testing.T) {
	trainDS, _ := data.DigitsSplit()
	all := FromDataset(trainDS, tensor.Float32)
	small, _ := all.Split(1, 300)
	tr, va := small.Split(2, 200)
	ctx := context.Background()
	for _, second := range []bool{false, true} {
		res, err := DARTS(ctx, tr, va, 10, DARTSConfig{Nodes: 2, Channels: 4, Cells: 1, Epochs: 2, Batch: 100,
			WLR: 0.05, WMomentum: 0.9, AlphaLR: 3e-3, SecondOrder: second, Seed: 1})
		require.NoError(t, err)
		require.Len(t, res.Curve, 2)
		checkGenotype(t, res.Genotype, 2)
		assert.False(t, tensor.AllClose(res.Alpha, tensor.ZerosLike(res.Alpha), 0, 1e-3), "α moved")
	}
	res, hist, err := Evolution(ctx, tr, va, 10, EvolutionConfig{Nodes: 2, Population: 3, Sample: 2, Trials: 5,
		Channels: 4, Cells: 1, Train: TrainConfig{Epochs: 6, Batch: 20, LR: 1e-2}, Seed: 1})
	require.NoError(t, err)
	require.Len(t, hist, 5)
	assert.Equal(t, 5, res.Trials)
	best := hist[0]
	for _, h := range hist {
		if h.ValAcc > best.ValAcc {
			best = h
		}
	}
	assert.Equal(t, best.Genotype, res.Genotype)
	assert.Equal(t, best.ValAcc, res.Curve[len(res.Curve)-1].BestAcc)
	assert.Greater(t, best.ValAcc, 0.3, "a short training beats chance (0.1)")
}
