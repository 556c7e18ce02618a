// Package safetensors reads and writes the safetensors format
// (https://github.com/huggingface/safetensors) exactly as published:
//
//	8 bytes   N, the header length, unsigned little-endian
//	N bytes   a UTF-8 JSON object, padded with spaces to a multiple of 8:
//	          {"__metadata__": {"key": "value", ...},
//	           "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
//	rest      the byte buffer: every tensor's little-endian, row-major bytes;
//	          offsets are relative to the start of the buffer
//
// Parse, Read and ReadFile validate a file completely before they return it:
// the header length (at most MaxHeaderSize and no more than the file), the
// JSON (UTF-8, no duplicate names, non-negative integer shapes and offsets),
// the dtypes, that each tensor's byte span equals its shape times its dtype
// width, and that the tensors tile the buffer from 0 to its end with no hole
// and no overlap. Malformed input returns an error wrapping ErrInvalid; it
// never panics. The header parser is one linear pass, and DefaultLimits
// bound what a header may declare (its size, the number of tensors, the
// rank of a shape); ParseLimits and ReadLimits take other limits. Read reads through the reader shared with package data
// (internal/readall): buffers sized from the input when it can tell its
// size, and otherwise no more than about 4/3 of what the input really holds.
//
// Write, Marshal and WriteFile produce the same bytes as the reference Rust
// crate and Python's safetensors (tensors ordered by descending dtype
// alignment, then name), so PyTorch's safetensors.torch.load_file reads
// them. WriteFile replaces its file atomically.
//
// The package does not depend on package tensor; Encode and Decode convert
// between Go slices and TensorInfo, and package safetensors/stcodec is the
// codec between tensor.Tensor and this format (used by nn and checkpoint).
package safetensors
