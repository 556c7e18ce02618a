package cudatensor

import (
	"sync/atomic"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/tensor"
)

// fallbacks counts host round trips (for tests and diagnostics).
var fallbacks atomic.Int64

// Fallbacks returns how many primitive calls ran through the host (a copy
// to the CPU, the CPU kernel, a copy back) in this process.
func Fallbacks() int64 { return fallbacks.Load() }

// contiguousIn returns the address of v's elements laid out row-major:
// v itself when it already is, else a scratch copy (release it after the
// work using it is queued; nil when none was made). ok is false when the
// copy needs the host.
func (d *Device) contiguousIn(op string, v tensor.View) (p cuda.DevicePtr, tmp *Storage, ok bool) {
	if isRowMajor(v.Shape, v.Strides) {
		return d.ptrOf(op, v), nil, true
	}
	tmp = d.temp(op, v.DType(), numel(v.Shape))
	if !d.runEW(op, copyKernel(v.DType()), v.Shape, [][]int{tensor.ContiguousStrides(v.Shape), v.Strides}, d.ptrOf(op, v), tmp.Ptr()) {
		tmp.release()
		return 0, nil, false
	}
	return tmp.Ptr(), tmp, true
}

// Reduce implements tensor.Device: the reduced axes are made contiguous and
// last (a strided copy when they are not), one kernel reduces each row into
// a float64 or int64 accumulator, and a cast writes dst.
func (d *Device) Reduce(op tensor.ReduceOp, dst, src tensor.View, nred int) {
	defer keepAlive(dst, src)
	k := len(src.Shape) - nred
	outN, redN := numel(src.Shape[:k]), numel(src.Shape[k:])
	if outN == 0 {
		return
	}
	isArg := op == tensor.ReduceArgMax || op == tensor.ReduceArgMin
	if redN == 0 {
		if isArg || op == tensor.ReduceMax || op == tensor.ReduceMin {
			panic(&tensor.Error{Op: "tensor.Reduce", Msg: "max/min of an empty axis"})
		}
		v := 0.0
		if op == tensor.ReduceProd {
			v = 1
		}
		d.Fill(dst, v)
		return
	}
	dt := src.DType()
	perThread := redN < 64 && outN >= 256
	name := reduceKernel(op, dt, perThread)
	if hasKernel(name) {
		if x, tmp, ok := d.contiguousIn("Reduce", src); ok {
			acc := tensor.Int64
			if dt.IsFloat() && !isArg {
				acc = tensor.Float64
			}
			var out *Storage
			po := cuda.DevicePtr(0)
			if dst.DType() == acc && isRowMajor(dst.Shape, dst.Strides) {
				po = d.ptrOf("Reduce", dst)
			} else {
				out = d.temp("Reduce", acc, outN)
				po = out.Ptr()
			}
			rows, cols := int64(outN), int64(redN)
			if perThread {
				check("Reduce", d.be.launch(name, rows, rows, cols, x, po))
			} else {
				check("Reduce", d.be.launchRows(name, rows, rows, cols, x, po))
			}
			if out != nil {
				d.Copy(dst, tensor.View{Storage: out, Shape: dst.Shape, Strides: tensor.ContiguousStrides(dst.Shape)})
				out.release()
			}
			if tmp != nil {
				tmp.release()
			}
			return
		}
	}
	d.hostFallback("Reduce", []int{0}, []tensor.View{dst, src}, func(h []tensor.View) { tensor.CPU.Reduce(op, h[0], h[1], nred) })
}

// Softmax implements tensor.Device (rows of the last axis, one block each,
// computed in float64).
func (d *Device) Softmax(dst, src tensor.View, log bool) {
	defer keepAlive(dst, src)
	nd := len(src.Shape)
	if nd == 0 {
		v := 1.0
		if log {
			v = 0
		}
		d.Fill(dst, v)
		return
	}
	L := src.Shape[nd-1]
	n := numel(src.Shape)
	if n == 0 || L == 0 {
		return
	}
	dt := src.DType()
	name := softmaxKernel(dt)
	if dt.IsFloat() && dst.DType() == dt && hasKernel(name) {
		if x, tmpIn, ok := d.contiguousIn("Softmax", src); ok {
			var out *Storage
			var py cuda.DevicePtr
			if isRowMajor(dst.Shape, dst.Strides) {
				py = d.ptrOf("Softmax", dst)
			} else {
				out = d.temp("Softmax", dt, n)
				py = out.Ptr()
			}
			rows := int64(n / L)
			logv := int32(0)
			if log {
				logv = 1
			}
			check("Softmax", d.be.launchRows(name, rows, rows, int64(L), x, py, logv))
			if out != nil {
				d.Copy(dst, tensor.View{Storage: out, Shape: dst.Shape, Strides: tensor.ContiguousStrides(dst.Shape)})
				out.release()
			}
			if tmpIn != nil {
				tmpIn.release()
			}
			return
		}
	}
	d.hostFallback("Softmax", []int{0}, []tensor.View{dst, src}, func(h []tensor.View) { tensor.CPU.Softmax(h[0], h[1], log) })
}
