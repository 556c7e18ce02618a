// Package stcodec is Tessera's one codec between tensor.Tensor and the
// safetensors format: nn.SaveStateDict/nn.Load and package checkpoint both
// go through it, so a file written by one reads in the other, and weights
// from PyTorch or Hugging Face (BF16, F16, ...) load everywhere.
//
// Dtypes map one to one where Tessera has the type: F32, F64, BF16, F16,
// I32, I64 and BOOL decode to Float32, Float64, BFloat16, Float16, Int32,
// Int64 and Bool, and encode back to the same name, so a tensor keeps its
// dtype through a save and a load. The narrower integer dtypes of the
// format widen on decode (U8, I8, U16, I16 to Int32; U32, U64 to Int64, a
// U64 value above MaxInt64 being an error); the other dtypes (F8 variants,
// C64, ...) are an error naming the tensor.
//
// Package safetensors itself stays free of the tensor package; this
// package sits between the two.
package stcodec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/tessera-ml/tessera/internal/readall"
	"github.com/tessera-ml/tessera/safetensors"
	"github.com/tessera-ml/tessera/tensor"
)

// names maps Tessera's dtypes to the format's names.
var names = map[tensor.DType]string{
	tensor.Float32: "F32", tensor.Float64: "F64", tensor.BFloat16: "BF16", tensor.Float16: "F16",
	tensor.Int32: "I32", tensor.Int64: "I64", tensor.Bool: "BOOL",
}

// Name returns the safetensors dtype name of dt ("F32", "BF16", ...).
func Name(dt tensor.DType) (string, bool) {
	n, ok := names[dt]
	return n, ok
}

// DType returns the Tessera dtype that a tensor of the named safetensors
// dtype decodes to (widened for the narrow integer types), and whether the
// codec reads that dtype.
func DType(name string) (tensor.DType, bool) {
	for dt, n := range names {
		if n == name {
			return dt, true
		}
	}
	switch name {
	case "U8", "I8", "U16", "I16":
		return tensor.Int32, true
	case "U32", "U64":
		return tensor.Int64, true
	}
	return 0, false
}

// Encode returns t's elements as a safetensors tensor of t's dtype: the
// tensor is copied to the host and made row-major; the Data is a new slice.
// Misuse (a nil tensor) is an error, as is a dtype the format cannot hold.
func Encode(t *tensor.Tensor) (info safetensors.TensorInfo, err error) {
	if t == nil {
		return info, fmt.Errorf("stcodec: nil tensor")
	}
	name, ok := names[t.DType()]
	if !ok {
		return info, fmt.Errorf("stcodec: dtype %v has no safetensors name", t.DType())
	}
	var b []byte
	if e := tensor.Try(func() {
		h := t.To(tensor.CPU).Contiguous()
		sz := h.DType().Size()
		all := tensor.HostBytes(h.Storage())
		b = bytes.Clone(all[h.Offset()*sz : (h.Offset()+h.NumElements())*sz])
	}); e != nil {
		return info, fmt.Errorf("stcodec: reading tensor: %w", e)
	}
	if !readall.LittleEndian {
		readall.Swap(b, t.DType().Size())
	}
	return safetensors.TensorInfo{DType: name, Shape: t.Shape(), Data: b}, nil
}

// Decode returns info as a new CPU tensor of the dtype that DType names
// (info.Data is copied; the tensor shares no memory with it).
func Decode(info safetensors.TensorInfo) (*tensor.Tensor, error) {
	return decode(info, false)
}

// DecodeAs returns info as a new CPU tensor of dtype dt, converting as
// PyTorch's load_state_dict does (Tensor.Cast) when the file's dtype
// differs: a BF16 file loads into a Float32 or Float64 model and back.
func DecodeAs(info safetensors.TensorInfo, dt tensor.DType) (*tensor.Tensor, error) {
	t, err := Decode(info)
	if err != nil {
		return nil, err
	}
	if err := tensor.Try(func() { t = t.Cast(dt) }); err != nil {
		return nil, fmt.Errorf("stcodec: %w", err)
	}
	return t, nil
}

