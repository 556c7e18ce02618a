package devicetest

import (
	"fmt"
	"math"
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

// This file covers what the primitive tests above leave out: the optional
// capabilities (AdamUpdater through tensor.AdamUpdate, MatMulAdder through
// tensor.AddMatMul with a broadcast bias), the ops built from overlapping
// strided views (Im2Col, Col2Im), operands that are fully expanded scalars
// (every stride 0) for the primitives whose main tests use only partial
// broadcasts, and zero-size operands of the remaining kinds.

// testFused runs the fused optimizer updates, Im2Col/Col2Im and AddMatMul on
// the device against float64 references.
func testFused(e *env) {
	e.run("AdamUpdate", testAdamUpdate)
	e.run("SGDUpdate", testSGDUpdate)
	e.run("Im2Col", testIm2Col)
	e.run("AddMatMul", testAddMatMul)
}

// optTol is the tolerance of an optimizer update in dtype dt: the update is
// a dozen rounded operations (composed from elementwise ops on devices
// without a fused kernel), so the error is bounded by a small multiple of
// rel(dt) times the magnitudes involved.
func optTol(dt tensor.DType) float64 { return 16 * rel(dt) }

// optLayouts: a contiguous parameter (the fused path) and a transposed one
// (devices fall back to composed elementwise ops or handle strides).
var optLayouts = []layout{contiguous, permuted, stepped}

func testAdamUpdate(e *env) {
	for _, dt := range floatDTypes {
		for _, l := range optLayouts {
			for _, decoupled := range []bool{false, true} {
				shape := []int{7, 9}
				w := e.newOperand(dt, shape, l, e.magnitude(0.1, 2))
				g := e.newOperand(dt, shape, l, e.magnitude(0.1, 2))
				m := e.newOperand(dt, shape, l, e.magnitude(0.01, 0.5))
				v := e.newOperand(dt, shape, l, e.uniform(0.01, 0.5))
				h := tensor.AdamHyper{LR: 0.05, Beta1: 0.9, Beta2: 0.99, Eps: 1e-3, WeightDecay: 0.1, Step: 3, Decoupled: decoupled}
				wv, gv, mv, vv := w.values(), g.values(), m.values(), v.values()
				gBefore := e.download(g.buf.st)
				tensor.AdamUpdate(w.tensor(), g.tensor(), m.tensor(), v.tensor(), h)
				ww, wm, wvv := make([]float64, len(wv)), make([]float64, len(wv)), make([]float64, len(wv))
				cw, cm, cv := make([]float64, len(wv)), make([]float64, len(wv)), make([]float64, len(wv))
				bc1 := 1 - math.Pow(h.Beta1, float64(h.Step))
				bc2 := 1 - math.Pow(h.Beta2, float64(h.Step))
				for i := range wv {
					x, gr := wv[i], gv[i]
					if decoupled {
						x *= 1 - h.LR*h.WeightDecay
					} else {
						gr += h.WeightDecay * x
					}
					mm := h.Beta1*mv[i] + (1-h.Beta1)*gr
					vn := h.Beta2*vv[i] + (1-h.Beta2)*gr*gr
					step := h.LR / bc1 * mm / (math.Sqrt(vn)/math.Sqrt(bc2) + h.Eps)
					ww[i], wm[i], wvv[i] = quantize(dt, x-step), quantize(dt, mm), quantize(dt, vn)
					cw[i] = math.Abs(wv[i]) + math.Abs(step)*(1+math.Abs(gr)) + math.Abs(h.LR*h.WeightDecay*wv[i])
					cm[i] = math.Abs(mv[i]) + math.Abs(gr) + math.Abs(h.WeightDecay*wv[i])
					cv[i] = vv[i] + gr*gr + math.Abs(gr*h.WeightDecay*wv[i])
				}
				what := fmt.Sprintf("AdamUpdate %v %v decoupled=%v", dt, l, decoupled)
				r := optTol(dt)
				e.checkDst(what+" w", w, ww, within(r, cw))
				e.checkDst(what+" m", m, wm, within(r, cm))
				e.checkDst(what+" v", v, wvv, within(r, cv))
				// g is read, never written
				if got := e.download(g.buf.st); !slices.Equal(got, gBefore) {
					e.t.Errorf("%s: the gradient's storage changed", what)
				}
			}
		}
	}
	// A zero-size parameter is a no-op, not a panic.
	for _, dt := range floatDTypes {
		z := e.newOperand(dt, []int{0, 4}, contiguous, e.defaultGen(dt))
		tensor.AdamUpdate(z.tensor(), z.tensor().Clone(), z.tensor().Clone(), z.tensor().Clone(),
			tensor.AdamHyper{LR: 0.1, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Step: 1})
		e.checkDst(fmt.Sprintf("AdamUpdate %v zero-size", dt), z, nil, exact)
	}
}

func testSGDUpdate(e *env) {
	type hc struct {
		name string
		h    tensor.SGDHyper
	}
	hs := []hc{
		{"plain", tensor.SGDHyper{LR: 0.1, WeightDecay: 0.05}},
		{"momentum first", tensor.SGDHyper{LR: 0.1, Momentum: 0.9, WeightDecay: 0.05, First: true}},
		{"momentum dampening", tensor.SGDHyper{LR: 0.1, Momentum: 0.9, Dampening: 0.25}},
		{"nesterov", tensor.SGDHyper{LR: 0.05, Momentum: 0.8, Nesterov: true, WeightDecay: 0.01}},
	}
	for _, dt := range floatDTypes {
		for _, l := range optLayouts {
			for _, c := range hs {
				shape := []int{5, 6}
				w := e.newOperand(dt, shape, l, e.magnitude(0.1, 2))
				g := e.newOperand(dt, shape, l, e.magnitude(0.1, 2))
				b := e.newOperand(dt, shape, l, e.magnitude(0.1, 2))
				wv, gv, bv := w.values(), g.values(), b.values()
				var bt *tensor.Tensor
				if c.h.Momentum != 0 {
					bt = b.tensor()
				}
				tensor.SGDUpdate(w.tensor(), g.tensor(), bt, c.h)
				ww, wb := make([]float64, len(wv)), make([]float64, len(wv))
				cw, cb := make([]float64, len(wv)), make([]float64, len(wv))
				for i := range wv {
					gr := gv[i] + c.h.WeightDecay*wv[i]
					buf := bv[i]
					d := gr
					if c.h.Momentum != 0 {
						if c.h.First {
							buf = gr
						} else {
							buf = c.h.Momentum*buf + (1-c.h.Dampening)*gr
						}
						d = buf
						if c.h.Nesterov {
							d = gr + c.h.Momentum*buf
						}
					}
					ww[i], wb[i] = quantize(dt, wv[i]-c.h.LR*d), quantize(dt, buf)
					cw[i] = math.Abs(wv[i]) + 4*math.Abs(c.h.LR)*(math.Abs(gr)+math.Abs(bv[i])+math.Abs(d))
					cb[i] = math.Abs(bv[i]) + 2*math.Abs(gr) + math.Abs(gv[i])
				}
				what := fmt.Sprintf("SGDUpdate %s %v %v", c.name, dt, l)
				e.checkDst(what+" w", w, ww, within(optTol(dt), cw))
				if c.h.Momentum != 0 {
					e.checkDst(what+" buf", b, wb, within(optTol(dt), cb))
				} else {
					e.checkDst(what+" buf untouched", b, bv, exact)
				}
			}
		}
	}
}

// normParams gives zero strides and dilations their meaning, 1.
func normParams(p tensor.ConvParams) tensor.ConvParams {
	for _, v := range []*int{&p.StrideH, &p.StrideW, &p.DilH, &p.DilW} {
		if *v == 0 {
			*v = 1
		}
	}
	return p
}

// im2colRef unfolds x [N, C, H, W] (row-major host values) into [C*KH*KW, N*OH*OW].
func im2colRef(x host, p tensor.ConvParams) host {
	p = normParams(p)
	n, c, h, w := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	oh, ow := p.OutSize(h, w)
	out := host{shape: []int{c * p.KH * p.KW, n * oh * ow}}
	for ci := range c {
		for ki := range p.KH {
			for kj := range p.KW {
				for ni := range n {
					for oi := range oh {
						for oj := range ow {
							y := oi*p.StrideH - p.PadH + ki*p.DilH
							z := oj*p.StrideW - p.PadW + kj*p.DilW
							v := 0.0
							if y >= 0 && y < h && z >= 0 && z < w {
								v = x.at(ni, ci, y, z)
							}
							out.v = append(out.v, v)
						}
					}
				}
			}
		}
	}
	return out
}

// col2imRef is the adjoint of im2colRef: it adds every column entry back to
// its input position (in float64), and returns the per-position sum of
// magnitudes as the conditioning term.
func col2imRef(cols host, shape []int, p tensor.ConvParams) (host, []float64) {
	p = normParams(p)
	n, c, h, w := shape[0], shape[1], shape[2], shape[3]
	oh, ow := p.OutSize(h, w)
	out := host{shape: slices.Clone(shape), v: make([]float64, n*c*h*w)}
	mag := make([]float64, len(out.v))
	r := 0
	for ci := range c {
		for ki := range p.KH {
			for kj := range p.KW {
				col := 0
				for ni := range n {
					for oi := range oh {
						for oj := range ow {
							y := oi*p.StrideH - p.PadH + ki*p.DilH
							z := oj*p.StrideW - p.PadW + kj*p.DilW
							v := cols.v[r*cols.shape[1]+col]
							col++
							if y >= 0 && y < h && z >= 0 && z < w {
								k := ((ni*c+ci)*h+y)*w + z
								out.v[k] += v
								mag[k] += math.Abs(v)
							}
						}
					}
				}
				r++
			}
		}
	}
	return out, mag
}

func testIm2Col(e *env) {
	params := []tensor.ConvParams{
		{KH: 3, KW: 3},
		{KH: 3, KW: 2, StrideH: 2, StrideW: 1, PadH: 1, PadW: 2},
		{KH: 2, KW: 3, PadH: 1, PadW: 1, DilH: 2, DilW: 1, StrideW: 2},
		{KH: 1, KW: 1, StrideH: 2, StrideW: 3},
	}
	for _, dt := range floatDTypes {
		for pi, p := range params {
			for _, perm := range []bool{false, true} {
				xs := []int{2, 3, 6, 7}
				x := e.randHost(dt, e.magnitude(0.1, 4), xs...)
				tx := e.onDev(dt, x)
				if perm {
					// the same logical tensor stored NHWC: a non-contiguous view
					nhwc := host{shape: []int{2, 6, 7, 3}}
					for ni := range 2 {
						for y := range 6 {
							for z := range 7 {
								for ci := range 3 {
									nhwc.v = append(nhwc.v, x.at(ni, ci, y, z))
								}
							}
						}
					}
					tx = e.onDev(dt, nhwc).Permute(0, 3, 1, 2)
				}
				what := fmt.Sprintf("Im2Col %v params#%d permuted=%v", dt, pi, perm)
				e.expect(what, tensor.Im2Col(tx, p), dt, im2colRef(x, p), 0, nil)
				// Col2Im: random columns folded back (overlapping windows add up).
				oh, ow := p.OutSize(6, 7)
				cols := e.randHost(dt, e.magnitude(0.1, 4), 3*p.KH*p.KW, 2*oh*ow)
				want, mag := col2imRef(cols, xs, p)
				for i, v := range want.v {
					want.v[i] = quantize(dt, v)
				}
				tc := e.onDev(dt, cols)
				if perm {
					tc = e.onDev(dt, transposeHost(cols)).T()
				}
				e.expect("Col2Im ("+what+")", tensor.Col2Im(tc, xs, p), dt, want, rel(dt), mag)
			}
		}
		// an empty batch
		z := e.onDev(dt, host{shape: []int{0, 2, 4, 4}})
		p := tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}
		e.expect(fmt.Sprintf("Im2Col %v empty batch", dt), tensor.Im2Col(z, p), dt, host{shape: []int{18, 0}}, 0, nil)
		e.expect(fmt.Sprintf("Col2Im %v empty batch", dt), tensor.Col2Im(e.onDev(dt, host{shape: []int{18, 0}}), []int{0, 2, 4, 4}, p), dt,
			host{shape: []int{0, 2, 4, 4}}, 0, nil)
	}
}

