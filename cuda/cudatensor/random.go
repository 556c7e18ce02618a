package cudatensor

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// roundCode is the kernels' code for the dtype a random value is rounded to.
func roundCode(dt tensor.DType) int32 {
	switch dt {
	case tensor.Float32:
		return 0
	case tensor.Float64:
		return 1
	case tensor.BFloat16:
		return 2
	case tensor.Float16:
		return 3
	}
	return -1
}

// hostRound rounds v to dtype dt with the CPU device's conversion.
func hostRound(dt tensor.DType, v float64) float64 {
	src := tensor.NewHostStorage(tensor.Float64, []float64{v})
	mid, _ := tensor.CPU.Alloc(dt, 1)
	out, _ := tensor.CPU.Alloc(tensor.Float64, 1)
	s := []int{}
	tensor.CPU.Copy(tensor.View{Storage: mid, Shape: s, Strides: s}, tensor.View{Storage: src, Shape: s, Strides: s})
	tensor.CPU.Copy(tensor.View{Storage: out, Shape: s, Strides: s}, tensor.View{Storage: mid, Shape: s, Strides: s})
	return tensor.HostData(out).([]float64)[0]
}

// largestBelow is the largest value of the float dtype dt below p (the
// value a uniform draw that would round up to p is replaced with; see
// tensor's RandomFill).
func largestBelow(dt tensor.DType, p float64) float64 {
	r := hostRound(dt, p)
	if r < p {
		return r
	}
	switch dt {
	case tensor.Float64:
		return math.Nextafter(r, math.Inf(-1))
	case tensor.Float32:
		return float64(math.Nextafter32(float32(r), float32(math.Inf(-1))))
	}
	conv, back := tensor.Float32ToFloat16, tensor.Float16ToFloat32
	if dt == tensor.BFloat16 {
		conv, back = tensor.Float32ToBFloat16, tensor.BFloat16ToFloat32
	}
	h := conv(float32(r))
	switch {
	case r > 0:
		h--
	case r == 0:
		h = 0x8001
	default:
		h++
	}
	return float64(back(h))
}

// RandomFill implements tensor.Device with the CPU's Philox stream and
// mapping (tensor/philox.go), element by element in row-major order of
// dst: float32 and float64 are written directly; the other dtypes are
// drawn into float64 scratch and cast, as the CPU stores its float64 values.
func (d *Device) RandomFill(dst tensor.View, dist tensor.Distribution, seed, offset uint64, p0, p1 float64) {
	defer keepAlive(dst)
	dt := dst.DType()
	n := numel(dst.Shape)
	if n == 0 {
		return
	}
	top := 0.0
	if dist == tensor.Uniform && dt.IsFloat() && p1 > p0 {
		top = largestBelow(dt, p1)
	}
	args := func(p any) []any {
		return []any{seed, offset, int32(dist), roundCode(dt), p0, p1, top, p}
	}
	if dt == tensor.Float32 || dt == tensor.Float64 {
		if d.runEW("RandomFill", randKernel(dt), dst.Shape, [][]int{dst.Strides}, args(d.ptrOf("RandomFill", dst))...) {
			return
		}
	} else {
		tmp := d.temp("RandomFill", tensor.Float64, n)
		tv := tensor.View{Storage: tmp, Shape: dst.Shape, Strides: tensor.ContiguousStrides(dst.Shape)}
		if d.runEW("RandomFill", randKernel(tensor.Float64), dst.Shape, [][]int{tv.Strides}, args(tmp.Ptr())...) {
			d.Copy(dst, tv)
			tmp.release()
			return
		}
		tmp.release()
	}
	d.hostFallback("RandomFill", []int{0}, []tensor.View{dst}, func(h []tensor.View) {
		tensor.CPU.RandomFill(h[0], dist, seed, offset, p0, p1)
	})
}
