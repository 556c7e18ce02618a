package devicetest

import (
	"fmt"
	"math"
	"slices"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// host is a row-major float64 array: the reference side of the op-level tests.
type host struct {
	shape []int
	v     []float64
}

func (h host) at(idx ...int) float64 {
	p := 0
	for i, x := range idx {
		p = p*h.shape[i] + x
	}
	return h.v[p]
}

// randHost returns random values of dtype dt (never zero for numbers).
func (e *env) randHost(dt tensor.DType, gen func() float64, shape ...int) host {
	v := make([]float64, numel(shape))
	for i := range v {
		v[i] = quantize(dt, gen())
	}
	return host{shape: shape, v: v}
}

// onDev creates h as a tensor of dtype dt on the device under test.
func (e *env) onDev(dt tensor.DType, h host) *tensor.Tensor {
	t := tensor.FromView(tensor.View{Storage: hostStorage(dt, h.v), Shape: slices.Clone(h.shape), Strides: tensor.ContiguousStrides(h.shape)}).To(e.dev)
	require.Equal(e.t, e.dev, t.Device())
	return t
}

// readBack returns t's shape and row-major values, read with To(CPU) and
// decoded here.
func (e *env) readBack(t *tensor.Tensor) host {
	c := t.To(tensor.CPU)
	all := decodeHost(c.Storage())
	shape, strides, off := c.Shape(), c.Strides(), c.Offset()
	var v []float64
	forEach(shape, func(idx []int) {
		p := off
		for i, x := range idx {
			p += x * strides[i]
		}
		v = append(v, all[p])
	})
	return host{shape: shape, v: v}
}

// expect checks an op's result: on the device, of dtype dt and shape, with
// values within r·(|want| + cond) (cond nil: r·|want|; r 0: exact).
func (e *env) expect(what string, got *tensor.Tensor, dt tensor.DType, want host, r float64, cond []float64) {
	e.t.Helper()
	if !assert.Equal(e.t, e.dev, got.Device(), "%s: result device", what) ||
		!assert.Equal(e.t, dt, got.DType(), "%s: result dtype", what) ||
		!assert.Equal(e.t, fmt.Sprint(want.shape), fmt.Sprint([]int(got.Shape())), "%s: result shape", what) {
		return
	}
	g := e.readBack(got)
	check := within(r, cond)
	if r == 0 {
		check = exact
	}
	bad := 0
	for i := range want.v {
		if !check(i, g.v[i], want.v[i]) {
			if bad < 5 {
				e.t.Errorf("%s: element %d: got %v, want %v", what, i, g.v[i], want.v[i])
			}
			bad++
		}
	}
}

func mapHost(h host, f func(float64) float64) host {
	out := host{shape: h.shape, v: make([]float64, len(h.v))}
	for i, v := range h.v {
		out.v[i] = f(v)
	}
	return out
}

// testOps runs the tensor op API on tensors that live on the device, so a
// backend is exercised the way programs use it.
func testOps(e *env) {
	f32 := tensor.Float32
	r32 := rel(f32)
	gen := e.magnitude(0.1, 3)

	e.run("Elementwise", func(e *env) {
		a, b := e.randHost(f32, gen, 3, 4), e.randHost(f32, gen, 4)
		ta, tb := e.onDev(f32, a), e.onDev(f32, b)
		want := host{shape: []int{3, 4}}
		for i := range 3 {
			for j := range 4 {
				want.v = append(want.v, a.at(i, j)+b.at(j))
			}
		}
		e.expect("Add broadcast", tensor.Add(ta, tb), f32, mapHost(want, func(v float64) float64 { return quantize(f32, v) }), r32,
			mapHost(want, func(float64) float64 { return 6 }).v)
		e.expect("Exp", tensor.Exp(ta), f32, mapHost(a, math.Exp), r32, mapHost(a, func(v float64) float64 { return math.Abs(v) * math.Exp(v) }).v)
		e.expect("Sigmoid", tensor.Sigmoid(ta), f32, mapHost(a, sigmoidRef), r32, mapHost(a, math.Abs).v)
		e.expect("ReLU", tensor.ReLU(ta), f32, mapHost(a, func(v float64) float64 { return math.Max(v, 0) }), 0, nil)
		e.expect("Clamp", tensor.Clamp(ta, -1, 1), f32, mapHost(a, func(v float64) float64 { return math.Min(math.Max(v, -1), 1) }), 0, nil)
		e.expect("MulScalar", tensor.MulScalar(ta, 0.5), f32, mapHost(a, func(v float64) float64 { return v / 2 }), 0, nil)
		// integers divide to float32
		ia := e.randHost(tensor.Int64, e.ints(-20, 20, true), 6)
		ib := e.randHost(tensor.Int64, e.ints(1, 5, true), 6)
		want = host{shape: []int{6}}
		for i := range 6 {
			want.v = append(want.v, quantize(f32, ia.v[i]/ib.v[i]))
		}
		e.expect("Div int64", tensor.Div(e.onDev(tensor.Int64, ia), e.onDev(tensor.Int64, ib)), f32, want, r32, nil)
		// comparisons, Where, MaskedFill
		mask := tensor.CompareScalar(tensor.OpGt, ta, 0)
		e.expect("Gt", mask, tensor.Bool, mapHost(a, func(v float64) float64 { return b2f(v > 0) }), 0, nil)
		e.expect("Where", tensor.Where(mask, ta, tensor.Neg(ta)), f32, mapHost(a, math.Abs), 0, nil)
		e.expect("MaskedFill", tensor.MaskedFill(ta, mask, 9), f32, mapHost(a, func(v float64) float64 {
			if v > 0 {
				return 9
			}
			return v
		}), 0, nil)
		// in place through a transposed view
		tc := e.onDev(f32, a)
		tensor.AddInto(tc.T(), tc.T(), tb.Unsqueeze(1))
		want = host{shape: []int{3, 4}}
		for i := range 3 {
			for j := range 4 {
				want.v = append(want.v, quantize(f32, a.at(i, j)+b.at(j)))
			}
		}
		e.expect("AddInto in place on a transposed view", tc, f32, want, r32, mapHost(want, func(float64) float64 { return 6 }).v)
		// bf16 arithmetic and casts
		hb := e.onDev(f32, a).Cast(tensor.BFloat16)
		e.expect("Cast bfloat16", hb, tensor.BFloat16, mapHost(a, roundBF16), 0, nil)
		e.expect("Mul bfloat16", tensor.Mul(hb, hb), tensor.BFloat16, mapHost(a, func(v float64) float64 { return roundBF16(roundBF16(v) * roundBF16(v)) }), rel(tensor.BFloat16), nil)
	})

	e.run("Reduce", func(e *env) {
		x := e.randHost(f32, gen, 3, 4, 5)
		tx := e.onDev(f32, x)
		sum := host{shape: []int{1, 4, 1}}
		mag := []float64{}
		for j := range 4 {
			s, m := 0.0, 0.0
			for i := range 3 {
				for k := range 5 {
					s += x.at(i, j, k)
					m += math.Abs(x.at(i, j, k))
				}
			}
			sum.v = append(sum.v, s)
			mag = append(mag, m)
		}
		e.expect("Sum axes 0,2 keepDim", tensor.Sum(tx, true, 0, 2), f32, sum, r32, mag)
		mean := mapHost(sum, func(v float64) float64 { return v / 15 })
		e.expect("Mean", tensor.Mean(tx, false, 0, 2), f32, host{shape: []int{4}, v: mean.v}, r32, mapHost(host{v: mag}, func(v float64) float64 { return v / 15 }).v)
		vr := host{shape: []int{4}}
		for j := range 4 {
			ss := 0.0
			for i := range 3 {
				for k := range 5 {
					d := x.at(i, j, k) - mean.v[j]
					ss += d * d
				}
			}
			vr.v = append(vr.v, ss/14)
		}
		e.expect("Var correction 1", tensor.Var(tx, 1, false, 0, 2), f32, vr, 1e-5, nil)
		e.expect("Std correction 1", tensor.Std(tx, 1, false, 0, 2), f32, mapHost(vr, math.Sqrt), 1e-5, nil)
		amax := host{shape: []int{3, 4}}
		vmax := host{shape: []int{3, 4}}
		for i := range 3 {
			for j := range 4 {
				best := 0
				for k := range 5 {
					if x.at(i, j, k) > x.at(i, j, best) {
						best = k
					}
				}
				amax.v = append(amax.v, float64(best))
				vmax.v = append(vmax.v, x.at(i, j, best))
			}
		}
		e.expect("ArgMax", tensor.ArgMax(tx, -1, false), tensor.Int64, amax, 0, nil)
		e.expect("Max", tensor.Max(tx, false, 2), f32, vmax, 0, nil)
		// LogSumExp, with a row of -Inf (the answer is -Inf, not NaN)
		l := host{shape: []int{3, 4}, v: slices.Clone(x.v[:12])}
		for j := range 4 {
			l.v[4+j] = math.Inf(-1)
		}
		lse := host{shape: []int{3}}
		for i := range 3 {
			s := 0.0
			for j := range 4 {
				s += math.Exp(l.at(i, j))
			}
			lse.v = append(lse.v, math.Log(s))
		}
		e.expect("LogSumExp", tensor.LogSumExp(e.onDev(f32, l), false, 1), f32, lse, r32, []float64{4, 0, 4})
		// All and Any of bools
		bh := host{shape: []int{2, 3}, v: []float64{1, 1, 1, 0, 1, 0}}
		tb := e.onDev(tensor.Bool, bh)
		e.expect("All", tensor.All(tb, false, 1), tensor.Bool, host{shape: []int{2}, v: []float64{1, 0}}, 0, nil)
		e.expect("Any", tensor.Any(tb, false, 0), tensor.Bool, host{shape: []int{3}, v: []float64{1, 1, 1}}, 0, nil)
	})

	e.run("MatMul", func(e *env) {
		a, b := e.randHost(f32, gen, 5, 7), e.randHost(f32, gen, 7, 3)
		ta, tb := e.onDev(f32, a), e.onDev(f32, b)
		mm := func(m, k, n int, ga, gb func(i, j int) float64) (host, []float64) {
			out := host{shape: []int{m, n}}
			var cond []float64
			for i := range m {
				for j := range n {
					s, c := 0.0, 0.0
					for q := range k {
						s += ga(i, q) * gb(q, j)
						c += math.Abs(ga(i, q) * gb(q, j))
					}
					out.v = append(out.v, s)
					cond = append(cond, c)
				}
			}
			return out, cond
		}
		want, cond := mm(5, 7, 3, func(i, j int) float64 { return a.at(i, j) }, func(i, j int) float64 { return b.at(i, j) })
		e.expect("MatMul", tensor.MatMul(ta, tb), f32, want, r32, cond)
		// b given transposed: b2 is [3, 7], used as b2.T()
		tb2 := e.onDev(f32, host{shape: []int{3, 7}, v: func() []float64 {
			var v []float64
			for j := range 3 {
				for q := range 7 {
					v = append(v, b.at(q, j))
				}
			}
			return v
		}()})
		e.expect("MatMul transposed view", tensor.MatMul(ta, tb2.T()), f32, want, r32, cond)
		// 1-D cases
		v7 := e.randHost(f32, gen, 7)
		tv := e.onDev(f32, v7)
		w1, c1 := mm(1, 7, 3, func(_, q int) float64 { return v7.v[q] }, func(q, j int) float64 { return b.at(q, j) })
		e.expect("MatMul 1-D @ 2-D", tensor.MatMul(tv, tb), f32, host{shape: []int{3}, v: w1.v}, r32, c1)
		w2, c2 := mm(5, 7, 1, func(i, q int) float64 { return a.at(i, q) }, func(q, _ int) float64 { return v7.v[q] })
		e.expect("MatMul 2-D @ 1-D", tensor.MatMul(ta, tv), f32, host{shape: []int{5}, v: w2.v}, r32, c2)
		w3, c3 := mm(1, 7, 1, func(_, q int) float64 { return v7.v[q] }, func(q, _ int) float64 { return v7.v[q] })
		e.expect("MatMul 1-D @ 1-D", tensor.MatMul(tv, tv), f32, host{shape: []int{}, v: w3.v}, r32, c3)
		e.expect("Dot", tensor.Dot(tv, tv), f32, host{shape: []int{}, v: w3.v}, r32, c3)
		outer := host{shape: []int{7, 7}}
		for i := range 7 {
			for j := range 7 {
				outer.v = append(outer.v, quantize(f32, v7.v[i]*v7.v[j]))
			}
		}
		e.expect("Outer", tensor.Outer(tv, tv), f32, outer, r32, nil)
		// batch broadcast: [2,1,4,5] @ [3,5,6] -> [2,3,4,6]
		ba, bb := e.randHost(f32, gen, 2, 1, 4, 5), e.randHost(f32, gen, 3, 5, 6)
		bw := host{shape: []int{2, 3, 4, 6}}
		var bc []float64
		for p := range 2 {
			for q := range 3 {
				w, c := mm(4, 5, 6, func(i, k int) float64 { return ba.at(p, 0, i, k) }, func(k, j int) float64 { return bb.at(q, k, j) })
				bw.v = append(bw.v, w.v...)
				bc = append(bc, c...)
			}
		}
		e.expect("MatMul batch broadcast", tensor.MatMul(e.onDev(f32, ba), e.onDev(f32, bb)), f32, bw, r32, bc)
	})

	e.run("Softmax", func(e *env) {
		x := e.randHost(f32, gen, 4, 3)
		tx := e.onDev(f32, x)
		want, lwant := host{shape: []int{4, 3}, v: make([]float64, 12)}, host{shape: []int{4, 3}, v: make([]float64, 12)}
		for j := range 3 {
			s := 0.0
			for i := range 4 {
				s += math.Exp(x.at(i, j))
			}
			for i := range 4 {
				want.v[i*3+j] = math.Exp(x.at(i, j)) / s
				lwant.v[i*3+j] = x.at(i, j) - math.Log(s)
			}
		}
		e.expect("Softmax axis 0", tensor.Softmax(tx, 0), f32, want, 1e-5, nil)
		e.expect("LogSoftmax axis 0", tensor.LogSoftmax(tx, 0), f32, lwant, r32, mapHost(lwant, func(float64) float64 { return 10 }).v)
	})

	e.run("Index", func(e *env) {
		x := e.randHost(f32, gen, 4, 5)
		tx := e.onDev(f32, x)
		idx := host{shape: []int{3}, v: []float64{3, 0, 3}}
		tidx := e.onDev(tensor.Int64, idx)
		want := host{shape: []int{4, 3}}
		for i := range 4 {
			for _, j := range idx.v {
				want.v = append(want.v, x.at(i, int(j)))
			}
		}
		e.expect("IndexSelect axis 1", tensor.IndexSelect(tx, 1, tidx), f32, want, 0, nil)
		gi := host{shape: []int{2, 5}, v: []float64{3, 0, 1, 1, 2, 0, 0, 3, 2, 1}}
		want = host{shape: []int{2, 5}}
		for i := range 2 {
			for j := range 5 {
				want.v = append(want.v, x.at(int(gi.at(i, j)), j))
			}
		}
		tgi := e.onDev(tensor.Int64, gi)
		e.expect("Gather axis 0", tensor.Gather(tx, 0, tgi), f32, want, 0, nil)
		src := e.randHost(f32, gen, 2, 5)
		sw := host{shape: []int{4, 5}, v: slices.Clone(x.v)}
		for i := range 2 {
			for j := range 5 {
				sw.v[int(gi.at(i, j))*5+j] += src.at(i, j)
			}
		}
		e.expect("ScatterAdd axis 0", tensor.ScatterAdd(tx, 0, tgi, e.onDev(f32, src)), f32, mapHost(sw, func(v float64) float64 { return quantize(f32, v) }), r32,
			mapHost(sw, func(float64) float64 { return 6 }).v)
		e.expect("ScatterAdd leaves its input alone", tx, f32, x, 0, nil)
		oh := host{shape: []int{3, 4}}
		for _, l := range idx.v {
			for c := range 4 {
				oh.v = append(oh.v, b2f(int(l) == c))
			}
		}
		e.expect("OneHot", tensor.OneHot(tidx, 4), f32, oh, 0, nil)
	})

	e.run("Shape", func(e *env) {
		a, b := e.randHost(f32, gen, 2, 3), e.randHost(f32, gen, 2, 2)
		ta, tb := e.onDev(f32, a), e.onDev(f32, b)
		cat := host{shape: []int{2, 5}}
		for i := range 2 {
			for j := range 3 {
				cat.v = append(cat.v, a.at(i, j))
			}
			for j := range 2 {
				cat.v = append(cat.v, b.at(i, j))
			}
		}
		e.expect("Concat axis 1", tensor.Concat([]*tensor.Tensor{ta, tb}, 1), f32, cat, 0, nil)
		st := host{shape: []int{2, 2, 3}, v: append(slices.Clone(a.v), a.v...)}
		e.expect("Stack", tensor.Stack([]*tensor.Tensor{ta, ta}, 0), f32, st, 0, nil)
		pad := host{shape: []int{3, 6}}
		for i := range 3 {
			for j := range 6 {
				v := -1.0
				if i < 2 && j >= 1 && j < 4 {
					v = a.at(i, j-1)
				}
				pad.v = append(pad.v, v)
			}
		}
		e.expect("Pad", tensor.Pad(ta, []int{1, 2, 0, 1}, -1), f32, pad, 0, nil)
		tr := host{shape: []int{3, 2}}
		for j := range 3 {
			for i := range 2 {
				tr.v = append(tr.v, a.at(i, j))
			}
		}
		ct := ta.T().Contiguous()
		e.expect("Contiguous of a transpose", ct, f32, tr, 0, nil)
		assert.True(e.t, ct.IsContiguous())
		e.expect("Reshape of a transpose (a copy)", ta.T().Reshape(6), f32, host{shape: []int{6}, v: tr.v}, 0, nil)
		cl := ta.Clone()
		assert.False(e.t, cl.SharesStorage(ta))
		dst := e.onDev(f32, host{shape: []int{3, 2}, v: make([]float64, 6)})
		dst.CopyFrom(ta.T())
		e.expect("CopyFrom", dst, f32, tr, 0, nil)
		// a view written in place is seen by its base
		tensor.UnaryInto(tensor.OpNeg, ta.Select(0, 1), ta.Select(0, 1), 0, 0)
		neg := host{shape: []int{2, 3}, v: slices.Clone(a.v)}
		for j := range 3 {
			neg.v[3+j] = -neg.v[3+j]
		}
		e.expect("write through a Select view", ta, f32, neg, 0, nil)
	})

	e.run("Random", func(e *env) {
		// The same generator state gives the same numbers on every device.
		for _, dt := range floatDTypes {
			on := tensor.EmptyOn(e.dev, dt, 33, 5)
			tensor.NewGenerator(11).FillNormal(on, 0, 1)
			ref := tensor.NewGenerator(11).Normal(0, 1, dt, 33, 5)
			e.expect(fmt.Sprintf("FillNormal %v", dt), on, dt, e.readBack(ref), rel(dt)/2, nil)
			tensor.NewGenerator(12).FillUniform(on, -1, 1)
			e.expect(fmt.Sprintf("FillUniform %v", dt), on, dt, e.readBack(tensor.NewGenerator(12).Uniform(-1, 1, dt, 33, 5)), 0, nil)
			tensor.NewGenerator(13).FillBernoulli(on, 0.25)
			e.expect(fmt.Sprintf("FillBernoulli %v", dt), on, dt, e.readBack(tensor.NewGenerator(13).Bernoulli(0.25, dt, 33, 5)), 0, nil)
		}
	})
}
