package cuda

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/internal/cudaemu"
)

// The kernels of CoreModules on the host emulator of internal/cudaemu,
// launched by name with the parameter block built by the real Args packer,
// exactly as cuLaunchKernel receives it. Device pointers are the
// emulator's. This checks the kernels' index arithmetic, formulas, struct
// layouts and argument order on a machine without a GPU (not races, shared
// memory or warp shuffles).

type emulator = cudaemu.Emulator

var (
	emuOnce sync.Once
	emuInst *emulator
	emuErr  error
)

// emu returns the (shared) kernel emulator. Without a C++ compiler the test
// fails rather than skips, so the kernel checks cannot pass by being skipped
// (scripts/setup.sh installs g++).
func emu(t *testing.T) *emulator {
	t.Helper()
	emuOnce.Do(func() { emuInst, emuErr = cudaemu.Build(CoreModules...) })
	if emuErr != nil {
		t.Fatalf("kernel emulator: %v", emuErr)
	}
	return emuInst
}

// emuUpload copies x into a new emulator buffer and returns its device
// pointer.
func emuUpload[T Scalar](t *testing.T, e *emulator, x []T) DevicePtr {
	b := AsBytes(x)
	p, err := e.Alloc(int64(len(b)))
	require.NoError(t, err)
	require.NoError(t, e.Write(p, b))
	return DevicePtr(p)
}

// emuZeros returns a new zeroed emulator buffer of nbytes.
func emuZeros(t *testing.T, e *emulator, nbytes int) DevicePtr {
	p, err := e.Alloc(int64(nbytes))
	require.NoError(t, err)
	require.NoError(t, e.Zero(p, int64(nbytes)))
	return DevicePtr(p)
}

// emuDownload reads n elements at p.
func emuDownload[T Scalar](t *testing.T, e *emulator, p DevicePtr, n int) []T {
	out := make([]T, n)
	b, err := e.Read(uint64(p), len(AsBytes(out)))
	require.NoError(t, err)
	copy(AsBytes(out), b)
	return out
}

// emuLaunch packs args with the real packer and runs the kernel.
func emuLaunch(t *testing.T, e *emulator, name string, args ...any) {
	t.Helper()
	a := NewArgs()
	for _, v := range args {
		a.Add(v)
	}
	require.NoError(t, a.Err())
	require.NoError(t, e.Launch(name, a.buf, a.offs), "launch %s", name)
}
