package tensor_test

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

func f64(x *tensor.Tensor) []float64 { return x.Float64s() }

func shp(x *tensor.Tensor) []int { return []int(x.Shape()) }

func TestConcatStackSplitChunk(t *testing.T) {
	a := tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2)
	b := tensor.FromSlice([]float32{5, 6}, 2, 1)
	c := tensor.Concat([]*tensor.Tensor{a, b}, 1)
	assert.Equal(t, []int{2, 3}, shp(c))
	assert.Equal(t, []float64{1, 2, 5, 3, 4, 6}, f64(c))
	// axis 0, negative axis, zero-size pieces, dtype promotion
	c = tensor.Concat([]*tensor.Tensor{a, tensor.Zeros(tensor.Float32, 0, 2), tensor.FromSlice([]int64{7, 8}, 1, 2)}, -2)
	assert.Equal(t, tensor.Float32, c.DType())
	assert.Equal(t, []float64{1, 2, 3, 4, 7, 8}, f64(c))
	c = tensor.Concat([]*tensor.Tensor{tensor.FromSlice([]int32{1}, 1), tensor.FromSlice([]float64{0.5}, 1)}, 0)
	assert.Equal(t, tensor.Float64, c.DType())
	// from non-contiguous views
	c = tensor.Concat([]*tensor.Tensor{a.T(), a.T()}, 0)
	assert.Equal(t, []float64{1, 3, 2, 4, 1, 3, 2, 4}, f64(c))

	s := tensor.Stack([]*tensor.Tensor{a, a.T()}, 0)
	assert.Equal(t, []int{2, 2, 2}, shp(s))
	assert.Equal(t, []float64{1, 2, 3, 4, 1, 3, 2, 4}, f64(s))
	s = tensor.Stack([]*tensor.Tensor{tensor.FromSlice([]float32{1, 2}), tensor.FromSlice([]float32{3, 4})}, -1)
	assert.Equal(t, []int{2, 2}, shp(s))
	assert.Equal(t, []float64{1, 3, 2, 4}, f64(s))
	assert.Equal(t, []int{3}, shp(tensor.Stack([]*tensor.Tensor{tensor.Scalar(1, tensor.Float32), tensor.Scalar(2, tensor.Float32), tensor.Scalar(3, tensor.Float32)}, 0)))

	x := tensor.Arange(0, 10, 1, tensor.Float32)
	parts := tensor.Split(x, []int{3, 0, 7}, 0)
	require.Len(t, parts, 3)
	assert.Equal(t, []float64{0, 1, 2}, f64(parts[0]))
	assert.Equal(t, 0, parts[1].NumElements())
	assert.Equal(t, []float64{3, 4, 5, 6, 7, 8, 9}, f64(parts[2]))
	assert.True(t, parts[2].SharesStorage(x), "Split returns views")
	sizes := func(ts []*tensor.Tensor) []int {
		var out []int
		for _, t := range ts {
			out = append(out, t.Dim(0))
		}
		return out
	}
	// torch.chunk semantics
	assert.Equal(t, []int{3, 3, 3, 1}, sizes(tensor.Chunk(x, 4, 0)))
	assert.Equal(t, []int{2, 2, 2, 2, 2}, sizes(tensor.Chunk(x, 5, 0)))
	assert.Equal(t, []int{4, 4, 2}, sizes(tensor.Chunk(x, 3, 0)))
	assert.Equal(t, []int{1, 1}, sizes(tensor.Chunk(x.Narrow(0, 0, 2), 4, 0)), "fewer chunks when the axis is short")
	ch := tensor.Chunk(a, 2, 1)
	assert.Equal(t, []float64{2, 4}, f64(ch[1]))
	assert.True(t, ch[1].SharesStorage(a))
}

