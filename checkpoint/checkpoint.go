package checkpoint

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/safetensors"
	"github.com/tessera-ml/tessera/tensor"
)

// Name prefixes of the tensors in a checkpoint file.
const (
	ModelPrefix = "model."
	OptimPrefix = "optim."
)

// Metadata keys that the package writes and reads.
const (
	keyFormat    = "format"
	keyStep      = "step"
	keyEpoch     = "epoch"
	keyOptimKind = "optim.kind"
	formatName   = "tessera"
)

// ErrMismatch is wrapped by the errors of Restore that report a checkpoint
// that does not fit the model or optimizer (missing or unexpected names,
// other shapes or dtypes).
var ErrMismatch = errors.New("checkpoint: does not match the model")

// Meta is what a checkpoint records besides tensors.
type Meta struct {
	Step  int // optimizer steps taken
	Epoch int // epochs completed
	// Extra holds other string metadata (keys must not collide with the
	// package's: "format", "step", "epoch", "optim.kind").
	Extra map[string]string
}

// Checkpoint is the contents of a checkpoint file: the model's and the
// optimizer's tensors (without their prefixes; on the CPU) and the metadata.
type Checkpoint struct {
	Model map[string]*tensor.Tensor
	Optim map[string]*tensor.Tensor
	// OptimKind is the optimizer's algorithm ("Adam", ...), "" without one.
	OptimKind string
	Meta      Meta
}

// dtype names of the safetensors format for Tessera's dtypes.
var toST = map[tensor.DType]string{
	tensor.Float32: "F32", tensor.Float64: "F64", tensor.BFloat16: "BF16", tensor.Float16: "F16",
	tensor.Int32: "I32", tensor.Int64: "I64", tensor.Bool: "BOOL",
}

func fromST(s string) (tensor.DType, bool) {
	for d, n := range toST {
		if n == s {
			return d, true
		}
	}
	return 0, false
}

// encodeTensor returns t's bytes (little-endian, row-major) as a TensorInfo.
func encodeTensor(t *tensor.Tensor) (info safetensors.TensorInfo, err error) {
	name, ok := toST[t.DType()]
	if !ok {
		return info, fmt.Errorf("checkpoint: dtype %v has no safetensors name", t.DType())
	}
	var b []byte
	if e := tensor.Try(func() {
		h := t.To(tensor.CPU).Contiguous()
		sz := h.DType().Size()
		all := tensor.HostBytes(h.Storage())
		b = bytes.Clone(all[h.Offset()*sz : (h.Offset()+h.NumElements())*sz])
	}); e != nil {
		return info, fmt.Errorf("checkpoint: reading tensor: %w", e)
	}
	return safetensors.TensorInfo{DType: name, Shape: t.Shape(), Data: b}, nil
}

func decodeTensor(info safetensors.TensorInfo) (*tensor.Tensor, error) {
	dt, ok := fromST(info.DType)
	if !ok {
		return nil, fmt.Errorf("dtype %s is not supported", info.DType)
	}
	shape := append([]int{}, info.Shape...)
	var t *tensor.Tensor
	var err error
	wrap := func(buf any) {
		st := tensor.NewHostStorage(dt, buf)
		strides := make([]int, len(shape))
		s := 1
		for i := len(shape) - 1; i >= 0; i-- {
			strides[i] = s
			s *= shape[i]
		}
		t = tensor.FromView(tensor.View{Storage: st, Shape: shape, Strides: strides})
	}
	switch dt {
	case tensor.Float32:
		var v []float32
		if v, err = safetensors.Decode[float32](info); err == nil {
			wrap(v)
		}
	case tensor.Float64:
		var v []float64
		if v, err = safetensors.Decode[float64](info); err == nil {
			wrap(v)
		}
	case tensor.BFloat16, tensor.Float16:
		var v []uint16
		i2 := info
		i2.DType = "U16"
		if v, err = safetensors.Decode[uint16](i2); err == nil {
			wrap(v)
		}
	case tensor.Int32:
		var v []int32
		if v, err = safetensors.Decode[int32](info); err == nil {
			wrap(v)
		}
	case tensor.Int64:
		var v []int64
		if v, err = safetensors.Decode[int64](info); err == nil {
			wrap(v)
		}
	case tensor.Bool:
		var v []bool
		if v, err = safetensors.Decode[bool](info); err == nil {
			wrap(v)
		}
	}
	return t, err
}

