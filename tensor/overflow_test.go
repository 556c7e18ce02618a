package tensor_test

import (
	"errors"
	"math"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// requireTensorError runs f and returns the *tensor.Error it panicked with,
// failing when it returned or panicked with anything else.
func requireTensorError(t *testing.T, name string, f func()) *tensor.Error {
	t.Helper()
	var r any
	func() {
		defer func() { r = recover() }()
		f()
	}()
	require.NotNil(t, r, "%s: no panic", name)
	e, ok := r.(error)
	require.True(t, ok, "%s: panicked with %T (%v)", name, r, r)
	var te *tensor.Error
	require.True(t, errors.As(e, &te), "%s: panicked with %T (%v)", name, r, r)
	return te
}

// Shape arithmetic that overflows is a misuse, never a tensor with the
// wrong storage (issue 11, item 3).
func TestShapeOverflowPanics(t *testing.T) {
	big := 1 << 32
	cases := []struct {
		name, want string
		f          func()
	}{
		{"Zeros", "tensor.Zeros: shape [4294967296 4294967296] has more elements than an int holds", func() { tensor.Zeros(tensor.Float32, big, big) }},
		{"Zeros3", "tensor.Zeros: shape [0 4294967296 4294967296]", func() { tensor.Zeros(tensor.Float32, 0, big, big) }},
		{"Empty", "tensor.Empty: shape", func() { tensor.Empty(tensor.Float64, 1<<40, 1<<40) }},
		{"Randn", "Generator.Normal: shape", func() { tensor.NewGenerator(1).Normal(0, 1, tensor.Float32, big, big) }},
		{"Expand", "Tensor.Expand: shape [4294967296 4294967296] has more elements", func() { tensor.Ones(tensor.Float32, 1).Expand(big, big) }},
		{"ExpandNegative", "Tensor.Expand: negative dimension", func() { tensor.Ones(tensor.Float32, 1).Expand(-5) }},
		{"BroadcastTo", "Tensor.BroadcastTo: shape", func() { tensor.Ones(tensor.Float32, 1, 1).BroadcastTo(big, big) }},
		{"FromSlice", "tensor.FromSlice: shape [4294967296 4294967296] has more elements", func() { tensor.FromSlice([]float32{}, big, big) }},
		{"Reshape", "Tensor.Reshape: shape [4294967296 4294967296 0]", func() { tensor.Zeros(tensor.Float32, 0).Reshape(big, big, 0) }},
		{"ReshapeInfer", "Tensor.Reshape: shape [4294967296 1 4294967296]", func() { tensor.Zeros(tensor.Float32, 0).Reshape(big, -1, big) }},
		{"ArangeInf", "tensor.Arange: range start=0 stop=+Inf step=1 has +Inf elements", func() { tensor.Arange(0, math.Inf(1), 1, tensor.Float32) }},
		{"Arange1e19", "tensor.Arange: range start=0 stop=1e+19 step=1 has 1e+19 elements", func() { tensor.Arange(0, 1e19, 1, tensor.Float32) }},
		{"ArangeNegInf", "tensor.Arange: range start=0 stop=-Inf step=-1", func() { tensor.Arange(0, math.Inf(-1), -1, tensor.Float32) }},
		{"ArangeInfInf", "tensor.Arange: range start=+Inf stop=+Inf step=1 has NaN elements", func() { tensor.Arange(math.Inf(1), math.Inf(1), 1, tensor.Float32) }},
		{"Eye", "tensor.Zeros: shape [4294967296 4294967296]", func() { tensor.Eye(big, tensor.Float32) }},
		{"Add", "shape [4294967296 4294967296]", func() {
			tensor.Add(tensor.Ones(tensor.Float32, 1, 1).Expand(big, 1), tensor.Ones(tensor.Float32, 1, 1).Expand(1, big))
		}},
	}
	for _, c := range cases {
		te := requireTensorError(t, c.name, c.f)
		assert.Contains(t, te.Error(), c.want, c.name)
	}
	// The largest counts that fit are still fine as views, and empty
	// tensors of valid shapes are allowed.
	v := tensor.Ones(tensor.Float32, 1).Expand(1<<31, 1<<31)
	assert.Equal(t, 1<<62, v.NumElements())
	assert.Equal(t, 0, tensor.Zeros(tensor.Float32, 0, 1<<40).NumElements())
	assert.Equal(t, []float32{0, 1, 2}, tensor.Arange(0, 3, 1, tensor.Float32).Float32s())
	assert.Equal(t, 0, tensor.Arange(3, 0, 1, tensor.Float32).NumElements())
	assert.Equal(t, []float64{0, 0.5, 1}, tensor.Linspace(0, 1, 3, tensor.Float64).Float64s())
}

// Host allocations beyond what the machine can give are a *tensor.Error
// wrapping ErrOutOfMemory that names the bytes asked and available, never
// Go's fatal "out of memory" (issue 11, item 4).
func TestHostOutOfMemoryIsAnError(t *testing.T) {
	lim := tensor.HostMemoryLimit()
	require.Positive(t, lim)
	oom := func(name, want string, f func()) {
		t.Helper()
		te := requireTensorError(t, name, f)
		require.ErrorIs(t, te, tensor.ErrOutOfMemory, name)
		assert.Contains(t, te.Error(), want, name)
		assert.Contains(t, te.Error(), "available", name)
		err := tensor.Try(f)
		require.ErrorIs(t, err, tensor.ErrOutOfMemory)
	}
	// 4 TiB: more than any test machine has.
	oom("Zeros 1<<40", "tensor.Zeros: allocating float32[1099511627776] on cpu: tensor: out of memory: 4398046511104 bytes asked",
		func() { tensor.Zeros(tensor.Float32, 1<<40) })
	// 2^64 bytes: more than an int counts.
	oom("Zeros 1<<62", "tensor.Zeros: allocating float32[4611686018427387904]: tensor: out of memory: 4611686018427387904 elements of 4 bytes",
		func() { tensor.Zeros(tensor.Float32, 1<<62) })
	oom("Full", "tensor.Full: allocating float64[1099511627776]", func() { tensor.Full(1, tensor.Float64, 1<<40) })
	oom("Arange", "tensor.Arange: allocating float64[10000000000] on cpu: tensor: out of memory: 80000000000 bytes asked", func() {
		prev := tensor.SetHostMemoryLimit(min(lim, 16<<30))
		defer tensor.SetHostMemoryLimit(prev)
		tensor.Arange(0, 1e10, 1, tensor.Float32)
	})
	if lim < 80e9 { // the reproduction, with the machine's own limit
		oom("Arange default", "80000000000 bytes asked", func() { tensor.Arange(0, 1e10, 1, tensor.Float32) })
	}
	// The conv/pool outputs come from the recycling allocator: checked too.
	x := tensor.Zeros(tensor.Float32, 1, 1, 1024, 1024)
	oom("MaxPool2d", "tensor.MaxPool2d: allocating float32[1 1 1024 1024] on cpu: tensor: out of memory: 4194304 bytes asked", func() {
		prev := tensor.SetHostMemoryLimit(1 << 20)
		defer tensor.SetHostMemoryLimit(prev)
		tensor.MaxPool2d(x, tensor.ConvParams{KH: 1, KW: 1})
	})
}

// The environment variable sets the limit at start-up (checked in a child
// process, as the limit is read once).
func TestHostMemoryLimitFromEnv(t *testing.T) {
	if os.Getenv("TESSERA_TEST_CHILD") == "1" {
		assert.Equal(t, int64(3<<30), tensor.HostMemoryLimit())
		err := tensor.Try(func() { tensor.Zeros(tensor.Float32, 1<<30) }) // 4 GiB
		require.ErrorIs(t, err, tensor.ErrOutOfMemory)
		assert.Contains(t, err.Error(), "host memory limit 3221225472 bytes")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHostMemoryLimitFromEnv$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TESSERA_TEST_CHILD=1", tensor.EnvHostMemoryLimit+"=3GiB")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "PASS")

	prev := tensor.SetHostMemoryLimit(12345)
	assert.Equal(t, int64(12345), tensor.HostMemoryLimit())
	assert.Equal(t, int64(12345), tensor.SetHostMemoryLimit(prev))
	assert.Equal(t, prev, tensor.HostMemoryLimit())
}