func TestPadIndexSelectOneHotMaskedFill(t *testing.T) {
	a := tensor.FromSlice([]int64{1, 2, 3, 4}, 2, 2)
	p := tensor.Pad(a, []int{1, 0}, 9) // last axis: one before
	assert.Equal(t, []int{2, 3}, shp(p))
	assert.Equal(t, []float64{9, 1, 2, 9, 3, 4}, f64(p))
	p = tensor.Pad(a, []int{0, 1, 2, 0}, -1) // last axis one after; first axis two before
	assert.Equal(t, []int{4, 3}, shp(p))
	assert.Equal(t, []float64{-1, -1, -1, -1, -1, -1, 1, 2, -1, 3, 4, -1}, f64(p))
	assert.Equal(t, tensor.Int64, p.DType())
	assert.Equal(t, []int{2, 2}, shp(tensor.Pad(a, nil, 0)))
	assert.Equal(t, []float64{0, 0, 0}, f64(tensor.Pad(tensor.Zeros(tensor.Float32, 0), []int{1, 2}, 0)))

	x := tensor.FromSlice([]float32{10, 11, 12, 20, 21, 22}, 2, 3)
	idx := tensor.FromSlice([]int64{2, 0, 2, 1})
	assert.Equal(t, []float64{12, 10, 12, 11, 22, 20, 22, 21}, f64(tensor.IndexSelect(x, 1, idx)))
	assert.Equal(t, []float64{20, 21, 22, 10, 11, 12}, f64(tensor.IndexSelect(x, 0, tensor.FromSlice([]int64{1, 0}))))
	assert.Equal(t, []int{2, 0}, shp(tensor.IndexSelect(x, -1, tensor.FromSlice([]int64{}))))

	oh := tensor.OneHot(tensor.FromSlice([]int64{2, 0, 1, 2}, 2, 2), 3)
	assert.Equal(t, []int{2, 2, 3}, shp(oh))
	assert.Equal(t, tensor.Float32, oh.DType())
	assert.Equal(t, []float64{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}, f64(oh))
	assert.Error(t, tensor.Try(func() { tensor.OneHot(tensor.FromSlice([]int64{-1}), 3) }))

	mask := tensor.FromSlice([]bool{true, false, true})
	mf := tensor.MaskedFill(x, mask, -1) // mask broadcasts over rows
	assert.Equal(t, []float64{-1, 11, -1, -1, 21, -1}, f64(mf))
	assert.Equal(t, []float64{10, 11, 12, 20, 21, 22}, f64(x), "MaskedFill returns a new tensor")
	w := tensor.Where(tensor.FromSlice([]bool{true, false}, 2, 1), x, tensor.Scalar(0, tensor.Int64))
	assert.Equal(t, tensor.Float32, w.DType())
	assert.Equal(t, []float64{10, 11, 12, 0, 0, 0}, f64(w))
}

