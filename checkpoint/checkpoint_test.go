package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/safetensors"
	"github.com/tessera-ml/tessera/tensor"
)

// mlp is a tiny two-layer model written with tensor ops, standing in for an
// nn.Module: its state dict is the map of its live parameter tensors.
type mlp struct{ w1, b1, w2, b2 *autograd.Var }

func newMLP(seed uint64) *mlp {
	g := tensor.NewGenerator(seed)
	return &mlp{
		w1: autograd.Param(g.Normal(0, 0.5, tensor.Float32, 6, 8)),
		b1: autograd.Param(g.Normal(0, 0.1, tensor.Float32, 8)),
		w2: autograd.Param(g.Normal(0, 0.5, tensor.Float32, 8, 3)),
		b2: autograd.Param(g.Normal(0, 0.1, tensor.Float32, 3)),
	}
}

func (m *mlp) params() []*autograd.Var { return []*autograd.Var{m.w1, m.b1, m.w2, m.b2} }

func (m *mlp) stateDict() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{
		"fc1.weight": m.w1.Value(), "fc1.bias": m.b1.Value(),
		"fc2.weight": m.w2.Value(), "fc2.bias": m.b2.Value(),
	}
}

func (m *mlp) forward(x *tensor.Tensor) *tensor.Tensor {
	h := tensor.ReLU(tensor.Add(tensor.MatMul(x, m.w1.Value()), m.b1.Value()))
	return tensor.Add(tensor.MatMul(h, m.w2.Value()), m.b2.Value())
}

// train takes n Adam steps with synthetic gradients (deterministic in seed).
func train(t *testing.T, m *mlp, opt *optim.Optimizer, seed uint64, n int) {
	g := tensor.NewGenerator(seed)
	for range n {
		for _, p := range m.params() {
			p.SetGrad(g.Normal(0, 1, tensor.Float32, p.Shape()...))
		}
		require.NoError(t, opt.Step())
	}
}

func saved(t *testing.T) ([]byte, *mlp, *optim.Optimizer) {
	m := newMLP(1)
	opt := optim.NewAdam(m.params(), optim.Options{LR: 1e-2})
	train(t, m, opt, 2, 3)
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, m.stateDict(), opt, Meta{Step: 3, Epoch: 1, Extra: map[string]string{"note": "x"}}))
	return buf.Bytes(), m, opt
}

// TestRoundTrip: a model saved, loaded into a fresh model and evaluated gives
// the same outputs bit for bit; the optimizer continues on the same
// trajectory as one that never stopped.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	m := newMLP(1)
	opt := optim.NewAdam(m.params(), optim.Options{LR: 1e-2})
	train(t, m, opt, 2, 3)
	require.NoError(t, Save(path, m.stateDict(), opt, Meta{Step: 3, Epoch: 1, Extra: map[string]string{"run": "a"}}))

	c, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, Meta{Step: 3, Epoch: 1, Extra: map[string]string{"run": "a"}}, c.Meta)
	require.Equal(t, "Adam", c.OptimKind)
	require.Len(t, c.Model, 4)

	m2 := newMLP(99)
	opt2 := optim.NewAdam(m2.params(), optim.Options{LR: 5})
	require.NoError(t, c.Restore(m2.stateDict(), opt2))
	x := tensor.NewGenerator(5).Normal(0, 1, tensor.Float32, 16, 6)
	require.Equal(t, m.forward(x).Float32s(), m2.forward(x).Float32s(), "outputs bit for bit")

	train(t, m, opt, 7, 3)
	train(t, m2, opt2, 7, 3)
	require.Equal(t, m.forward(x).Float32s(), m2.forward(x).Float32s(), "same trajectory after resuming")

	// Saving again replaces the file atomically and leaves no temporary files.
	require.NoError(t, Save(path, m.stateDict(), nil, Meta{Step: 6}))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	c, err = Load(path)
	require.NoError(t, err)
	require.Empty(t, c.Optim)
	require.Equal(t, "", c.OptimKind)
}