func transposeHost(h host) host {
	r, c := h.shape[0], h.shape[1]
	out := host{shape: []int{c, r}}
	for j := range c {
		for i := range r {
			out.v = append(out.v, h.at(i, j))
		}
	}
	return out
}

func testAddMatMul(e *env) {
	for _, dt := range append(append([]tensor.DType{}, floatDTypes...), intDTypes...) {
		gen := e.uniform(-1, 1)
		if dt.IsInt() {
			gen = e.ints(-9, 9, true)
		}
		for _, bs := range [][]int{{}, {3}} {
			as := append(slices.Clone(bs), 4, 5)
			a, b := e.randHost(dt, gen, as...), e.randHost(dt, gen, 5, 6)
			bias := e.randHost(dt, gen, 6)
			ta, tb, tbias := e.onDev(dt, a), e.onDev(dt, b), e.onDev(dt, bias)
			want := host{shape: append(slices.Clone(bs), 4, 6)}
			var cond []float64
			nb := 1
			if len(bs) > 0 {
				nb = bs[0]
			}
			for q := range nb {
				for i := range 4 {
					for j := range 6 {
						s, c := bias.v[j], math.Abs(bias.v[j])
						for k := range 5 {
							p := a.v[(q*4+i)*5+k] * b.at(k, j)
							s += p
							c += math.Abs(p)
						}
						want.v = append(want.v, quantize(dt, s))
						cond = append(cond, c)
					}
				}
			}
			r := rel(dt)
			e.expect(fmt.Sprintf("AddMatMul %v batch %v bias row", dt, bs), tensor.AddMatMul(tbias, ta, tb), dt, want, r, cond)
			// b as a transposed view
			tbt := e.onDev(dt, transposeHost(b)).T()
			e.expect(fmt.Sprintf("AddMatMul %v batch %v transposed b", dt, bs), tensor.AddMatMul(tbias, ta, tbt), dt, want, r, cond)
		}
		// zero inner dimension: the result is the broadcast bias
		bias := e.randHost(dt, gen, 3)
		want := host{shape: []int{2, 3}, v: append(slices.Clone(bias.v), bias.v...)}
		e.expect(fmt.Sprintf("AddMatMul %v k=0", dt), tensor.AddMatMul(e.onDev(dt, bias), e.onDev(dt, host{shape: []int{2, 0}}), e.onDev(dt, host{shape: []int{0, 3}})), dt, want, 0, nil)
	}
}