func TestGatherScatterAdd(t *testing.T) {
	// the examples of torch.gather / torch.scatter_add
	x := tensor.FromSlice([]float32{1, 2, 3, 4}, 2, 2)
	g := tensor.Gather(x, 1, tensor.FromSlice([]int64{0, 0, 1, 0}, 2, 2))
	assert.Equal(t, []float64{1, 1, 4, 3}, f64(g))
	g = tensor.Gather(x, 0, tensor.FromSlice([]int64{1, 0}, 1, 2))
	assert.Equal(t, []float64{3, 2}, f64(g))
	src := tensor.Ones(tensor.Float32, 2, 5)
	index := tensor.FromSlice([]int64{0, 1, 2, 0, 0, 0, 1, 2, 2, 2}, 2, 5)
	out := tensor.ScatterAdd(tensor.Zeros(tensor.Float32, 3, 5), 0, index, src)
	assert.Equal(t, []float64{2, 0, 0, 1, 1, 0, 2, 0, 0, 0, 0, 0, 2, 1, 1}, f64(out))
	// a src larger than index is cut to index's shape
	out = tensor.ScatterAdd(tensor.Zeros(tensor.Float32, 3), 0, tensor.FromSlice([]int64{2, 2}), tensor.FromSlice([]float32{1, 2, 100}))
	assert.Equal(t, []float64{0, 0, 3}, f64(out))
	// in place
	acc := tensor.Zeros(tensor.Int64, 4)
	tensor.ScatterAddInto(acc, 0, tensor.FromSlice([]int64{3, 3, 0}), tensor.FromSlice([]int64{5, 6, 7}))
	assert.Equal(t, []float64{7, 0, 0, 11}, f64(acc))
	err := tensor.Try(func() { tensor.Gather(x, 1, tensor.FromSlice([]int64{2, 0}, 2, 1)) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "index 2 out of range")
	// bf16 accumulates in float32 and rounds once: 256 + 1 + 1 = 258 (bf16 holds 258? no: 256, 258)
	b := tensor.ScatterAdd(tensor.Full(256, tensor.BFloat16, 1), 0, tensor.FromSlice([]int64{0, 0}), tensor.FromSlice([]float32{1, 1}).Cast(tensor.BFloat16))
	assert.Equal(t, []float64{258}, f64(b))
}

func TestReductionOps(t *testing.T) {
	x := tensor.FromSlice([]float64{1, 2, 3, 4, 5, 6}, 2, 3)
	assert.Equal(t, []float64{21}, f64(tensor.Sum(x, false)))
	assert.Equal(t, 0, tensor.Sum(x, false).NDim())
	assert.Equal(t, []float64{5, 7, 9}, f64(tensor.Sum(x, false, 0)))
	s := tensor.Sum(x, true, -1)
	assert.Equal(t, []int{2, 1}, shp(s))
	assert.Equal(t, []float64{6, 15}, f64(s))
	assert.Equal(t, []int{1, 1}, shp(tensor.Sum(x, true, 0, 1)))
	assert.Equal(t, []float64{720}, f64(tensor.Prod(x, false)))
	assert.Equal(t, []float64{2, 5}, f64(tensor.Mean(x, false, 1)))
	assert.Equal(t, []float64{3.5}, f64(tensor.Mean(tensor.FromSlice([]int64{3, 4}), false)))
	assert.Equal(t, []float64{0}, f64(tensor.Sum(tensor.Zeros(tensor.Float32, 0), false)))
	assert.Equal(t, []float64{1, 1}, f64(tensor.Prod(tensor.Zeros(tensor.Float32, 2, 0), false, 1)))

	// Var and Std with a correction
	v := tensor.FromSlice([]float64{2, 4, 4, 4, 5, 5, 7, 9})
	assert.InDelta(t, 4.0, tensor.Var(v, 0, false).Item(), 1e-12)
	assert.InDelta(t, 32.0/7, tensor.Var(v, 1, false).Item(), 1e-12)
	assert.InDelta(t, 2.0, tensor.Std(v, 0, false).Item(), 1e-12)
	assert.InDelta(t, math.Sqrt(32.0/7), tensor.Std(v, 1, false).Item(), 1e-12)
	vr := tensor.Var(x, 1, true, 1)
	assert.Equal(t, []int{2, 1}, shp(vr))
	assert.Equal(t, []float64{1, 1}, f64(vr))
	assert.Equal(t, []float64{2.25, 2.25, 2.25}, f64(tensor.Var(x, 0, false, 0)))
	assert.True(t, math.IsNaN(tensor.Var(tensor.FromSlice([]float64{3}, 1), 1, false).Item()), "one sample, correction 1: NaN")

	// LogSumExp, stable and with infinite rows
	l := tensor.FromSlice([]float64{1000, 1000, math.Inf(-1), math.Inf(-1), 0, math.Inf(-1), math.Inf(1), 0}, 4, 2)
	lse := f64(tensor.LogSumExp(l, false, 1))
	assert.InDelta(t, 1000+math.Log(2), lse[0], 1e-9)
	assert.Equal(t, math.Inf(-1), lse[1], "a row of -Inf gives -Inf, not NaN")
	assert.Equal(t, 0.0, lse[2])
	assert.Equal(t, math.Inf(1), lse[3])
	assert.Equal(t, []int{4, 1}, shp(tensor.LogSumExp(l, true, -1)))
	assert.InDelta(t, math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3)), tensor.LogSumExp(tensor.FromSlice([]float32{1, 2, 3}), false).Item(), 1e-6)
	assert.Equal(t, tensor.Float32, tensor.LogSumExp(tensor.FromSlice([]int64{1, 2}), false).DType())

	// Max/Min/ArgMax/ArgMin: first occurrence, NaN propagates
	y := tensor.FromSlice([]float32{3, 7, 7, 1, -2, 9, 9, 0}, 2, 4)
	assert.Equal(t, []float64{7, 9}, f64(tensor.Max(y, false, 1)))
	assert.Equal(t, []float64{1, -2}, f64(tensor.Min(y, false, 1)))
	assert.Equal(t, []int64{1, 1}, tensor.ArgMax(y, 1, false).Int64s())
	assert.Equal(t, []int64{3, 0}, tensor.ArgMin(y, -1, false).Int64s())
	am := tensor.ArgMax(y, 0, true)
	assert.Equal(t, []int{1, 4}, shp(am))
	assert.Equal(t, []int64{0, 1, 1, 0}, am.Int64s())
	vals, inds := tensor.MaxAlong(y, 1, false)
	assert.Equal(t, []float64{7, 9}, f64(vals))
	assert.Equal(t, []int64{1, 1}, inds.Int64s())
	vals, inds = tensor.MinAlong(y, 0, false)
	assert.Equal(t, []float64{-2, 7, 7, 0}, f64(vals))
	assert.Equal(t, []int64{1, 0, 0, 1}, inds.Int64s())
	n := tensor.FromSlice([]float64{1, math.NaN(), 5, math.NaN()})
	assert.True(t, math.IsNaN(tensor.Max(n, false).Item()))
	assert.True(t, math.IsNaN(tensor.Min(n, false).Item()))
	assert.Equal(t, []int64{1}, tensor.ArgMax(n, 0, true).Int64s())

	// All and Any, over axes and over nothing
	b := tensor.FromSlice([]bool{true, false, true, true}, 2, 2)
	assert.Equal(t, []bool{false}, tensor.All(b, false).Bools())
	assert.Equal(t, []bool{true}, tensor.Any(b, false).Bools())
	assert.Equal(t, []bool{true, false}, tensor.All(b, false, 0).Bools())
	assert.Equal(t, []bool{false, true}, tensor.All(b, false, 1).Bools())
	assert.Equal(t, []bool{true, true}, tensor.Any(b, false, 1).Bools())
	assert.Equal(t, tensor.Bool, tensor.All(tensor.FromSlice([]float32{1, 0.5}), false).DType())
	assert.Equal(t, []bool{true}, tensor.All(tensor.FromSlice([]float32{1, 0.5}), false).Bools())
	assert.Equal(t, []bool{false}, tensor.Any(tensor.FromSlice([]int64{0, 0}), false).Bools())
	assert.Equal(t, []bool{true}, tensor.All(tensor.Zeros(tensor.Bool, 0), false).Bools(), "all of nothing is true")
	assert.Equal(t, []bool{false}, tensor.Any(tensor.Zeros(tensor.Bool, 0), false).Bools(), "any of nothing is false")
	assert.Equal(t, []bool{true, true}, tensor.All(tensor.Zeros(tensor.Float32, 2, 0), false, 1).Bools())
}

