package data

import (
	"fmt"
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// Tensors returns the whole dataset as tensors: X, float32 of shape
// [Len(), SampleShape...], and Y, int64 of shape [Len()]. They alias d.X
// and d.Y (no copy).
func (d *ArrayDataset) Tensors() (x, y *tensor.Tensor) {
	x = tensor.FromSlice(d.X, append([]int{d.Len()}, d.Shape...)...)
	y = tensor.FromSlice(d.Y, d.Len())
	return x, y
}

// Tensor returns the array as a CPU tensor of its shape. float32, float64,
// int32, int64 and bool arrays keep their type (the tensor aliases Data);
// float16 becomes float32; 8- and 16-bit integers become int32; uint32 and
// uint64 become int64 (an error if a uint64 value exceeds MaxInt64).
func (a *NPY) Tensor() (*tensor.Tensor, error) {
	shape := a.Shape
	switch d := a.Data.(type) {
	case []float32:
		return tensor.FromSlice(d, shape...), nil
	case []float64:
		return tensor.FromSlice(d, shape...), nil
	case []int32:
		return tensor.FromSlice(d, shape...), nil
	case []int64:
		return tensor.FromSlice(d, shape...), nil
	case []bool:
		return tensor.FromSlice(d, shape...), nil
	case []Float16:
		return tensor.FromSlice(a.Float32(), shape...), nil
	case []int8:
		return tensor.FromSlice(convert[int32](d), shape...), nil
	case []uint8:
		return tensor.FromSlice(convert[int32](d), shape...), nil
	case []int16:
		return tensor.FromSlice(convert[int32](d), shape...), nil
	case []uint16:
		return tensor.FromSlice(convert[int32](d), shape...), nil
	case []uint32:
		return tensor.FromSlice(convert[int64](d), shape...), nil
	case []uint64:
		for _, v := range d {
			if v > math.MaxInt64 {
				return nil, fmt.Errorf("data: npy: uint64 value %d does not fit an int64 tensor", v)
			}
		}
		return tensor.FromSlice(convert[int64](d), shape...), nil
	}
	return nil, fmt.Errorf("data: npy: unsupported data type %T", a.Data)
}
