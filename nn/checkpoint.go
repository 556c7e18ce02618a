package nn

import (
	"fmt"

	"github.com/tessera-ml/tessera/safetensors"
	"github.com/tessera-ml/tessera/tensor"
)

func toInfo(name string, t *tensor.Tensor) (safetensors.TensorInfo, error) {
	shape := []int(t.Shape())
	switch t.DType() {
	case tensor.Float64:
		return safetensors.Encode(t.Float64s(), shape...)
	case tensor.Int64:
		return safetensors.Encode(t.Int64s(), shape...)
	case tensor.Int32:
		return safetensors.Encode(tensor.ToSlice[int32](t), shape...)
	case tensor.Bool:
		return safetensors.Encode(t.Bools(), shape...)
	case tensor.Float32, tensor.BFloat16, tensor.Float16:
		// 16-bit floats are widened to F32 (exact); loading casts back.
		return safetensors.Encode(t.Float32s(), shape...)
	}
	return safetensors.TensorInfo{}, fmt.Errorf("nn: cannot save %s of dtype %v", name, t.DType())
}

func fromInfo(name string, ti safetensors.TensorInfo) (*tensor.Tensor, error) {
	switch ti.DType {
	case "F32":
		v, err := safetensors.Decode[float32](ti)
		return tensor.FromSlice(v, ti.Shape...), err
	case "F64":
		v, err := safetensors.Decode[float64](ti)
		return tensor.FromSlice(v, ti.Shape...), err
	case "I64":
		v, err := safetensors.Decode[int64](ti)
		return tensor.FromSlice(v, ti.Shape...), err
	case "I32":
		v, err := safetensors.Decode[int32](ti)
		return tensor.FromSlice(v, ti.Shape...), err
	case "BOOL":
		v, err := safetensors.Decode[bool](ti)
		return tensor.FromSlice(v, ti.Shape...), err
	}
	return nil, fmt.Errorf("nn: checkpoint tensor %s has unsupported dtype %s", name, ti.DType)
}

// SaveStateDict writes sd to path in the safetensors format (atomically),
// with optional metadata. Tensors are copied to the host; 16-bit floats are
// stored as F32.
func SaveStateDict(path string, sd map[string]*tensor.Tensor, metadata map[string]string) error {
	infos := make(map[string]safetensors.TensorInfo, len(sd))
	for name, t := range sd {
		var ti safetensors.TensorInfo
		var err error
		if terr := tensor.Try(func() { ti, err = toInfo(name, t) }); terr != nil {
			return fmt.Errorf("nn: saving %s: %w", name, terr)
		}
		if err != nil {
			return err
		}
		infos[name] = ti
	}
	return safetensors.WriteFile(path, infos, metadata)
}

// ReadStateDict reads a safetensors file into CPU tensors.
func ReadStateDict(path string) (map[string]*tensor.Tensor, map[string]string, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	sd := make(map[string]*tensor.Tensor, len(f.Tensors))
	for name, ti := range f.Tensors {
		t, err := fromInfo(name, ti)
		if err != nil {
			return nil, nil, err
		}
		sd[name] = t
	}
	return sd, f.Metadata, nil
}

// Save writes m's parameters and buffers to path (safetensors).
func Save(path string, m Module) error { return SaveStateDict(path, m.StateDict(), nil) }

// Load reads path and loads it into m with the checks of LoadStateDict
// (names and shapes must match; dtypes and devices are converted).
func Load(path string, m Module) error {
	sd, _, err := ReadStateDict(path)
	if err != nil {
		return err
	}
	return m.LoadStateDict(sd)
}