func TestLinalgOps(t *testing.T) {
	a := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	v := tensor.FromSlice([]float32{1, 0, -1})
	w := tensor.FromSlice([]float32{2, 1})
	// 2-D @ 1-D, 1-D @ 2-D, 1-D @ 1-D
	mv := tensor.MatMul(a, v)
	assert.Equal(t, []int{2}, shp(mv))
	assert.Equal(t, []float64{-2, -2}, f64(mv))
	vm := tensor.MatMul(w, a)
	assert.Equal(t, []int{3}, shp(vm))
	assert.Equal(t, []float64{6, 9, 12}, f64(vm))
	vv := tensor.MatMul(v, v)
	assert.Equal(t, 0, vv.NDim())
	assert.Equal(t, 2.0, vv.Item())
	assert.Equal(t, 14.0, tensor.Dot(tensor.FromSlice([]float32{1, 2, 3}), tensor.FromSlice([]float32{1, 2, 3})).Item())
	// batched 1-D: [3] @ [2, 3, 2] -> [2, 2]
	bt := tensor.Stack([]*tensor.Tensor{a.T(), a.T()}, 0)
	assert.Equal(t, []int{2, 2}, shp(tensor.MatMul(v, bt)))
	assert.Equal(t, []float64{-2, -2, -2, -2}, f64(tensor.MatMul(v, bt)))
	// batch broadcast and transposed views
	m := tensor.MatMul(a, a.T())
	assert.Equal(t, []float64{14, 32, 32, 77}, f64(m))
	bb := tensor.MatMul(tensor.Stack([]*tensor.Tensor{a, a, a}, 0), a.T())
	assert.Equal(t, []int{3, 2, 2}, shp(bb))
	assert.Equal(t, []float64{14, 32, 32, 77}, f64(bb.Select(0, 2)))
	// Outer
	o := tensor.Outer(w, v)
	assert.Equal(t, []int{2, 3}, shp(o))
	assert.Equal(t, []float64{2, 0, -2, 1, 0, -1}, f64(o))
	// integers and mixed dtypes promote
	ai := tensor.FromSlice([]int64{1, 2, 3, 4}, 2, 2)
	assert.Equal(t, tensor.Int64, tensor.MatMul(ai, ai).DType())
	assert.Equal(t, []float64{7, 10, 15, 22}, f64(tensor.MatMul(ai, ai)))
	assert.Equal(t, tensor.Float64, tensor.MatMul(ai, tensor.Eye(2, tensor.Float64)).DType())
	// empty inner dimension gives zeros
	z := tensor.MatMul(tensor.Zeros(tensor.Float32, 2, 0), tensor.Zeros(tensor.Float32, 0, 3))
	assert.Equal(t, []float64{0, 0, 0, 0, 0, 0}, f64(z))
	// MatMulInto a transposed destination
	dst := tensor.Zeros(tensor.Float32, 2, 2).T()
	tensor.MatMulInto(dst, a, a.T())
	assert.Equal(t, []float64{14, 32, 32, 77}, f64(dst))
}

