package tensor_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// failingDevice is the CPU device with an allocator that always fails, and
// another name, so tensors on it are "on a different device".
type failingDevice struct{ tensor.Device }

var errNoMemory = errors.New("out of memory (test)")

func (failingDevice) Name() string { return "failing" }
func (failingDevice) Alloc(tensor.DType, int) (tensor.Storage, error) {
	return nil, errNoMemory
}

// otherDevice is the CPU device under another name; its storage says it
// belongs to it (no kernel runs on it in these tests).
type otherDevice struct{ tensor.Device }

type otherStorage struct {
	tensor.Storage
	dev tensor.Device
}

func (s otherStorage) Device() tensor.Device { return s.dev }

func (otherDevice) Name() string { return "other" }
func (d otherDevice) Alloc(dt tensor.DType, n int) (tensor.Storage, error) {
	st, err := d.Device.Alloc(dt, n)
	return otherStorage{st, d}, err
}

func TestMisusePanicsNameOpAndShapes(t *testing.T) {
	a := tensor.Ones(tensor.Float32, 2, 3)
	cases := []struct {
		f    func()
		want string // the whole message, or a prefix ending in ":" followed by parts
		has  []string
	}{
		{func() { tensor.Add(a, tensor.Ones(tensor.Float32, 4)) }, "tensor.Add: shapes [2 3] and [4] do not broadcast", nil},
		{func() { tensor.Mul(a, tensor.Ones(tensor.Float32, 3, 2)) }, "tensor.Mul: shapes [2 3] and [3 2] do not broadcast", nil},
		{func() { tensor.MatMul(a, a) }, "tensor.MatMul: shapes [2 3] and [2 3]: inner dimensions 3 and 2 differ", nil},
		{func() { tensor.MatMul(a, tensor.Scalar(1, tensor.Float32)) }, "", []string{"tensor.MatMul:", "scalar"}},
		{func() { tensor.Dot(a, a) }, "", []string{"tensor.Dot:", "[2 3]"}},
		{func() { tensor.Sum(a, false, 2) }, "tensor.Sum: axis 2 out of range for shape [2 3]", nil},
		{func() { tensor.Sum(a, false, -3) }, "tensor.Sum: axis -3 out of range for shape [2 3]", nil},
		{func() { tensor.Max(a, false, 0, -2) }, "", []string{"tensor.Max:", "repeated", "[2 3]"}},
		{func() { tensor.Softmax(a, 5) }, "tensor.Softmax: axis 5 out of range for shape [2 3]", nil},
		{func() { a.Unsqueeze(3) }, "Tensor.Unsqueeze: new axis 3 out of range for shape [2 3]", nil},
		{func() { tensor.Stack([]*tensor.Tensor{a, a}, -4) }, "tensor.Stack: new axis -4 out of range for shape [2 3]", nil},
		{func() { a.Permute(1, -1) }, "Tensor.Permute: axis 1 repeated in [1 -1] for shape [2 3]", nil},
		{func() { a.Flatten(1, 0) }, "Tensor.Flatten: start axis 1 after end axis 0 of shape [2 3]", nil},
		{func() { a.Slice(1, 0, 3, 0) }, "Tensor.Slice: step 0 must be positive (axis 1 of shape [2 3])", nil},
		{func() { a.Dim(2) }, "Tensor.Dim: axis 2 out of range for shape [2 3]", nil},
		{func() { tensor.Concat([]*tensor.Tensor{a, tensor.Ones(tensor.Float32, 3, 3)}, 1) }, "", []string{"tensor.Concat:", "[2 3]", "[3 3]"}},
		{func() { tensor.Concat(nil, 0) }, "tensor.Concat: no tensors", nil},
		{func() { tensor.Stack([]*tensor.Tensor{a, a.T()}, 0) }, "", []string{"tensor.Stack:", "[2 3]", "[3 2]"}},
		{func() { tensor.Split(a, []int{1, 1}, 1) }, "", []string{"tensor.Split:", "[2 3]"}},
		{func() { tensor.Split(a, []int{4, -1}, 1) }, "tensor.Split: negative size in [4 -1] for shape [2 3]", nil},
		{func() { tensor.Chunk(a, 0, 1) }, "tensor.Chunk: chunk count 0 must be positive (shape [2 3])", nil},
		//lint:ignore SA5012 an odd-length padding list is the misuse under test
		{func() { tensor.Pad(a, []int{1}, 0) }, "", []string{"tensor.Pad:", "[2 3]"}},
		{func() { tensor.Pad(a, []int{1, -1}, 0) }, "tensor.Pad: negative padding [1 -1] for shape [2 3]", nil},
		{func() { tensor.Gather(a, 0, a) }, "tensor.Gather: index dtype float32, want int64", nil},
		{func() { tensor.Gather(a, 1, tensor.Zeros(tensor.Int64, 3, 1)) }, "", []string{"tensor.Gather:", "[3 1]", "[2 3]"}},
		{func() { tensor.IndexSelect(a, 0, tensor.FromSlice([]int64{0, 2})) }, "", []string{"out of range", "size 2", "[2 3]"}},
		{func() { tensor.Gather(a, 1, tensor.FromSlice([]int64{0, 3}, 2, 1)) },
			"tensor.Gather: index 3 out of range for axis 1 of size 3 in shape [2 3] (index shape [2 1])", nil},
		{func() { tensor.OneHot(tensor.FromSlice([]int64{0, 4}), 3) }, "tensor.OneHot: labels of shape [2] outside [0, 3)", nil},
		{func() { tensor.Where(tensor.Ones(tensor.Bool, 4), a, a) }, "", []string{"tensor.Where:", "[4]", "[2 3]"}},
		{func() { tensor.Clamp(a, 2, 1) }, "", []string{"tensor.Clamp:", "lo 2 > hi 1"}},
		{func() { tensor.Neg(tensor.Ones(tensor.Bool, 2)) }, "tensor.Neg: not defined for bool tensors", nil},
		{func() { tensor.Add(tensor.Ones(tensor.Bool, 2), tensor.Ones(tensor.Bool, 2)) }, "", []string{"tensor.Add:", "bool"}},
		{func() { tensor.AddInto(tensor.Ones(tensor.Float32, 3), a, a) }, "", []string{"tensor.AddInto:", "[3]", "[2 3]"}},
		{func() { tensor.UnaryInto(tensor.OpExp, tensor.Ones(tensor.Float64, 2, 3), a, 0, 0) }, "", []string{"tensor.UnaryInto:", "float64[2 3]", "float32[2 3]"}},
		{func() { tensor.MatMulInto(tensor.Ones(tensor.Float32, 3, 3), a, a.T()) }, "", []string{"tensor.MatMulInto:", "[2 3]", "[3 2]", "[3 3]"}},
		{func() { tensor.FromSlice([]float32{1, 2, 3, 4, 5}, 2, 3) }, "tensor.FromSlice: 5 elements do not fill shape [2 3] (6)", nil},
		{func() { tensor.Zeros(tensor.Float32, 2, -1) }, "", []string{"tensor.Zeros:", "negative"}},
		{func() { a.Item() }, "", []string{"Tensor.Item:", "[2 3]"}},
		{func() { a.At(2, 0) }, "", []string{"Tensor.At:", "[2 3]"}},
		{func() { a.Reshape(4, 2) }, "", []string{"Tensor.Reshape:", "[2 3]", "[4 2]"}},
		{func() { tensor.Arange(0, 1, 0, tensor.Float32) }, "", []string{"tensor.Arange:"}},
		{func() { tensor.Linspace(0, 1, -1, tensor.Float32) }, "", []string{"tensor.Linspace:"}},
		{func() { tensor.Max(tensor.Zeros(tensor.Float32, 3, 0), false, 1) }, "", []string{"tensor.Max:", "[3 0]"}},
		{func() { tensor.ArgMin(tensor.Zeros(tensor.Float32, 0), 0, false) }, "", []string{"tensor.ArgMin:", "[0]"}},
		{func() { a.Cast(tensor.DType(42)) }, "", []string{"Tensor.Cast:", "42"}},
		{func() { tensor.NewGenerator(1).RandInt(3, 2, 4) }, "", []string{"Generator.RandInt:", "[3, 2)"}},
	}
	for _, c := range cases {
		err := tensor.Try(c.f)
		if !assert.Error(t, err, "want a panic: %s %v", c.want, c.has) {
			continue
		}
		var te *tensor.Error
		assert.True(t, errors.As(err, &te), "%v: not a *tensor.Error", err)
		if c.want != "" {
			assert.Equal(t, c.want, err.Error())
		}
		for _, h := range c.has {
			assert.Contains(t, err.Error(), h)
		}
		// without Try, the same misuse panics with the *Error
		assert.PanicsWithError(t, err.Error(), c.f)
	}
}

