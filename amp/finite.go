package amp

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// AllFinite reports whether every element of every tensor is finite (no
// inf, no NaN). Non-float tensors are always finite. It is written with
// tensor ops (Σ 0·x is 0 exactly when every x is finite, NaN otherwise),
// so it runs on the tensors' devices and copies one scalar per tensor to
// the host.
func AllFinite(ts ...*tensor.Tensor) bool {
	for _, t := range ts {
		if t == nil || !t.DType().IsFloat() || t.NumElements() == 0 {
			continue
		}
		if s := tensor.Sum(tensor.Affine(t, 0, 0), false).Item(); s != 0 || math.IsNaN(s) {
			return false
		}
	}
	return true
}

// UnscaleInto sets dst = mul·src, converting src (any float dtype, e.g. a
// float16 gradient) to dst's dtype first (float32 for a master gradient),
// and reports whether the result is finite. dst and src must have the
// same shape and device.
func UnscaleInto(dst, src *tensor.Tensor, mul float64) (finite bool) {
	if !dst.Shape().Equal(src.Shape()) {
		panic(tensor.Errorf("amp.UnscaleInto", "destination %s%v for source %s%v", dst.DType(), dst.Shape(), src.DType(), src.Shape()))
	}
	dst.CopyFrom(src)
	if mul != 1 {
		tensor.UnaryInto(tensor.OpAffine, dst, dst, mul, 0)
	}
	return AllFinite(dst)
}