func TestElementwiseOps(t *testing.T) {
	x := tensor.FromSlice([]float64{-2, -0.5, 0.5, 2})
	assert.Equal(t, []float64{2, 0.5, 0.5, 2}, f64(tensor.Abs(x)))
	assert.Equal(t, []float64{-1, -1, 1, 1}, f64(tensor.Sign(x)))
	assert.Equal(t, []float64{0, 0, 0.5, 2}, f64(tensor.ReLU(x)))
	assert.Equal(t, []float64{-0.2, -0.05, 0.5, 2}, f64(tensor.LeakyReLU(x, 0.1)))
	assert.Equal(t, []float64{-1, -0.5, 0.5, 1}, f64(tensor.Clamp(x, -1, 1)))
	assert.Equal(t, []float64{-2, -0.5, 0.5, 1}, f64(tensor.Clamp(x, math.Inf(-1), 1)))
	assert.Equal(t, []float64{-2, 0, 0, 2}, f64(tensor.Round(x)), "half to even")
	assert.Equal(t, []float64{-2, -1, 0, 2}, f64(tensor.Floor(x)))
	assert.Equal(t, []float64{-2, -0, 1, 2}, f64(tensor.Ceil(x)))
	assert.Equal(t, []float64{4, 0.25, 0.25, 4}, f64(tensor.Square(x)))
	assert.Equal(t, []float64{-0.5, -2, 2, 0.5}, f64(tensor.Reciprocal(x)))
	assert.Equal(t, []float64{-8, -0.125, 0.125, 8}, f64(tensor.PowScalar(x, 3)))
	assert.Equal(t, []float64{-3, -0.75, 0.75, 3}, f64(tensor.MulScalar(x, 1.5)))
	assert.Equal(t, []float64{-1, 0.5, 1.5, 3}, f64(tensor.AddScalar(x, 1)))
	assert.Equal(t, []float64{-3, 0, 2, 5}, f64(tensor.Affine(x, 2, 1)))
	assert.Equal(t, []float64{-2, -0.5, 0.5, 1}, f64(tensor.MinimumScalar(x, 1)))
	assert.Equal(t, []float64{0, 0, 0.5, 2}, f64(tensor.MaximumScalar(x, 0)))
	assert.InDelta(t, 0.8413447460685429, tensor.GELU(tensor.Scalar(1, tensor.Float64)).Item(), 1e-15)
	assert.InDelta(t, 0.8411919906082768, tensor.GELUTanh(tensor.Scalar(1, tensor.Float64)).Item(), 1e-15)
	assert.InDelta(t, 1/(1+math.Exp(-0.5)), tensor.Sigmoid(tensor.Scalar(0.5, tensor.Float32)).Item(), 1e-7)
	assert.Equal(t, []float64{0, 1}, f64(tensor.Sigmoid(tensor.FromSlice([]float32{-1000, 1000}))))
	assert.InDelta(t, math.Erf(0.3), tensor.Erf(tensor.Scalar(0.3, tensor.Float64)).Item(), 1e-15)
	assert.InDelta(t, math.Log1p(1e-10), tensor.Log1p(tensor.Scalar(1e-10, tensor.Float64)).Item(), 1e-25)
	assert.Equal(t, []float64{2, 3}, f64(tensor.Sqrt(tensor.FromSlice([]int64{4, 9}))))
	assert.Equal(t, []float64{0.5}, f64(tensor.Rsqrt(tensor.FromSlice([]float32{4}, 1))))
	assert.InDelta(t, 0, tensor.Sin(tensor.Scalar(math.Pi, tensor.Float64)).Item(), 1e-15)
	assert.InDelta(t, -1, tensor.Cos(tensor.Scalar(math.Pi, tensor.Float64)).Item(), 1e-15)
	assert.InDelta(t, math.Tanh(0.7), tensor.Tanh(tensor.Scalar(0.7, tensor.Float64)).Item(), 1e-15)
	assert.Equal(t, []float64{8}, f64(tensor.Pow(tensor.FromSlice([]float32{2}, 1), tensor.FromSlice([]int64{3}, 1))))
	assert.Equal(t, []float64{1}, f64(tensor.Exp(tensor.FromSlice([]int32{0}, 1))))
	// comparisons and logic
	y := tensor.FromSlice([]float64{-2, 0, 0.5, 3})
	assert.Equal(t, []bool{true, false, true, false}, tensor.Eq(x, y).Bools())
	assert.Equal(t, []bool{false, true, false, true}, tensor.Ne(x, y).Bools())
	assert.Equal(t, []bool{false, true, false, true}, tensor.Lt(x, y).Bools())
	assert.Equal(t, []bool{true, true, true, true}, tensor.Le(x, y).Bools())
	assert.Equal(t, []bool{false, false, false, false}, tensor.Gt(x, y).Bools())
	assert.Equal(t, []bool{true, false, true, false}, tensor.Ge(x, y).Bools())
	assert.Equal(t, []bool{false, false, true, true}, tensor.CompareScalar(tensor.OpGt, x, 0).Bools())
	assert.Equal(t, []bool{true, true, false, false}, tensor.CompareScalar(tensor.OpLt, tensor.FromSlice([]int64{-1, 0, 1, 2}), 0.5).Bools())
	p, q := tensor.FromSlice([]bool{true, true, false, false}), tensor.FromSlice([]bool{true, false, true, false})
	assert.Equal(t, []bool{true, false, false, false}, tensor.LogicalAnd(p, q).Bools())
	assert.Equal(t, []bool{true, true, true, false}, tensor.LogicalOr(p, q).Bools())
	assert.Equal(t, []bool{false, true, true, false}, tensor.LogicalXor(p, q).Bools())
	assert.Equal(t, []bool{false, false, true, true}, tensor.LogicalNot(p).Bools())
	assert.Equal(t, []bool{false, true, false, false}, tensor.Lt(q, p).Bools(), "false < true")
	// arithmetic with broadcasting and the ...Into forms
	m := tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	assert.Equal(t, []float64{0, 0, 0, 3, 3, 3}, f64(tensor.Sub(m, m.Select(0, 0))))
	den := tensor.FromSlice([]float32{1, 2, 3}, 3, 1).T().Expand(2, 3) // a broadcast, transposed view
	assert.Equal(t, []float64{1, 1, 1, 4, 2.5, 2}, f64(tensor.Div(m, den)))
	assert.Equal(t, []float64{1, 4, 9, 16, 25, 36}, f64(tensor.Mul(m, m)))
	assert.Equal(t, []float64{1, 2, 3, 4, 5, 6}, f64(tensor.Maximum(m, tensor.Scalar(0, tensor.Float32))))
	assert.Equal(t, []float64{0, 0, 0, 0, 0, 0}, f64(tensor.Minimum(m, tensor.Scalar(0, tensor.Float32))))
	out := tensor.Zeros(tensor.Float32, 2, 3)
	tensor.AddInto(out, m, tensor.Scalar(1, tensor.Float32))
	assert.Equal(t, []float64{2, 3, 4, 5, 6, 7}, f64(out))
	tensor.SubInto(out, out, m)
	tensor.MulInto(out, out, tensor.FromSlice([]float32{2}, 1))
	tensor.DivInto(out, out, tensor.FromSlice([]float32{4}, 1))
	assert.Equal(t, []float64{0.5, 0.5, 0.5, 0.5, 0.5, 0.5}, f64(out))
	tensor.BinaryInto(tensor.OpMaximum, out, out, m.T().T())
	assert.Equal(t, []float64{1, 2, 3, 4, 5, 6}, f64(out))
	// in place on a view changes the base
	row := m.Select(0, 1)
	tensor.AddInto(row, row, row)
	assert.Equal(t, []float64{1, 2, 3, 8, 10, 12}, f64(m))
	// Cast, CopyFrom (broadcast, any dtype), Clone
	assert.Same(t, m, m.Cast(tensor.Float32))
	assert.Equal(t, []float64{1, 2, 3, 8, 10, 12}, f64(m.Cast(tensor.Int32)))
	dst := tensor.Zeros(tensor.Int64, 2, 3)
	dst.CopyFrom(tensor.FromSlice([]float64{1.9, -2.9, 3}))
	assert.Equal(t, []float64{1, -2, 3, 1, -2, 3}, f64(dst))
	assert.True(t, tensor.AllClose(tensor.FromSlice([]float64{1, 2}), tensor.FromSlice([]float64{1 + 1e-9, 2}), 1e-8, 0))
	assert.False(t, tensor.AllClose(tensor.FromSlice([]float64{1, math.NaN()}), tensor.FromSlice([]float64{1, math.NaN()}), 1, 1))
	assert.False(t, tensor.Equal(tensor.FromSlice([]float64{1, 2}), tensor.FromSlice([]float64{1, 2}, 2, 1)))
}

