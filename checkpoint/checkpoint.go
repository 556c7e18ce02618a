package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/safetensors"
	"github.com/tessera-ml/tessera/safetensors/stcodec"
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
			info, err := stcodec.Encode(t)
			if err != nil {
				return fmt.Errorf("checkpoint: %w (tensor %q)", err, name)
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

// Decode turns a parsed safetensors file into a Checkpoint (the tensors
// are copies; f is left as it is). Every tensor name must start with
// "model." or "optim."; the metadata must carry integer "step" and "epoch"
// entries.
func Decode(f *safetensors.File) (*Checkpoint, error) {
	if err := checkMeta(f.Metadata); err != nil {
		return nil, err
	}
	ts, err := stcodec.DecodeAll(f)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return fromTensors(ts, f.Metadata)
}

// Read reads a checkpoint from r. A malformed or truncated file returns an
// error (wrapping safetensors.ErrInvalid for a broken container), never a
// panic. The tensors take over the buffers read from r: reading costs the
// checkpoint's size once.
func Read(r io.Reader) (*Checkpoint, error) {
	ts, md, err := stcodec.Read(r)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if err := checkMeta(md); err != nil {
		return nil, err
	}
	return fromTensors(ts, md)
}

func checkMeta(md map[string]string) error {
	if md[keyFormat] != formatName {
		return fmt.Errorf("checkpoint: metadata format is %q, want %q", md[keyFormat], formatName)
	}
	return nil
}

func fromTensors(ts map[string]*tensor.Tensor, md map[string]string) (*Checkpoint, error) {
	c := &Checkpoint{Model: map[string]*tensor.Tensor{}, Optim: map[string]*tensor.Tensor{}}
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
	for name, t := range ts {
		switch {
		case strings.HasPrefix(name, ModelPrefix):
			c.Model[strings.TrimPrefix(name, ModelPrefix)] = t
		case strings.HasPrefix(name, OptimPrefix):
			c.Optim[strings.TrimPrefix(name, OptimPrefix)] = t
		default:
			return nil, fmt.Errorf("checkpoint: tensor %q has neither prefix %q nor %q", name, ModelPrefix, OptimPrefix)
		}
	}
	if len(c.Optim) > 0 && c.OptimKind == "" {
		return nil, errors.New("checkpoint: optimizer tensors without optim.kind metadata")
	}
	return c, nil
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
