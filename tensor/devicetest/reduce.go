package devicetest

import (
	"fmt"
	"math"
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

var reduceNames = map[tensor.ReduceOp]string{
	tensor.ReduceSum: "Sum", tensor.ReduceProd: "Prod", tensor.ReduceMax: "Max",
	tensor.ReduceMin: "Min", tensor.ReduceArgMax: "ArgMax", tensor.ReduceArgMin: "ArgMin",
}

// reduceRef reduces the last nred axes of src (values in row-major order) by
// op. It returns the results and, per result, the conditioning term Σ|x|
// (sums) or n·|result| (products).
func reduceRef(op tensor.ReduceOp, src operand, nred int) (want, cond []float64) {
	k := len(src.shape) - nred
	outer, inner := src.shape[:k], src.shape[k:]
	forEach(outer, func(oi []int) {
		idx := append(slices.Clone(oi), make([]int, nred)...)
		var acc, mag float64
		best := math.NaN()
		bestAt := -1
		switch op {
		case tensor.ReduceProd:
			acc = 1
		}
		n := 0
		forEach(inner, func(ii []int) {
			copy(idx[k:], ii)
			v := src.at(idx)
			switch op {
			case tensor.ReduceSum:
				acc += v
				mag += math.Abs(v)
			case tensor.ReduceProd:
				acc *= v
			case tensor.ReduceMax, tensor.ReduceArgMax, tensor.ReduceMin, tensor.ReduceArgMin:
				isMax := op == tensor.ReduceMax || op == tensor.ReduceArgMax
				switch {
				case bestAt >= 0 && math.IsNaN(best): // the first NaN wins
				case bestAt < 0 || math.IsNaN(v) || (isMax && v > best) || (!isMax && v < best):
					best, bestAt = v, n
				}
			}
			n++
		})
		switch op {
		case tensor.ReduceMax, tensor.ReduceMin:
			acc = best
		case tensor.ReduceArgMax, tensor.ReduceArgMin:
			acc = float64(bestAt)
		case tensor.ReduceProd:
			mag = float64(n) * math.Abs(acc)
		}
		want = append(want, acc)
		cond = append(cond, mag)
	})
	return want, cond
}

// reduceOut is the destination dtype of a reduction of src dtype dt.
func reduceOut(op tensor.ReduceOp, dt tensor.DType) tensor.DType {
	switch {
	case op == tensor.ReduceArgMax || op == tensor.ReduceArgMin:
		return tensor.Int64
	case (op == tensor.ReduceSum || op == tensor.ReduceProd) && !dt.IsFloat():
		return tensor.Int64
	}
	return dt
}

func (e *env) reduceRun(op tensor.ReduceOp, what string, src operand, nred int, dl layout) {
	e.t.Helper()
	dt := src.buf.dt
	odt := reduceOut(op, dt)
	if dt == tensor.Bool && op == tensor.ReduceProd {
		odt = tensor.Bool // All
	}
	if dt == tensor.Bool && op == tensor.ReduceSum && len(src.shape)%2 == 1 {
		odt = tensor.Bool // Any (odd ranks; even ranks count into Int64)
	}
	dshape := src.shape[:len(src.shape)-nred]
	dst := e.newOperand(odt, dshape, dl, e.defaultGen(odt))
	e.dev.Reduce(op, dst.view(), src.view(), nred)
	want, cond := reduceRef(op, src, nred)
	for i, w := range want {
		want[i] = quantize(odt, w)
	}
	e.checkDst(fmt.Sprintf("%s nred=%d %s", reduceNames[op], nred, what), dst, want, checker(odt, cond))
}

func testReduce(e *env) {
	ops := []tensor.ReduceOp{tensor.ReduceSum, tensor.ReduceProd, tensor.ReduceMax, tensor.ReduceMin, tensor.ReduceArgMax, tensor.ReduceArgMin}
	for _, dt := range allDTypes {
		for _, op := range ops {
			gen := e.defaultGen(dt)
			switch {
			case op == tensor.ReduceProd && dt.IsFloat():
				gen = e.magnitude(0.8, 1.25)
			case op == tensor.ReduceProd && dt.IsInt():
				gen = func() float64 { return []float64{-2, -1, 1, 1, 1, 2}[e.rng.IntN(6)] }
			case op == tensor.ReduceSum && dt.IsFloat():
				gen = e.uniform(-2, 2)
			case op != tensor.ReduceSum && dt.IsFloat() && dt != tensor.Float64:
				gen = discrete(e, dt) // ties: the first occurrence must win
			}
			name := fmt.Sprintf("%v", dt)
			maxNred := 3
			if op == tensor.ReduceArgMax || op == tensor.ReduceArgMin {
				maxNred = 1
			}
			for _, shape := range [][]int{{4, 5, 6}, {3, 1, 4, 5}} {
				for nred := 1; nred <= min(maxNred, len(shape)); nred++ {
					for _, l := range inputLayouts {
						src := e.newOperand(dt, shape, l, gen)
						e.reduceRun(op, fmt.Sprintf("%s %v src %v", name, shape, l), src, nred, contiguous)
					}
					src := e.newOperand(dt, shape, permuted, gen)
					e.reduceRun(op, fmt.Sprintf("%s %v dst stepped", name, shape), src, nred, stepped)
				}
			}
			// whole tensor to a 0-d result; a 1-D vector; 0-d input with nred 0
			if maxNred > 1 {
				src := e.newOperand(dt, []int{3, 4, 5}, stepped, gen)
				e.reduceRun(op, name+" to 0-d", src, 3, offsetL)
			}
			src := e.newOperand(dt, []int{29}, offsetL, gen)
			e.reduceRun(op, name+" vector", src, 1, contiguous)
			src = e.newOperand(dt, []int{0, 6}, contiguous, gen)
			e.reduceRun(op, name+" zero-size kept axis", src, 1, contiguous)
			src = e.newOperand(dt, []int{2, 0, 6}, permuted, gen)
			e.reduceRun(op, name+" zero-size kept axes", src, 1, stepped)
			if op == tensor.ReduceSum || op == tensor.ReduceProd {
				src = e.newOperand(dt, []int{4, 0}, contiguous, gen)
				e.reduceRun(op, name+" empty reduced axis", src, 1, stepped)
				src = e.newOperand(dt, []int{2, 3, 0}, permuted, gen)
				e.reduceRun(op, name+" empty reduced axes", src, 2, contiguous)
			}
			if dt == tensor.Float32 || dt == tensor.Float64 || dt == tensor.BFloat16 || dt == tensor.Int32 {
				// Reductions over leading axes of a row-major tensor (the
				// transposed view), one output from many elements, and many
				// outputs: the shapes that take the CPU's parallel paths.
				if op == tensor.ReduceProd { // keep 75000-element products finite
					gen = e.magnitude(0.99, 1.01)
					if dt.IsInt() {
						gen = e.magnitude(1, 1)
					}
				}
				src = e.newOperand(dt, []int{96, 40}, permuted, gen)
				e.reduceRun(op, name+" leading axis of a row-major tensor", src, 1, contiguous)
				src = e.newOperand(dt, []int{96, 4, 10}, permuted, gen)
				if dt != tensor.Float32 && dt != tensor.Int32 {
					continue
				}
				if maxNred > 1 {
					e.reduceRun(op, name+" leading axes of a row-major tensor", src, 2, contiguous)
					src = e.newOperand(dt, []int{300, 250}, contiguous, gen)
					e.reduceRun(op, name+" 75000 elements to one", src, 2, contiguous)
				} else {
					src = e.newOperand(dt, []int{1, 75000}, contiguous, gen)
					e.reduceRun(op, name+" 75000 elements to one", src, 1, contiguous)
				}
				src = e.newOperand(dt, []int{2000, 40}, contiguous, gen)
				e.reduceRun(op, name+" 2000 rows", src, 1, contiguous)
			}
		}
	}
}

// testReduceSpecial: NaN propagates through Max and Min and is the
// arg-reduction's answer (the first NaN); ties go to the first occurrence
// even when the tied elements are far apart; infinities.
func testReduceSpecial(e *env) {
	nan, inf := math.NaN(), math.Inf(1)
	rows := [][]float64{
		{1, nan, 3, nan},
		{nan, -inf, inf, 2},
		{-inf, -inf, -inf, -inf},
		{inf, 1, inf, -inf},
		{2, 5, 5, -1},
		{-1, -7, 3, -7},
	}
	for _, dt := range floatDTypes {
		var vals []float64
		for _, r := range rows {
			vals = append(vals, r...)
		}
		src := operand{buf: e.upload(dt, vals), shape: []int{len(rows), 4}, strides: []int{4, 1}}
		for _, op := range []tensor.ReduceOp{tensor.ReduceMax, tensor.ReduceMin, tensor.ReduceArgMax, tensor.ReduceArgMin, tensor.ReduceSum} {
			e.reduceRun(op, fmt.Sprintf("%v special values", dt), src, 1, contiguous)
		}
		// one maximum far away from its twin, across any split of the work
		big := make([]float64, 90001)
		for i := range big {
			big[i] = quantize(dt, float64(i%97)/128)
		}
		big[20000], big[70000], big[90000] = 3, 3, -3
		src = operand{buf: e.upload(dt, big), shape: []int{len(big)}, strides: []int{1}}
		for _, op := range []tensor.ReduceOp{tensor.ReduceMax, tensor.ReduceMin, tensor.ReduceArgMax, tensor.ReduceArgMin} {
			e.reduceRun(op, fmt.Sprintf("%v tie across 90001 elements", dt), src, 1, contiguous)
		}
		big[80000] = nan
		src = operand{buf: e.upload(dt, big), shape: []int{len(big)}, strides: []int{1}}
		for _, op := range []tensor.ReduceOp{tensor.ReduceMax, tensor.ReduceMin, tensor.ReduceArgMax, tensor.ReduceArgMin} {
			e.reduceRun(op, fmt.Sprintf("%v NaN late in 90001 elements", dt), src, 1, contiguous)
		}
	}
}

// softmaxRef computes softmax or log-softmax over the last axis, with the
// conditioning term of each result.
func softmaxRef(src operand, log bool) (want, cond []float64) {
	nd := len(src.shape)
	if nd == 0 {
		if log {
			return []float64{0}, []float64{0}
		}
		return []float64{1}, []float64{0}
	}
	L := src.shape[nd-1]
	forEach(src.shape[:nd-1], func(oi []int) {
		idx := append(slices.Clone(oi), 0)
		row := make([]float64, L)
		m := math.Inf(-1)
		for j := range L {
			idx[nd-1] = j
			row[j] = src.at(idx)
			m = math.Max(m, row[j])
		}
		s, spread := 0.0, 0.0
		for _, v := range row {
			s += math.Exp(v - m)
			if !math.IsInf(v, -1) {
				spread = math.Max(spread, math.Abs(v-m))
			}
		}
		lse := math.Log(s)
		for _, v := range row {
			var w, c float64
			switch {
			case math.IsInf(m, -1): // every entry -Inf: undefined
				w = math.NaN()
			case log:
				w = v - m - lse
				c = 2*spread + 1
			default:
				w = math.Exp(v-m) / s
				c = w * (2*spread + 1)
			}
			want = append(want, w)
			cond = append(cond, c)
		}
	})
	return want, cond
}

func testSoftmax(e *env) {
	inf := math.Inf(-1)
	for _, dt := range floatDTypes {
		for _, log := range []bool{false, true} {
			run := func(what string, src, dst operand) {
				e.t.Helper()
				e.dev.Softmax(dst.view(), src.view(), log)
				want, cond := softmaxRef(src, log)
				for i, w := range want {
					want[i] = quantize(dt, w)
					cond[i] += tiny(dt) / rel(dt)
				}
				e.checkDst(fmt.Sprintf("Softmax(log=%v) %v %s", log, dt, what), dst, want, checker(dt, cond))
			}
			gen := e.uniform(-5, 5)
			for _, shape := range [][]int{{4, 7}, {3, 2, 33}, {1}, {5, 1}, {}, {0, 5}, {3, 0}} {
				for _, l := range inputLayouts {
					src := e.newOperand(dt, shape, l, gen)
					dst := e.newOperand(dt, shape, contiguous, gen)
					run(fmt.Sprintf("%v src %v", shape, l), src, dst)
				}
				for _, l := range dstLayouts[1:] {
					src := e.newOperand(dt, shape, contiguous, gen)
					dst := e.newOperand(dt, shape, l, gen)
					run(fmt.Sprintf("%v dst %v", shape, l), src, dst)
				}
			}
			x := e.newOperand(dt, []int{6, 9}, stepped, gen)
			run("in place", x, x.same())
			// masked rows (-Inf entries), a fully masked row (NaN), a large offset
			off := map[tensor.DType]float64{tensor.Float32: 1e4, tensor.Float64: 1e4, tensor.BFloat16: 1000, tensor.Float16: 200}[dt]
			rows := [][]float64{
				{1, inf, 2, inf, -3},
				{inf, inf, inf, inf, inf},
				{off + 1, off - 2, off, off + 0.5, off - 4},
				{-off, -off + 3, -off - 1, -off + 2, -off},
				{inf, 0.5, inf, inf, inf},
			}
			var vals []float64
			for _, r := range rows {
				for _, v := range r {
					vals = append(vals, quantize(dt, v))
				}
			}
			src := operand{buf: e.upload(dt, vals), shape: []int{len(rows), 5}, strides: []int{5, 1}}
			dst := e.newOperand(dt, []int{len(rows), 5}, contiguous, gen)
			run("masked rows and large offsets", src, dst)
			// many rows (parallel) and long rows
			src = e.newOperand(dt, []int{300, 70}, contiguous, gen)
			dst = e.newOperand(dt, []int{300, 70}, contiguous, gen)
			run("300x70", src, dst)
			src = e.newOperand(dt, []int{70, 300}, permuted, gen)
			dst = e.newOperand(dt, []int{70, 300}, contiguous, gen)
			run("70x300 transposed", src, dst)
		}
	}
}