func TestSoftmaxOps(t *testing.T) {
	x := tensor.FromSlice([]float64{1, 2, 3, 1, 1, 1}, 2, 3)
	s := tensor.Softmax(x, 1)
	e := []float64{math.Exp(1), math.Exp(2), math.Exp(3)}
	sum := e[0] + e[1] + e[2]
	want := []float64{e[0] / sum, e[1] / sum, e[2] / sum, 1.0 / 3, 1.0 / 3, 1.0 / 3}
	for i, v := range f64(s) {
		assert.InDelta(t, want[i], v, 1e-15)
	}
	ls := f64(tensor.LogSoftmax(x, -1))
	for i, v := range ls {
		assert.InDelta(t, math.Log(want[i]), v, 1e-14)
	}
	// along axis 0, each column sums to 1
	s0 := tensor.Sum(tensor.Softmax(x, 0), false, 0)
	for _, v := range f64(s0) {
		assert.InDelta(t, 1, v, 1e-15)
	}
	// stable for large inputs, -Inf entries get probability 0
	big := tensor.FromSlice([]float32{1000, 1000, float32(math.Inf(-1))})
	assert.Equal(t, []float64{0.5, 0.5, 0}, f64(tensor.Softmax(big, 0)))
	assert.Equal(t, 1.0, tensor.Softmax(tensor.Scalar(5, tensor.Float32), 0).Item())
	assert.Equal(t, tensor.Float32, tensor.Softmax(tensor.FromSlice([]int64{1, 2}), 0).DType())
	assert.Equal(t, tensor.BFloat16, tensor.Softmax(x.Cast(tensor.BFloat16), 1).DType())
}