// decode builds the tensor of info. With own, the caller gives up info.Data
// and the tensor may use its memory (when the host is little-endian and the
// bytes are aligned for the type), so that reading a file costs the file's
// size once.
func decode(info safetensors.TensorInfo, own bool) (t *tensor.Tensor, err error) {
	dt, ok := DType(info.DType)
	if !ok {
		return nil, fmt.Errorf("stcodec: dtype %s is not supported", info.DType)
	}
	bitsPer, _ := safetensors.DTypeBits(info.DType)
	n := 1
	for _, s := range info.Shape {
		if s < 0 || (s != 0 && n > math.MaxInt/s) {
			return nil, fmt.Errorf("stcodec: bad shape %v", info.Shape)
		}
		n *= s
	}
	if n > math.MaxInt/8 || len(info.Data) != n*bitsPer/8 {
		return nil, fmt.Errorf("stcodec: dtype %s and shape %v need %d bytes, Data has %d", info.DType, info.Shape, n*bitsPer/8, len(info.Data))
	}
	b := info.Data
	var buf any
	switch info.DType {
	case "F32":
		buf = typed[float32](b, own)
	case "F64":
		buf = typed[float64](b, own)
	case "BF16", "F16":
		buf = typed[uint16](b, own)
	case "I32":
		buf = typed[int32](b, own)
	case "I64":
		buf = typed[int64](b, own)
	case "BOOL":
		v := make([]bool, len(b))
		for i, x := range b {
			v[i] = x != 0
		}
		buf = v
	case "U8":
		buf = widen[int32](b, 1, func(p []byte) int32 { return int32(p[0]) })
	case "I8":
		buf = widen[int32](b, 1, func(p []byte) int32 { return int32(int8(p[0])) })
	case "U16":
		buf = widen[int32](b, 2, func(p []byte) int32 { return int32(binary.LittleEndian.Uint16(p)) })
	case "I16":
		buf = widen[int32](b, 2, func(p []byte) int32 { return int32(int16(binary.LittleEndian.Uint16(p))) })
	case "U32":
		buf = widen[int64](b, 4, func(p []byte) int64 { return int64(binary.LittleEndian.Uint32(p)) })
	case "U64":
		for i := 0; i < len(b); i += 8 {
			if v := binary.LittleEndian.Uint64(b[i:]); v > math.MaxInt64 {
				return nil, fmt.Errorf("stcodec: U64 value %d does not fit Int64", v)
			}
		}
		buf = widen[int64](b, 8, func(p []byte) int64 { return int64(binary.LittleEndian.Uint64(p)) })
	}
	shape := append([]int{}, info.Shape...)
	err = tensor.Try(func() {
		t = tensor.FromView(tensor.View{Storage: tensor.NewHostStorage(dt, buf), Shape: shape, Strides: tensor.ContiguousStrides(shape)})
	})
	return t, err
}

// typed returns little-endian bytes as []T: the same memory when allowed
// (own), the host is little-endian and b is aligned for T; a copy otherwise.
func typed[T readall.Number](b []byte, own bool) []T {
	if own && readall.LittleEndian {
		if v, ok := readall.As[T](b); ok {
			return v
		}
	}
	c := readall.Alloc(len(b))
	copy(c, b)
	var z T
	if !readall.LittleEndian {
		readall.Swap(c, binary.Size(z))
	}
	v, _ := readall.As[T](c)
	return v
}

func widen[T int32 | int64](b []byte, w int, get func([]byte) T) []T {
	out := make([]T, len(b)/w)
	for i := range out {
		out[i] = get(b[i*w:])
	}
	return out
}

// EncodeAll encodes every tensor of m (see Encode); the error names the
// tensor that failed.
func EncodeAll(m map[string]*tensor.Tensor) (map[string]safetensors.TensorInfo, error) {
	out := make(map[string]safetensors.TensorInfo, len(m))
	for name, t := range m {
		info, err := Encode(t)
		if err != nil {
			return nil, fmt.Errorf("%w (tensor %q)", err, name)
		}
		out[name] = info
	}
	return out, nil
}

// DecodeAll decodes every tensor of f (see Decode) into new CPU tensors.
func DecodeAll(f *safetensors.File) (map[string]*tensor.Tensor, error) {
	return decodeAll(f, false)
}

func decodeAll(f *safetensors.File, own bool) (map[string]*tensor.Tensor, error) {
	out := make(map[string]*tensor.Tensor, len(f.Tensors))
	for name, info := range f.Tensors {
		t, err := decode(info, own)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// Write writes the tensors of m and the metadata to w in the safetensors
// format (see safetensors.Write), each tensor in its own dtype.
func Write(w io.Writer, m map[string]*tensor.Tensor, metadata map[string]string) error {
	infos, err := EncodeAll(m)
	if err != nil {
		return err
	}
	return safetensors.Write(w, infos, metadata)
}

// WriteFile writes m and the metadata to path atomically (see
// safetensors.WriteFile), each tensor in its own dtype.
func WriteFile(path string, m map[string]*tensor.Tensor, metadata map[string]string) error {
	infos, err := EncodeAll(m)
	if err != nil {
		return err
	}
	return safetensors.WriteFile(path, infos, metadata)
}

// Read reads a safetensors file from r into CPU tensors and its metadata.
// The tensors take over the buffers read from r, so reading costs the
// tensors' size once (see safetensors.Read for what a short or hostile
// input may cost).
func Read(r io.Reader) (map[string]*tensor.Tensor, map[string]string, error) {
	f, err := safetensors.Read(r)
	if err != nil {
		return nil, nil, err
	}
	m, err := decodeAll(f, true)
	if err != nil {
		return nil, nil, fmt.Errorf("stcodec: %w", err)
	}
	return m, f.Metadata, nil
}

// ReadFile reads the safetensors file at path (see Read).
func ReadFile(path string) (map[string]*tensor.Tensor, map[string]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer fh.Close()
	m, md, err := Read(fh)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, md, nil
}
