package cudatensor

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/testutil"
	"github.com/tessera-ml/tessera/tensor"
	"github.com/tessera-ml/tessera/tensor/devicetest"
)

// gpuDevice returns the tensor device on CUDA device 0, skipping without a
// GPU (failing under TESSERA_REQUIRE_GPU=1).
func gpuDevice(t testing.TB) *Device {
	t.Helper()
	testutil.RequireGPU(t)
	d, err := Open(0)
	require.NoError(t, err)
	return d
}

// TestConformanceGPU runs the whole conformance suite on the GPU: the real
// kernels (JIT-compiled PTX), real cuBLAS, warps, shared memory and atomics,
// which the emulated run (TestConformanceEmulated) cannot exercise.
func TestConformanceGPU(t *testing.T) {
	dev := gpuDevice(t)
	t.Logf("%s: %+v", dev.Name(), dev.CUDA().Properties())
	before := Fallbacks()
	devicetest.Run(t, dev)
	t.Logf("host fallbacks during the suite: %d", Fallbacks()-before)
}

// TestGetDeviceCUDA: importing this package registers "cuda" with package
// tensor, so tensor.GetDevice("cuda") (what -device cuda flags use) finds it.
func TestGetDeviceCUDA(t *testing.T) {
	require.Contains(t, tensor.DeviceKinds(), "cuda")
	dev := gpuDevice(t)
	for _, name := range []string{"cuda", "cuda:0"} {
		got, err := tensor.GetDevice(name)
		require.NoError(t, err, name)
		require.Same(t, dev, got, name)
	}
	x := tensor.NewGenerator(1).Uniform(-1, 1, tensor.Float32, 64, 32)
	y := tensor.Exp(x.To(dev)).To(tensor.CPU)
	want := tensor.Exp(x)
	require.Equal(t, want.Shape(), y.Shape())
	w, g := want.Float32s(), y.Float32s()
	for i := range w {
		require.InDelta(t, w[i], g[i], 1e-6*float64(w[i]), fmt.Sprintf("element %d", i))
	}
}
