package cudatensor

import (
	"fmt"
	"slices"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/tensor"
)

// Gather implements tensor.Device with one strided kernel over dst's shape
// (any dtype: it moves bits). An out-of-range index panics like the CPU's,
// which makes Gather wait for the device (it reads an error flag back).
func (d *Device) Gather(dst, src, index tensor.View, axis int) {
	defer keepAlive(dst, src, index)
	dt := dst.DType()
	if index.DType() == tensor.Int64 && src.DType() == dt {
		ss := slices.Clone(src.Strides)
		ss[axis] = 0
		axisLen, axisStride := int64(src.Shape[axis]), int64(src.Strides[axis])
		ps, pi, pd := d.ptrOf("Gather", src), d.ptrOf("Gather", index), d.ptrOf("Gather", dst)
		ran := false
		bad := d.withErrFlag("Gather", func(flag cuda.DevicePtr) {
			ran = d.runEW("Gather", gatherKernel(dt), dst.Shape, [][]int{dst.Strides, index.Strides, ss},
				ps, pi, pd, axisLen, axisStride, flag)
		})
		if bad {
			panic(&tensor.Error{Op: "tensor.Gather", Msg: fmt.Sprintf("index out of range for axis %d of size %d", axis, axisLen)})
		}
		if ran {
			return
		}
	}
	d.hostFallback("Gather", []int{0}, []tensor.View{dst, src, index}, func(h []tensor.View) { tensor.CPU.Gather(h[0], h[1], h[2], axis) })
}

// ScatterAdd implements tensor.Device with atomic adds (float32/float64 sums
// that collide are added in an unspecified order). Float16 and BFloat16
// accumulate in float32 scratch copies and round once, as on the CPU.
func (d *Device) ScatterAdd(dst, index, src tensor.View, axis int) {
	defer keepAlive(dst, index, src)
	dt := dst.DType()
	if index.DType() == tensor.Int64 && src.DType() == dt {
		switch dt {
		case tensor.Float16, tensor.BFloat16:
			t := d.temp("ScatterAdd", tensor.Float32, numel(dst.Shape))
			s := d.temp("ScatterAdd", tensor.Float32, numel(src.Shape))
			tv := tensor.View{Storage: t, Shape: dst.Shape, Strides: tensor.ContiguousStrides(dst.Shape)}
			sv := tensor.View{Storage: s, Shape: src.Shape, Strides: tensor.ContiguousStrides(src.Shape)}
			d.Copy(tv, dst)
			d.Copy(sv, src)
			d.ScatterAdd(tv, index, sv, axis)
			d.Copy(dst, tv)
			t.release()
			s.release()
			return
		case tensor.Float32, tensor.Float64, tensor.Int32, tensor.Int64:
			ds := slices.Clone(dst.Strides)
			ds[axis] = 0
			axisLen, axisStride := int64(dst.Shape[axis]), int64(dst.Strides[axis])
			ps, pi, pd := d.ptrOf("ScatterAdd", src), d.ptrOf("ScatterAdd", index), d.ptrOf("ScatterAdd", dst)
			ran := false
			bad := d.withErrFlag("ScatterAdd", func(flag cuda.DevicePtr) {
				ran = d.runEW("ScatterAdd", scatterAddKernel(dt), src.Shape, [][]int{src.Strides, index.Strides, ds},
					ps, pi, pd, axisLen, axisStride, flag)
			})
			if bad {
				panic(&tensor.Error{Op: "tensor.ScatterAdd", Msg: fmt.Sprintf("index out of range for axis %d of size %d", axis, axisLen)})
			}
			if ran {
				return
			}
		}
	}
	d.hostFallback("ScatterAdd", []int{0}, []tensor.View{dst, index, src}, func(h []tensor.View) { tensor.CPU.ScatterAdd(h[0], h[1], h[2], axis) })
}