// Encode returns the safetensors tensors and metadata of a checkpoint:
// the model's tensors named "model.<name>", the optimizer's state dict (if
// opt is not nil) named "optim.<name>", and the metadata "format" =
// "tessera", "step", "epoch", "optim.kind" and meta.Extra.
func Encode(model map[string]*tensor.Tensor, opt *optim.Optimizer, meta Meta) (map[string]safetensors.TensorInfo, map[string]string, error) {
	md := map[string]string{}
	for k, v := range meta.Extra {
		md[k] = v
	}
	for _, k := range []string{keyFormat, keyStep, keyEpoch, keyOptimKind} {
		if _, ok := md[k]; ok {
			return nil, nil, fmt.Errorf("checkpoint: metadata key %q is reserved", k)
		}
	}
	md[keyFormat] = formatName
	md[keyStep] = strconv.Itoa(meta.Step)
	md[keyEpoch] = strconv.Itoa(meta.Epoch)
	ts := map[string]safetensors.TensorInfo{}
	add := func(prefix string, m map[string]*tensor.Tensor) error {
		for name, t := range m {
			if t == nil {
				return fmt.Errorf("checkpoint: tensor %q is nil", name)
			}
			info, err := encodeTensor(t)
			if err != nil {
				return fmt.Errorf("%w (tensor %q)", err, name)
			}
			ts[prefix+name] = info
		}
		return nil
	}
	if err := add(ModelPrefix, model); err != nil {
		return nil, nil, err
	}
	if opt != nil {
		md[keyOptimKind] = opt.Kind().String()
		if err := add(OptimPrefix, opt.StateDict()); err != nil {
			return nil, nil, err
		}
	}
	return ts, md, nil
}

// Write writes a checkpoint (see Encode) to w in the safetensors format.
func Write(w io.Writer, model map[string]*tensor.Tensor, opt *optim.Optimizer, meta Meta) error {
	ts, md, err := Encode(model, opt, meta)
	if err != nil {
		return err
	}
	return safetensors.Write(w, ts, md)
}

// Save writes a checkpoint (see Encode) to path atomically: path holds the
// old file or the complete new one, never a partial write, even if the
// process dies while saving.
func Save(path string, model map[string]*tensor.Tensor, opt *optim.Optimizer, meta Meta) error {
	ts, md, err := Encode(model, opt, meta)
	if err != nil {
		return err
	}
	if err := safetensors.WriteFile(path, ts, md); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// Decode turns a parsed safetensors file into a Checkpoint. Every tensor
// name must start with "model." or "optim."; the metadata must carry
// integer "step" and "epoch" entries.
func Decode(f *safetensors.File) (*Checkpoint, error) {
	c := &Checkpoint{Model: map[string]*tensor.Tensor{}, Optim: map[string]*tensor.Tensor{}}
	md := f.Metadata
	if md[keyFormat] != formatName {
		return nil, fmt.Errorf("checkpoint: metadata format is %q, want %q", md[keyFormat], formatName)
	}
	var err error
	if c.Meta.Step, err = strconv.Atoi(md[keyStep]); err != nil || c.Meta.Step < 0 {
		return nil, fmt.Errorf("checkpoint: bad step %q in metadata", md[keyStep])
	}
	if c.Meta.Epoch, err = strconv.Atoi(md[keyEpoch]); err != nil || c.Meta.Epoch < 0 {
		return nil, fmt.Errorf("checkpoint: bad epoch %q in metadata", md[keyEpoch])
	}
	c.OptimKind = md[keyOptimKind]
	for k, v := range md {
		switch k {
		case keyFormat, keyStep, keyEpoch, keyOptimKind:
		default:
			if c.Meta.Extra == nil {
				c.Meta.Extra = map[string]string{}
			}
			c.Meta.Extra[k] = v
		}
	}
	for name, info := range f.Tensors {
		var dst map[string]*tensor.Tensor
		var short string
		switch {
		case strings.HasPrefix(name, ModelPrefix):
			dst, short = c.Model, strings.TrimPrefix(name, ModelPrefix)
		case strings.HasPrefix(name, OptimPrefix):
			dst, short = c.Optim, strings.TrimPrefix(name, OptimPrefix)
		default:
			return nil, fmt.Errorf("checkpoint: tensor %q has neither prefix %q nor %q", name, ModelPrefix, OptimPrefix)
		}
		t, err := decodeTensor(info)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: tensor %q: %w", name, err)
		}
		dst[short] = t
	}
	if len(c.Optim) > 0 && c.OptimKind == "" {
		return nil, errors.New("checkpoint: optimizer tensors without optim.kind metadata")
	}
	return c, nil
}

