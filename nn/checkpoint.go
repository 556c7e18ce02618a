package nn

import (
	"fmt"

	"github.com/tessera-ml/tessera/safetensors/stcodec"
	"github.com/tessera-ml/tessera/tensor"
)

// SaveStateDict writes sd to path in the safetensors format (atomically),
// with optional metadata. Tensors are copied to the host and keep their
// dtype (BF16 stays BF16); the codec is package stcodec, shared with
// package checkpoint.
func SaveStateDict(path string, sd map[string]*tensor.Tensor, metadata map[string]string) error {
	if err := stcodec.WriteFile(path, sd, metadata); err != nil {
		return fmt.Errorf("nn: saving %s: %w", path, err)
	}
	return nil
}

// ReadStateDict reads a safetensors file into CPU tensors of the file's
// dtypes (F32, F64, BF16, F16, I32, I64, BOOL; narrower integers widen),
// whoever wrote it: SaveStateDict, checkpoint.Save or PyTorch.
func ReadStateDict(path string) (map[string]*tensor.Tensor, map[string]string, error) {
	sd, md, err := stcodec.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("nn: %w", err)
	}
	return sd, md, nil
}

// Save writes m's parameters and buffers to path (safetensors).
func Save(path string, m Module) error { return SaveStateDict(path, m.StateDict(), nil) }

// Load reads path and loads it into m with the checks of LoadStateDict
// (names and shapes must match; dtypes and devices are converted as
// PyTorch's load_state_dict does, so a BF16 file loads into a Float32 or
// Float64 model).
func Load(path string, m Module) error {
	sd, _, err := ReadStateDict(path)
	if err != nil {
		return err
	}
	var lerr error
	if err := tensor.Try(func() { lerr = m.LoadStateDict(sd) }); err != nil {
		return fmt.Errorf("nn: loading %s: %w", path, err)
	}
	return lerr
}