func TestTry(t *testing.T) {
	assert.NoError(t, tensor.Try(func() { tensor.Add(tensor.Ones(tensor.Float32, 2), tensor.Ones(tensor.Float32, 2)) }))
	// panics that are not tensor errors pass through
	assert.PanicsWithValue(t, "boom", func() { _ = tensor.Try(func() { panic("boom") }) })
	other := errors.New("other")
	assert.PanicsWithError(t, "other", func() { _ = tensor.Try(func() { panic(other) }) })
	// a device failure is wrapped: errors.Is sees the device's error
	dev := failingDevice{tensor.CPU}
	err := tensor.Try(func() { tensor.EmptyOn(dev, tensor.Float32, 4) })
	require.Error(t, err)
	assert.ErrorIs(t, err, errNoMemory)
	assert.Contains(t, err.Error(), "tensor.EmptyOn")
	assert.Contains(t, err.Error(), "float32[4]")
	assert.Contains(t, err.Error(), "failing")
	// tensors on different devices
	od := otherDevice{tensor.CPU}
	x := tensor.EmptyOn(od, tensor.Float32, 2)
	assert.Equal(t, od, x.Device())
	err = tensor.Try(func() { tensor.Add(x, tensor.Ones(tensor.Float32, 2)) })
	require.Error(t, err)
	assert.Equal(t, "tensor.Add: tensors on different devices: [2] on other and [2] on cpu", err.Error())
}