// Read reads a checkpoint from r. A malformed or truncated file returns an
// error (wrapping safetensors.ErrInvalid for a broken container), never a
// panic.
func Read(r io.Reader) (*Checkpoint, error) {
	f, err := safetensors.Read(r)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return Decode(f)
}

// Load reads the checkpoint file at path.
func Load(path string) (*Checkpoint, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	defer fh.Close()
	c, err := Read(fh)
	if err != nil {
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	return c, nil
}

// CheckModel reports whether the checkpoint's model tensors have exactly
// the names, shapes and dtypes of model's; the error (wrapping ErrMismatch)
// lists the differences. A nil tensor in model (or in c.Model) is an error
// that names its key.
func (c *Checkpoint) CheckModel(model map[string]*tensor.Tensor) error {
	if err := nilTensors("model", model); err != nil {
		return err
	}
	if err := nilTensors("checkpoint", c.Model); err != nil {
		return err
	}
	var probs []string
	for name, t := range model {
		s, ok := c.Model[name]
		switch {
		case !ok:
			probs = append(probs, fmt.Sprintf("%q is missing", name))
		case !s.Shape().Equal(t.Shape()):
			probs = append(probs, fmt.Sprintf("%q has shape %v, the model %v", name, s.Shape(), t.Shape()))
		case s.DType() != t.DType():
			probs = append(probs, fmt.Sprintf("%q has dtype %v, the model %v", name, s.DType(), t.DType()))
		}
	}
	for name := range c.Model {
		if _, ok := model[name]; !ok {
			probs = append(probs, fmt.Sprintf("%q is not in the model", name))
		}
	}
	if len(probs) > 0 {
		sort.Strings(probs)
		if len(probs) > 10 {
			probs = append(probs[:10], fmt.Sprintf("and %d more", len(probs)-10))
		}
		return fmt.Errorf("%w: %s", ErrMismatch, strings.Join(probs, "; "))
	}
	return nil
}

// nilTensors returns an error naming the keys of m whose tensor is nil.
func nilTensors(what string, m map[string]*tensor.Tensor) error {
	var names []string
	for name, t := range m {
		if t == nil {
			names = append(names, strconv.Quote(name))
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	return fmt.Errorf("checkpoint: %s tensor %s is nil", what, strings.Join(names, ", "))
}

// Restore copies the checkpoint into the model's live tensors (in place, so
// a module whose state dict holds its parameters' tensors is updated; any
// device) after checking with CheckModel, and loads the optimizer state
// into opt when opt is not nil (the checkpoint's optimizer kind must be
// opt's). Nothing is changed when a check fails.
func (c *Checkpoint) Restore(model map[string]*tensor.Tensor, opt *optim.Optimizer) error {
	if err := c.CheckModel(model); err != nil {
		return err
	}
	if opt != nil {
		if c.OptimKind != opt.Kind().String() {
			return fmt.Errorf("%w: the checkpoint's optimizer is %q, not %v", ErrMismatch, c.OptimKind, opt.Kind())
		}
		if err := opt.LoadStateDict(c.Optim); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	if err := tensor.Try(func() {
		for name, t := range model {
			t.CopyFrom(c.Model[name].To(t.Device()))
		}
	}); err != nil {
		return fmt.Errorf("checkpoint: copying into the model: %w", err)
	}
	return nil
}
