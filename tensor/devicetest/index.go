package devicetest

import (
	"fmt"
	"math"
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

// indexOperand makes an Int64 index of the given shape and layout with
// values in [0, n).
func (e *env) indexOperand(shape []int, l layout, n int) operand {
	return e.newOperand(tensor.Int64, shape, l, e.ints(0, max(n-1, 0), false))
}

func testGather(e *env) {
	type gc struct {
		src, index []int
		axis       int
		srcL, idxL layout
		dstL       layout
	}
	cases := []gc{
		{[]int{5, 6, 7}, []int{4, 6, 7}, 0, contiguous, contiguous, contiguous},
		{[]int{5, 6, 7}, []int{5, 9, 7}, 1, permuted, contiguous, stepped},
		{[]int{5, 6, 7}, []int{3, 4, 11}, 2, stepped, permuted, contiguous},
		{[]int{5, 6, 7}, []int{2, 6, 3}, 1, offsetL, broadcastHead, permuted},
		{[]int{5, 6, 7}, []int{5, 6, 7}, 2, broadcastTail, broadcastTail, offsetL},
		{[]int{8}, []int{20}, 0, contiguous, contiguous, contiguous},
		{[]int{5, 6}, []int{0, 6}, 0, contiguous, contiguous, contiguous},
		{[]int{5, 6}, []int{5, 0}, 1, permuted, contiguous, stepped},
		{[]int{100, 200}, []int{100, 150}, 1, contiguous, contiguous, contiguous},
	}
	for _, dt := range allDTypes {
		for _, c := range cases {
			src := e.newOperand(dt, c.src, c.srcL, e.defaultGen(dt))
			index := e.indexOperand(c.index, c.idxL, c.src[c.axis])
			dst := e.newOperand(dt, c.index, c.dstL, e.defaultGen(dt))
			e.dev.Gather(dst.view(), src.view(), index.view(), c.axis)
			var want []float64
			forEach(c.index, func(idx []int) {
				si := slices.Clone(idx)
				si[c.axis] = int(index.at(idx))
				want = append(want, src.at(si))
			})
			e.checkDst(fmt.Sprintf("Gather %v src %v %v index %v %v axis %d dst %v", dt, c.src, c.srcL, c.index, c.idxL, c.axis, c.dstL),
				dst, want, exact)
		}
	}
}

func testScatterAdd(e *env) {
	type sc struct {
		dst, index []int
		axis       int
		dstL, idxL layout
		srcL       layout
	}
	cases := []sc{
		{[]int{5, 6, 7}, []int{9, 6, 7}, 0, contiguous, contiguous, contiguous},
		{[]int{5, 6, 7}, []int{5, 12, 7}, 1, stepped, permuted, contiguous},
		{[]int{5, 6, 7}, []int{3, 4, 20}, 2, permuted, contiguous, stepped},
		{[]int{5, 6, 7}, []int{2, 6, 3}, 1, offsetL, broadcastHead, broadcastTail},
		{[]int{8}, []int{30}, 0, contiguous, contiguous, permuted},
		{[]int{5, 6}, []int{0, 6}, 0, contiguous, contiguous, contiguous},
		{[]int{100, 200}, []int{100, 300}, 1, contiguous, contiguous, contiguous},
	}
	for _, dt := range append(append([]tensor.DType{}, floatDTypes...), intDTypes...) {
		for _, c := range cases {
			dst := e.newOperand(dt, c.dst, c.dstL, e.defaultGen(dt))
			index := e.indexOperand(c.index, c.idxL, c.dst[c.axis])
			src := e.newOperand(dt, c.index, c.srcL, e.defaultGen(dt))
			want := dst.values()
			cond := make([]float64, len(want))
			for i, v := range want {
				cond[i] = math.Abs(v)
			}
			pos := func(idx []int) int { // row-major position in dst
				p := 0
				for i, x := range idx {
					p = p*c.dst[i] + x
				}
				return p
			}
			forEach(c.index, func(idx []int) {
				di := slices.Clone(idx)
				di[c.axis] = int(index.at(idx))
				v := src.at(idx)
				want[pos(di)] += v
				cond[pos(di)] += math.Abs(v)
			})
			e.dev.ScatterAdd(dst.view(), index.view(), src.view(), c.axis)
			for i, w := range want {
				want[i] = quantize(dt, w)
			}
			e.checkDst(fmt.Sprintf("ScatterAdd %v dst %v %v index %v %v src %v axis %d", dt, c.dst, c.dstL, c.index, c.idxL, c.srcL, c.axis),
				dst, want, checker(dt, cond))
		}
	}
}