// testExpanded runs the primitives on fully expanded operands (an expanded
// scalar: every stride 0), on overlapping windows (strides smaller than the
// extent of the axis after them, so distinct indices share elements, as
// Im2Col's view does), and on the zero-size cases the main tests skip.
func testExpanded(e *env) {
	shape := []int{3, 4, 5}
	for _, dt := range floatDTypes {
		for _, c := range unaryCases {
			if c.op != tensor.OpExp && c.op != tensor.OpNeg && c.op != tensor.OpTanh && c.op != tensor.OpClamp {
				continue
			}
			gen := e.magnitude(0.1, 4)
			x := e.newOperand(dt, shape, broadcastAll, gen)
			dst := e.newOperand(dt, shape, stepped, gen)
			e.unaryRun(c, dt, fmt.Sprintf("%s %v x bcast-all", c.name, dt), x, dst)
		}
		for _, op := range []tensor.ReduceOp{tensor.ReduceSum, tensor.ReduceMax, tensor.ReduceArgMin} {
			src := e.newOperand(dt, shape, broadcastAll, e.uniform(-2, 2))
			e.reduceRun(op, fmt.Sprintf("%v src bcast-all", dt), src, 1, permuted)
		}
		for _, log := range []bool{false, true} {
			src := e.newOperand(dt, shape, broadcastAll, e.uniform(-3, 3))
			dst := e.newOperand(dt, shape, contiguous, e.uniform(-3, 3))
			e.dev.Softmax(dst.view(), src.view(), log)
			want, cond := softmaxRef(src, log)
			for i, w := range want {
				want[i] = quantize(dt, w)
				cond[i] += tiny(dt) / rel(dt)
			}
			e.checkDst(fmt.Sprintf("Softmax(log=%v) %v src bcast-all", log, dt), dst, want, checker(dt, cond))
		}
	}
	for _, dt := range allDTypes {
		// Gather from an expanded source with an expanded index.
		src := e.newOperand(dt, []int{4, 6}, broadcastAll, e.defaultGen(dt))
		index := e.indexOperand([]int{3, 6}, broadcastAll, 4)
		dst := e.newOperand(dt, []int{3, 6}, permuted, e.defaultGen(dt))
		e.dev.Gather(dst.view(), src.view(), index.view(), 0)
		var want []float64
		forEach([]int{3, 6}, func(idx []int) {
			want = append(want, src.at([]int{int(index.at(idx)), idx[1]}))
		})
		e.checkDst(fmt.Sprintf("Gather %v src and index bcast-all", dt), dst, want, exact)
		// Copy and Where from expanded scalars
		s := e.newOperand(dt, shape, broadcastAll, e.defaultGen(dt))
		d := e.newOperand(dt, shape, stepped, e.defaultGen(dt))
		e.dev.Copy(d.view(), s.view())
		e.checkDst(fmt.Sprintf("Copy %v src bcast-all", dt), d, s.values(), exact)
		cond := e.newOperand(tensor.Bool, shape, broadcastAll, e.bools())
		a := e.newOperand(dt, shape, broadcastAll, e.defaultGen(dt))
		b := e.newOperand(dt, shape, permuted, e.defaultGen(dt))
		d = e.newOperand(dt, shape, contiguous, e.defaultGen(dt))
		e.dev.Where(d.view(), cond.view(), a.view(), b.view())
		cv, av, bv := cond.values(), a.values(), b.values()
		want = make([]float64, len(cv))
		for i := range cv {
			want[i] = bv[i]
			if cv[i] != 0 {
				want[i] = av[i]
			}
		}
		e.checkDst(fmt.Sprintf("Where %v cond and a bcast-all", dt), d, want, exact)
		// Overlapping windows: a [6, 4] view with strides [1, 1] over 9
		// elements (row i is elements i..i+3), and a [3, 3, 4] view with
		// strides [2, 1, 1] read through a step.
		for _, ov := range []struct {
			shape, strides []int
			off, size      int
		}{{[]int{6, 4}, []int{1, 1}, 0, 9}, {[]int{3, 3, 4}, []int{4, 2, 1}, 2, 20}} {
			vals := make([]float64, ov.size)
			gen := e.defaultGen(dt)
			for i := range vals {
				vals[i] = quantize(dt, gen())
			}
			win := operand{buf: e.upload(dt, vals), shape: ov.shape, strides: ov.strides, offset: ov.off}
			for _, ddt := range []tensor.DType{dt, tensor.Float64} {
				d := e.newOperand(ddt, ov.shape, stepped, e.defaultGen(ddt))
				e.dev.Copy(d.view(), win.view())
				w := win.values()
				for i, v := range w {
					w[i] = quantize(ddt, v)
				}
				e.checkDst(fmt.Sprintf("Copy %v overlapping windows %v strides %v -> %v", dt, ov.shape, ov.strides, ddt), d, w, exact)
			}
			if dt.IsFloat() || dt.IsInt() {
				// a reduction over overlapping windows (a sliding-window sum)
				e.reduceRun(tensor.ReduceSum, fmt.Sprintf("%v overlapping windows %v", dt, ov.shape), win, 1, contiguous)
			}
		}
	}
	// OpNot on zero-size and 0-d bools; MatMul into a zero-size batch with
	// broadcast operands.
	for _, s := range [][]int{{}, {0, 3}, {4, 0}} {
		x := e.newOperand(tensor.Bool, s, offsetL, e.bools())
		dst := e.newOperand(tensor.Bool, s, stepped, e.bools())
		e.dev.Unary(tensor.OpNot, dst.view(), x.view(), 0, 0)
		want := x.values()
		for i, v := range want {
			want[i] = 1 - v
		}
		e.checkDst(fmt.Sprintf("Not %v", s), dst, want, exact)
	}
	for _, dt := range floatDTypes {
		a := e.matmulOperand(dt, []int{0, 2, 3}, true, false, false, e.uniform(-1, 1))
		b := e.matmulOperand(dt, []int{0, 3, 4}, true, true, false, e.uniform(-1, 1))
		dst := e.newOperand(dt, []int{0, 2, 4}, contiguous, e.defaultGen(dt))
		e.dev.MatMul(dst.view(), a.view(), b.view())
		e.checkDst(fmt.Sprintf("MatMul %v zero batch with broadcast operands", dt), dst, nil, exact)
	}
	// ScatterAdd from an expanded source and index into a permuted destination.
	for _, dt := range append(append([]tensor.DType{}, floatDTypes...), intDTypes...) {
		dst := e.newOperand(dt, []int{5, 4}, permuted, e.defaultGen(dt))
		index := e.indexOperand([]int{7, 4}, broadcastAll, 5)
		src := e.newOperand(dt, []int{7, 4}, broadcastAll, e.defaultGen(dt))
		want := dst.values()
		cond := make([]float64, len(want))
		for i, v := range want {
			cond[i] = math.Abs(v)
		}
		forEach([]int{7, 4}, func(idx []int) {
			p := int(index.at(idx))*4 + idx[1]
			want[p] += src.at(idx)
			cond[p] += math.Abs(src.at(idx))
		})
		for i, w := range want {
			want[i] = quantize(dt, w)
		}
		e.dev.ScatterAdd(dst.view(), index.view(), src.view(), 0)
		e.checkDst(fmt.Sprintf("ScatterAdd %v src and index bcast-all", dt), dst, want, checker(dt, cond))
	}
}
