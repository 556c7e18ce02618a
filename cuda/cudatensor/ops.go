package cudatensor

import (
	"encoding/binary"
	"math"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/tensor"
)

// runEW launches an elementwise kernel over shape with operands' strides
// in slot order (see tensordev.cu); args follow (n, descriptor). It
// reports false, having done nothing, when the kernel is missing or the
// operands need more than 8 dimensions: the caller then falls back to the
// host.
func (d *Device) runEW(op, name string, shape []int, strides [][]int, args ...any) bool {
	if !hasKernel(name) {
		return false
	}
	desc, ok := mergeAxes(shape, strides...)
	if !ok {
		return false
	}
	n := desc.numel()
	if n == 0 {
		return true
	}
	sa, err := desc.arg()
	check(op, err)
	check(op, d.be.launch(name, n, append([]any{n, sa}, args...)...))
	return true
}

// scalarBits is v stored in dtype dt exactly as the CPU device stores it
// (Fill's rounding), as little-endian bits.
func scalarBits(dt tensor.DType, v float64) uint64 {
	st, err := tensor.CPU.Alloc(dt, 1)
	if err != nil {
		panic(err)
	}
	tensor.CPU.Fill(tensor.View{Storage: st, Shape: []int{}, Strides: []int{}}, v)
	var b [8]byte
	copy(b[:], tensor.HostBytes(st))
	return binary.LittleEndian.Uint64(b[:])
}

// Fill implements tensor.Device.
func (d *Device) Fill(dst tensor.View, v float64) {
	defer keepAlive(dst)
	dt := dst.DType()
	if d.runEW("Fill", fillKernel(dt), dst.Shape, [][]int{dst.Strides}, scalarBits(dt, v), d.ptrOf("Fill", dst)) {
		return
	}
	d.hostFallback("Fill", []int{0}, []tensor.View{dst}, func(h []tensor.View) { tensor.CPU.Fill(h[0], v) })
}

// Copy implements tensor.Device.
func (d *Device) Copy(dst, src tensor.View) {
	defer keepAlive(dst, src)
	name := copyKernel(dst.DType())
	if dst.DType() != src.DType() {
		name = castKernel(src.DType(), dst.DType())
	}
	if d.runEW("Copy", name, dst.Shape, [][]int{dst.Strides, src.Strides}, d.ptrOf("Copy", src), d.ptrOf("Copy", dst)) {
		return
	}
	d.hostFallback("Copy", []int{0}, []tensor.View{dst, src}, func(h []tensor.View) { tensor.CPU.Copy(h[0], h[1]) })
}

// intParam converts a float parameter to the integer dtype dt the way the
// CPU kernels do (T(p), or saturating for Clamp's bounds).
func intParam(dt tensor.DType, p float64, saturate bool) int64 {
	if saturate {
		lo, hi := float64(math.MinInt64), float64(math.MaxInt64)
		if dt == tensor.Int32 {
			lo, hi = math.MinInt32, math.MaxInt32
		}
		switch {
		case math.IsNaN(p):
			return 0
		case p <= lo:
			if dt == tensor.Int32 {
				return math.MinInt32
			}
			return math.MinInt64
		case p >= hi:
			if dt == tensor.Int32 {
				return math.MaxInt32
			}
			return math.MaxInt64
		}
	}
	if dt == tensor.Int32 {
		return int64(int32(p))
	}
	return int64(p)
}

// Unary implements tensor.Device.
func (d *Device) Unary(op tensor.UnaryOp, dst, x tensor.View, p0, p1 float64) {
	defer keepAlive(dst, x)
	dt := x.DType()
	name, intParams := unaryKernel(op, dt, p0)
	var a0, a1 any = p0, p1
	if intParams {
		sat := op == tensor.OpClamp
		a0, a1 = intParam(dt, p0, sat), intParam(dt, p1, sat)
	}
	args := []any{d.ptrOf("Unary", x), d.ptrOf("Unary", dst)}
	if name != "tess_td_not_bool" {
		args = append(args, a0, a1)
	}
	if name != "" && dst.DType() == dt && d.runEW("Unary", name, dst.Shape, [][]int{dst.Strides, x.Strides}, args...) {
		return
	}
	d.hostFallback("Unary", []int{0}, []tensor.View{dst, x}, func(h []tensor.View) { tensor.CPU.Unary(op, h[0], h[1], p0, p1) })
}

// Binary implements tensor.Device.
func (d *Device) Binary(op tensor.BinaryOp, dst, a, b tensor.View) {
	defer keepAlive(dst, a, b)
	dt := a.DType()
	name := binaryKernel(op, dt)
	if name != "" && b.DType() == dt {
		strides := [][]int{dst.Strides, a.Strides, b.Strides}
		pa, pb, pd := d.ptrOf("Binary", a), d.ptrOf("Binary", b), d.ptrOf("Binary", dst)
		_, arith := binaryArith[op]
		switch {
		case !arith:
			if d.runEW("Binary", name, dst.Shape, strides, pa, pb, pd) {
				return
			}
		case op == tensor.OpDiv && dt.IsInt():
			ran := false
			bad := d.withErrFlag("Binary", func(flag cuda.DevicePtr) {
				ran = d.runEW("Binary", name, dst.Shape, strides, pa, pb, pd, flag)
			})
			if bad {
				panic(&tensor.Error{Op: "tensor.Div", Msg: "integer division by zero"})
			}
			if ran {
				return
			}
		default:
			if d.runEW("Binary", name, dst.Shape, strides, pa, pb, pd, cuda.DevicePtr(0)) {
				return
			}
		}
	}
	d.hostFallback("Binary", []int{0}, []tensor.View{dst, a, b}, func(h []tensor.View) { tensor.CPU.Binary(op, h[0], h[1], h[2]) })
}

// Where implements tensor.Device.
func (d *Device) Where(dst, cond, a, b tensor.View) {
	defer keepAlive(dst, cond, a, b)
	if cond.DType() == tensor.Bool && a.DType() == dst.DType() && b.DType() == dst.DType() &&
		d.runEW("Where", whereKernel(dst.DType()), dst.Shape, [][]int{dst.Strides, cond.Strides, a.Strides, b.Strides},
			d.ptrOf("Where", cond), d.ptrOf("Where", a), d.ptrOf("Where", b), d.ptrOf("Where", dst)) {
		return
	}
	d.hostFallback("Where", []int{0}, []tensor.View{dst, cond, a, b}, func(h []tensor.View) { tensor.CPU.Where(h[0], h[1], h[2], h[3]) })
}

// hostFallback runs a CPU kernel on host copies of the views' storages and
// copies the written storages back: correct for any primitive, but it waits
// for the device and moves whole storages both ways (slow).
func (d *Device) hostFallback(op string, written []int, views []tensor.View, run func(h []tensor.View)) {
	hosts := map[*Storage]tensor.Storage{}
	hv := make([]tensor.View, len(views))
	for i, v := range views {
		s := d.storageOf(op, v)
		h, ok := hosts[s]
		if !ok {
			var err error
			h, err = d.ToHost(s)
			check(op, err)
			hosts[s] = h
		}
		hv[i] = tensor.View{Storage: h, Shape: v.Shape, Strides: v.Strides, Offset: v.Offset}
	}
	run(hv)
	done := map[*Storage]bool{}
	for _, i := range written {
		s := d.storageOf(op, views[i])
		if done[s] {
			continue
		}
		done[s] = true
		if b := tensor.HostBytes(hosts[s]); len(b) > 0 {
			check(op, d.be.htod(s.Ptr(), b))
		}
	}
	fallbacks.Add(1)
}
