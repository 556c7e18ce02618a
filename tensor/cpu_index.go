package tensor

import "fmt"

// gatherOffsets walks dst and index together and calls f with the storage
// offsets of each destination element and of its source element.
func indexWalk(op string, shape []int, axis int, outer, index, other View, f func(oo, oi int, idx int64, other int)) {
	axisLen := other.Shape[axis]
	axisStride := other.Strides[axis]
	o2 := other
	o2.Strides = sliceClone(other.Strides)
	o2.Strides[axis] = 0
	o2.Shape = shape
	l := makeLoop(shape, outer, index, o2)
	ib := index.Storage.(*cpuStorage).buf.([]int64)
	l.runRange(0, l.numel, func(offs []int, n int) {
		for i := range n {
			oi := offs[1] + i*l.inner(1)
			idx := ib[oi]
			if idx < 0 || int(idx) >= axisLen {
				panic(&Error{Op: op, Msg: fmt.Sprintf("index %d out of range for axis %d of size %d in shape %v (index shape %v)",
					idx, axis, axisLen, Shape(other.Shape), Shape(index.Shape))})
			}
			f(offs[0]+i*l.inner(0), oi, idx, offs[2]+i*l.inner(2)+int(idx)*axisStride)
		}
	})
}

func (cpuDevice) Gather(dst, src, index View, axis int) {
	cpuView("Gather", dst)
	switch d := dst.Storage.(*cpuStorage).buf.(type) {
	case []float32:
		gatherTyped(d, dst, src, index, axis)
	case []float64:
		gatherTyped(d, dst, src, index, axis)
	case []uint16:
		gatherTyped(d, dst, src, index, axis)
	case []int32:
		gatherTyped(d, dst, src, index, axis)
	case []int64:
		gatherTyped(d, dst, src, index, axis)
	case []bool:
		gatherTyped(d, dst, src, index, axis)
	}
}

func gatherTyped[T any](d []T, dst, src, index View, axis int) {
	s := src.Storage.(*cpuStorage).buf.([]T)
	indexWalk("tensor.Gather", dst.Shape, axis, dst, index, src, func(od, _ int, _ int64, os int) {
		d[od] = s[os]
	})
}

func (cpuDevice) ScatterAdd(dst, index, src View, axis int) {
	cpuView("ScatterAdd", dst)
	switch d := dst.Storage.(*cpuStorage).buf.(type) {
	case []float32:
		scatterAddTyped(d, dst, index, src, axis)
	case []float64:
		scatterAddTyped(d, dst, index, src, axis)
	case []int32:
		scatterAddTyped(d, dst, index, src, axis)
	case []int64:
		scatterAddTyped(d, dst, index, src, axis)
	case []uint16:
		// Accumulate in float32, then round once.
		tmp := View{Storage: newCPUStorage(Float32, Shape(dst.Shape).NumElements()), Shape: dst.Shape, Strides: ContiguousStrides(dst.Shape)}
		CPU.Copy(tmp, dst)
		s32 := View{Storage: newCPUStorage(Float32, Shape(src.Shape).NumElements()), Shape: src.Shape, Strides: ContiguousStrides(src.Shape)}
		CPU.Copy(s32, src)
		scatterAddTyped(tmp.Storage.(*cpuStorage).buf.([]float32), tmp, index, s32, axis)
		CPU.Copy(dst, tmp)
	default:
		panic(Errorf("tensor.ScatterAdd", "unsupported dtype %v", dst.DType()))
	}
}

func scatterAddTyped[T number](d []T, dst, index, src View, axis int) {
	s := src.Storage.(*cpuStorage).buf.([]T)
	// Walk src and index; the destination offset replaces the axis coordinate.
	indexWalk("tensor.ScatterAdd", src.Shape, axis, src, index, dst, func(os, _ int, _ int64, od int) {
		d[od] += s[os]
	})
}
