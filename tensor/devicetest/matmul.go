package devicetest

import (
	"fmt"
	"math"
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

// matmulRef computes a @ b over [batch..., M, K] @ [batch..., K, N], with
// Σ|a_ik·b_kj| as each result's conditioning term.
func matmulRef(a, b operand, add []float64) (want, cond []float64) {
	nd := len(a.shape)
	m, k, n := a.shape[nd-2], a.shape[nd-1], b.shape[nd-1]
	batch := a.shape[:nd-2]
	i := 0
	forEach(batch, func(bi []int) {
		ia := append(slices.Clone(bi), 0, 0)
		ib := append(slices.Clone(bi), 0, 0)
		for r := range m {
			for c := range n {
				s, mag := 0.0, 0.0
				if add != nil {
					s = add[i]
					mag = math.Abs(s)
				}
				for q := range k {
					ia[nd-2], ia[nd-1] = r, q
					ib[nd-2], ib[nd-1] = q, c
					p := a.at(ia) * b.at(ib)
					s += p
					mag += math.Abs(p)
				}
				want = append(want, s)
				cond = append(cond, mag)
				i++
			}
		}
	})
	return want, cond
}

// matmulGeometry lays out an operand of shape [batch..., R, C]: batch axes
// broadcast (stride 0) when bcast, the matrix transposed (column-major) when
// trans, every other element when step.
func (e *env) matmulOperand(dt tensor.DType, shape []int, bcast, trans, step bool, gen func() float64) operand {
	nd := len(shape)
	mem := slices.Clone(shape)
	if bcast {
		for i := range nd - 2 {
			mem[i] = 1
		}
	}
	if trans {
		mem[nd-2], mem[nd-1] = mem[nd-1], mem[nd-2]
	}
	st := tensor.ContiguousStrides(mem)
	size := numel(mem)
	off := 0
	if step {
		for i := range st {
			st[i] *= 2
		}
		size, off = 2*size+3, 2
	}
	if trans {
		st[nd-2], st[nd-1] = st[nd-1], st[nd-2]
	}
	if bcast {
		for i := range nd - 2 {
			if shape[i] != 1 {
				st[i] = 0
			}
		}
	}
	vals := make([]float64, size)
	for i := range vals {
		vals[i] = quantize(dt, gen())
	}
	return operand{buf: e.upload(dt, vals), shape: slices.Clone(shape), strides: st, offset: off}
}

func testMatMul(e *env) {
	type mm struct {
		batch   []int
		m, k, n int
		// layouts
		bcastA, bcastB, transA, transB, stepA, stepB, dstT bool
	}
	cases := []mm{
		{m: 1, k: 1, n: 1},
		{m: 3, k: 5, n: 4},
		{m: 17, k: 33, n: 9, transB: true},
		{m: 17, k: 33, n: 9, transA: true, stepB: true},
		{m: 64, k: 70, n: 65},
		{m: 45, k: 70, n: 37, transA: true, transB: true, dstT: true},
		{m: 1, k: 300, n: 1},
		{m: 300, k: 1, n: 200},
		{m: 0, k: 3, n: 4}, {m: 3, k: 0, n: 4}, {m: 3, k: 4, n: 0},
		{batch: []int{2, 3}, m: 4, k: 5, n: 6},
		{batch: []int{2, 3}, m: 4, k: 5, n: 6, bcastA: true, transB: true},
		{batch: []int{4}, m: 7, k: 9, n: 5, bcastB: true, transA: true, stepA: true},
		{batch: []int{3}, m: 33, k: 40, n: 35, stepA: true, stepB: true, dstT: true},
		{batch: []int{5}, m: 2, k: 0, n: 3},
		{batch: []int{0}, m: 2, k: 3, n: 3},
		{batch: []int{40}, m: 12, k: 16, n: 12, transB: true},
	}
	dts := append(append([]tensor.DType{}, floatDTypes...), intDTypes...)
	adder, hasAdd := e.dev.(tensor.MatMulAdder)
	for _, dt := range dts {
		gen := e.uniform(-1, 1)
		if dt.IsInt() {
			gen = e.ints(-9, 9, true)
		}
		for _, c := range cases {
			as := append(slices.Clone(c.batch), c.m, c.k)
			bs := append(slices.Clone(c.batch), c.k, c.n)
			ds := append(slices.Clone(c.batch), c.m, c.n)
			a := e.matmulOperand(dt, as, c.bcastA, c.transA, c.stepA, gen)
			b := e.matmulOperand(dt, bs, c.bcastB, c.transB, c.stepB, gen)
			what := fmt.Sprintf("%v %v@%v (bcast %v/%v, trans %v/%v, step %v/%v, dst transposed %v)",
				dt, as, bs, c.bcastA, c.bcastB, c.transA, c.transB, c.stepA, c.stepB, c.dstT)
			for _, accumulate := range []bool{false, true} {
				if accumulate && !hasAdd {
					continue
				}
				dst := e.matmulOperand(dt, ds, false, c.dstT, c.dstT, gen)
				var add []float64
				if accumulate {
					add = dst.values()
					adder.MatMulAdd(dst.view(), a.view(), b.view())
				} else {
					e.dev.MatMul(dst.view(), a.view(), b.view())
				}
				want, cond := matmulRef(a, b, add)
				for i, w := range want {
					want[i] = quantize(dt, w)
				}
				name := "MatMul " + what
				if accumulate {
					name = "MatMulAdd " + what
				}
				e.checkDst(name, dst, want, checker(dt, cond))
			}
		}
	}
}