var registerTestDev sync.Once

func TestDeviceRegistry(t *testing.T) {
	d, err := tensor.GetDevice("cpu")
	require.NoError(t, err)
	assert.Equal(t, tensor.CPU, d)
	assert.Equal(t, "cpu", tensor.DeviceKinds()[0])
	registerTestDev.Do(func() {
		tensor.RegisterDevice("testdev", func(ord int) (tensor.Device, error) {
			if ord > 1 {
				return nil, errors.New("no such ordinal")
			}
			return otherDevice{tensor.CPU}, nil
		})
	})
	assert.Contains(t, tensor.DeviceKinds(), "testdev")
	d, err = tensor.GetDevice("testdev:1")
	require.NoError(t, err)
	assert.Equal(t, "other", d.Name())
	_, err = tensor.GetDevice("testdev:2")
	assert.Error(t, err)
	_, err = tensor.GetDevice("testdev:x")
	assert.Error(t, err)
	_, err = tensor.GetDevice("nope")
	assert.ErrorContains(t, err, "nope")
	assert.Panics(t, func() { tensor.RegisterDevice("testdev", nil) })
}

// Errorf is the constructor other packages use for their misuse panics:
// Try recovers them as *tensor.Error like the tensor package's own.
func TestErrorfAndAxisHelpersAreTheSharedMisusePath(t *testing.T) {
	e := tensor.Errorf("pkg.Op", "shape %v for %d", tensor.Shape{2, 3}, 4)
	assert.Equal(t, "pkg.Op", e.Op)
	assert.Equal(t, "pkg.Op: shape [2 3] for 4", e.Error())
	err := tensor.Try(func() { panic(e) })
	var te *tensor.Error
	require.ErrorAs(t, err, &te)
	assert.Same(t, e, te)

	assert.Equal(t, 2, tensor.NormAxis("pkg.Op", -1, []int{4, 5, 6}))
	assert.Equal(t, []int{0, 2}, tensor.NormAxes("pkg.Op", []int{-1, 0}, []int{4, 5, 6}))
	assert.Equal(t, []int{0, 1, 2}, tensor.NormAxes("pkg.Op", nil, []int{4, 5, 6}))
	err = tensor.Try(func() { tensor.NormAxis("pkg.Op", 3, []int{4, 5, 6}) })
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "pkg.Op: axis 3 out of range for shape [4 5 6]", err.Error())
	err = tensor.Try(func() { tensor.NormAxes("pkg.Op", []int{1, -2}, []int{4, 5, 6}) })
	require.ErrorAs(t, err, &te)
	assert.Contains(t, err.Error(), "pkg.Op: axis 1 repeated in [1 -2]")
}

var registerTwice sync.Once

// The package's remaining misuse panics are *tensor.Error too.
func TestPublicMisuseIsTensorError(t *testing.T) {
	var te *tensor.Error
	err := tensor.Try(func() { tensor.NewHostStorage(tensor.Float64, []float32{1}) })
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "tensor.NewHostStorage: []float32 cannot hold float64", err.Error())
	open := func(int) (tensor.Device, error) { return tensor.CPU, nil }
	registerTwice.Do(func() { tensor.RegisterDevice("test-twice", open) })
	err = tensor.Try(func() { tensor.RegisterDevice("test-twice", open) })
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "tensor.RegisterDevice: device kind test-twice registered twice", err.Error())
}