func TestDTypes(t *testing.T) {
	model := map[string]*tensor.Tensor{
		"f32":  tensor.FromSlice([]float32{1.5, -2, 3}, 3),
		"f64":  tensor.FromSlice([]float64{math.Pi, math.Inf(-1)}, 2, 1),
		"bf16": tensor.FromSlice([]float32{1, 2.5, -3}, 3).Cast(tensor.BFloat16),
		"f16":  tensor.FromSlice([]float32{0.5, 65504}, 2).Cast(tensor.Float16),
		"i32":  tensor.FromSlice([]int32{7, -8}, 2),
		"i64":  tensor.Scalar(-9, tensor.Int64),
		"bool": tensor.FromSlice([]bool{true, false, true, true}, 2, 2),
		"view": tensor.FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3).T().Narrow(0, 1, 2), // strided
		"zero": tensor.Zeros(tensor.Float32, 0, 4),
	}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, model, nil, Meta{}))
	f, err := safetensors.Parse(buf.Bytes())
	require.NoError(t, err)
	want := map[string]string{"f32": "F32", "f64": "F64", "bf16": "BF16", "f16": "F16", "i32": "I32", "i64": "I64", "bool": "BOOL", "view": "F32", "zero": "F32"}
	for k, dt := range want {
		require.Equal(t, dt, f.Tensors["model."+k].DType, k)
	}
	c, err := Read(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	for k, v := range model {
		got := c.Model[k]
		require.Equal(t, v.DType(), got.DType(), k)
		require.True(t, v.Shape().Equal(got.Shape()), k)
		require.True(t, tensor.Equal(v, got) || k == "f64", k)
	}
	require.Equal(t, model["f64"].Float64s(), c.Model["f64"].Float64s())
	require.Equal(t, []float32{2, 5, 3, 6}, c.Model["view"].Float32s())
	require.NoError(t, c.Restore(model, nil))
}

func TestMismatch(t *testing.T) {
	b, m, _ := saved(t)
	c, err := Read(bytes.NewReader(b))
	require.NoError(t, err)
	cases := map[string]func(sd map[string]*tensor.Tensor){
		"missing": func(sd map[string]*tensor.Tensor) { sd["extra"] = tensor.Zeros(tensor.Float32, 1) },
		"extra":   func(sd map[string]*tensor.Tensor) { delete(sd, "fc1.bias") },
		"shape":   func(sd map[string]*tensor.Tensor) { sd["fc1.bias"] = tensor.Zeros(tensor.Float32, 9) },
		"dtype":   func(sd map[string]*tensor.Tensor) { sd["fc1.bias"] = tensor.Zeros(tensor.Float64, 8) },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			m2 := newMLP(3)
			sd := m2.stateDict()
			mod(sd)
			before := m2.b2.Value().Float32s()
			err := c.Restore(sd, nil)
			require.ErrorIs(t, err, ErrMismatch)
			require.Equal(t, before, m2.b2.Value().Float32s(), "nothing changes")
		})
	}
	// The optimizer kind must match.
	m2 := newMLP(3)
	err = c.Restore(m2.stateDict(), optim.NewSGD(m2.params(), optim.Options{LR: 1}))
	require.ErrorIs(t, err, ErrMismatch)
	// Optimizer over parameters of other shapes.
	other := optim.NewAdam([]*autograd.Var{autograd.Param(tensor.Zeros(tensor.Float32, 2))}, optim.Options{})
	require.Error(t, c.Restore(m.stateDict(), other))
	// Reserved metadata.
	require.Error(t, Write(&bytes.Buffer{}, m.stateDict(), nil, Meta{Extra: map[string]string{"step": "1"}}))
}

func TestBadFiles(t *testing.T) {
	b, _, _ := saved(t)
	// Every truncation is an error, never a panic.
	for n := 0; n < len(b); n++ {
		_, err := Read(bytes.NewReader(b[:n]))
		require.Error(t, err, "truncated at %d of %d", n, len(b))
	}
	// Flipped bytes: an error or a checkpoint, never a panic.
	for i := 0; i < len(b); i += 3 {
		c := bytes.Clone(b)
		c[i] ^= 0x5a
		_, _ = Read(bytes.NewReader(c))
	}
	// Well-formed safetensors that are not checkpoints.
	one, _ := safetensors.Encode([]float32{1}, 1)
	for name, f := range map[string]struct {
		ts map[string]safetensors.TensorInfo
		md map[string]string
	}{
		"no format":  {map[string]safetensors.TensorInfo{"model.a": one}, nil},
		"bad step":   {map[string]safetensors.TensorInfo{"model.a": one}, map[string]string{"format": "tessera", "step": "x", "epoch": "0"}},
		"bad prefix": {map[string]safetensors.TensorInfo{"a": one}, map[string]string{"format": "tessera", "step": "0", "epoch": "0"}},
		"bad dtype":  {map[string]safetensors.TensorInfo{"model.a": {DType: "F8_E4M3", Shape: []int{1}, Data: []byte{1}}}, map[string]string{"format": "tessera", "step": "0", "epoch": "0"}},
		"no kind":    {map[string]safetensors.TensorInfo{"optim.a": one}, map[string]string{"format": "tessera", "step": "0", "epoch": "0"}},
	} {
		raw, err := safetensors.Marshal(f.ts, f.md)
		require.NoError(t, err)
		_, err = Read(bytes.NewReader(raw))
		require.Error(t, err, name)
	}
	_, err := Load(filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)
	_, err = Read(bytes.NewReader(b[:20]))
	require.True(t, errors.Is(err, safetensors.ErrInvalid))
}

