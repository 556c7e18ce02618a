package testutil

import (
	"os"
	"testing"

	"github.com/tessera-ml/tessera/cuda"
)

// RequireGPUEnv is the environment variable that turns a missing GPU from a
// skip into a failure, so that a GPU test run cannot pass by skipping.
const RequireGPUEnv = "TESSERA_REQUIRE_GPU"

// RequireGPU skips the test when no usable CUDA device is present, and
// fails it instead when TESSERA_REQUIRE_GPU=1. It returns device 0.
func RequireGPU(t testing.TB) *cuda.Device {
	t.Helper()
	RequireGPUProbe(t, cuda.Load)
	d, err := cuda.Open(0)
	if err != nil {
		t.Fatalf("CUDA is available but device 0 cannot be opened: %v", err)
	}
	return d
}

// RequireGPUProbe is RequireGPU with a custom availability probe (nil error
// means available); for tests of libraries that need more than the driver
// (cuBLAS, NCCL).
func RequireGPUProbe(t testing.TB, probe func() error) {
	t.Helper()
	err := probe()
	if err == nil {
		return
	}
	if os.Getenv(RequireGPUEnv) == "1" {
		t.Fatalf("%s=1 but the GPU is unavailable: %v", RequireGPUEnv, err)
	}
	t.Skipf("no GPU: %v (set %s=1 to make this a failure)", err, RequireGPUEnv)
}