// FuzzRead: any input gives a checkpoint or an error, never a panic. The
// seed is a small checkpoint: the fuzzer minimizes every new interesting
// input, which is slow for large ones (TestBadFiles covers a full model and
// optimizer file with every truncation and many flipped bytes).
func FuzzRead(f *testing.F) {
	w := autograd.Param(tensor.FromSlice([]float32{1, 2}, 2))
	var buf bytes.Buffer
	if err := Write(&buf, map[string]*tensor.Tensor{"w": w.Value()}, nil, Meta{Step: 1}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Read(bytes.NewReader(data))
		if err == nil && c == nil {
			t.Fatal("nil checkpoint without error")
		}
	})
}

// TestPythonReads reads a checkpoint with /usr/bin/python3: Hugging Face's
// safetensors when it is installed, else a by-hand parser of the published
// format (testdata/read_checkpoint.py). Skipped without python3 and numpy.
func TestPythonReads(t *testing.T) {
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skip("python3 has no numpy")
	}
	m := newMLP(1)
	opt := optim.NewAdam(m.params(), optim.Options{})
	train(t, m, opt, 2, 1)
	sd := m.stateDict()
	sd["half"] = tensor.FromSlice([]float32{1, 2.5, -3}, 3).Cast(tensor.BFloat16)
	path := filepath.Join(t.TempDir(), "c.safetensors")
	require.NoError(t, Save(path, sd, opt, Meta{Step: 1, Epoch: 0}))
	out, err := exec.Command(py, "testdata/read_checkpoint.py", path).Output()
	require.NoError(t, err, string(out))
	var res struct {
		Reader   string
		Metadata map[string]string
		Tensors  map[string]struct {
			Shape []int
			Sum   float64
			First float64
		}
	}
	require.NoError(t, json.Unmarshal(out, &res))
	t.Logf("read by %s", res.Reader)
	require.Equal(t, "tessera", res.Metadata["format"])
	require.Equal(t, "Adam", res.Metadata["optim.kind"])
	all := map[string]*tensor.Tensor{}
	for k, v := range sd {
		all["model."+k] = v
	}
	for k, v := range opt.StateDict() {
		all["optim."+k] = v
	}
	require.Len(t, res.Tensors, len(all))
	for k, v := range all {
		got, ok := res.Tensors[k]
		require.True(t, ok, k)
		require.True(t, v.Shape().Equal(got.Shape), k)
		vals := v.Float64s()
		var s float64
		for _, x := range vals {
			s += x
		}
		require.InDelta(t, s, got.Sum, 1e-4*(1+math.Abs(s)), k)
		require.Equal(t, vals[0], got.First, k)
	}
}

// TestNilTensor: a nil tensor in the model map given to Restore (or
// CheckModel), or in a hand-built Checkpoint, is an error naming the key,
// not a nil-pointer panic (issue 11 item 6); nothing is copied.
func TestNilTensor(t *testing.T) {
	b, _, _ := saved(t)
	c, err := Read(bytes.NewReader(b))
	require.NoError(t, err)
	m2 := newMLP(3)
	sd := m2.stateDict()
	sd["fc1.bias"] = nil
	before := m2.b2.Value().Float32s()
	var rerr error
	require.NotPanics(t, func() { rerr = c.Restore(sd, nil) })
	require.ErrorContains(t, rerr, `model tensor "fc1.bias" is nil`)
	require.Equal(t, before, m2.b2.Value().Float32s(), "nothing changes")
	require.ErrorContains(t, c.CheckModel(sd), `"fc1.bias"`)

	c.Model["fc2.weight"] = nil
	require.NotPanics(t, func() { rerr = c.Restore(m2.stateDict(), nil) })
	require.ErrorContains(t, rerr, `checkpoint tensor "fc2.weight" is nil`)
}
