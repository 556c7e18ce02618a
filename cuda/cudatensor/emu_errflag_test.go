package cudatensor

import (
	"math"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/tensor"
)

// divPanic runs dev.Binary(OpDiv) on int vectors and returns the result and
// the *tensor.Error it panicked with (nil if none).
func divPanic[T int32 | int64](t *testing.T, dev tensor.Device, dt tensor.DType, a, b []T) (out []T, perr *tensor.Error) {
	t.Helper()
	up := func(v []T) tensor.View {
		st, err := dev.FromHost(tensor.NewHostStorage(dt, append([]T(nil), v...)))
		require.NoError(t, err)
		return tensor.View{Storage: st, Shape: []int{len(v)}, Strides: []int{1}}
	}
	va, vb := up(a), up(b)
	dst, err := dev.Alloc(dt, len(a))
	require.NoError(t, err)
	vd := tensor.View{Storage: dst, Shape: []int{len(a)}, Strides: []int{1}}
	func() {
		defer func() {
			if r := recover(); r != nil {
				e, ok := r.(*tensor.Error)
				require.True(t, ok, "panic value %T %v", r, r)
				perr = e
			}
		}()
		dev.Binary(tensor.OpDiv, vd, va, vb)
	}()
	h, err := dev.ToHost(dst)
	require.NoError(t, err)
	return tensor.HostData(h).([]T), perr
}

// TestEmulatedIntDivision: integer division by zero panics with the CPU
// device's error (the kernel writes 0 and raises the device's error flag;
// it never traps), MinInt / -1 wraps as in Go, and the error flag keeps
// working across garbage collections (it used to be freed by the cleanup
// of the Storage it came from).
func TestEmulatedIntDivision(t *testing.T) {
	dev := emuDevice(t)
	for round := range 3 {
		runtime.GC()
		runtime.GC()
		a32 := []int32{7, -7, math.MinInt32, 9, 5}
		b32 := []int32{2, 2, -1, -3, 0}
		_, cpuErr := divPanic(t, tensor.CPU, tensor.Int32, a32, b32)
		_, gpuErr := divPanic(t, dev, tensor.Int32, a32, b32)
		require.NotNil(t, cpuErr)
		require.NotNil(t, gpuErr, "round %d", round)
		require.Equal(t, cpuErr.Op, gpuErr.Op)
		require.Equal(t, cpuErr.Msg, gpuErr.Msg)

		b32[4] = 4
		want, cpuErr := divPanic(t, tensor.CPU, tensor.Int32, a32, b32)
		got, gpuErr := divPanic(t, dev, tensor.Int32, a32, b32)
		require.Nil(t, cpuErr)
		require.Nil(t, gpuErr, "a division after a failed one")
		require.Equal(t, want, got)
		require.Equal(t, []int32{3, -3, math.MinInt32, -3, 1}, got)

		a64 := []int64{math.MinInt64, -1, 0, 1 << 40}
		b64 := []int64{-1, 0, 5, 3}
		_, gpuErr = divPanic(t, dev, tensor.Int64, a64, b64)
		require.NotNil(t, gpuErr)
		require.Equal(t, "integer division by zero", gpuErr.Msg)
		b64[1] = 1
		got64, gpuErr := divPanic(t, dev, tensor.Int64, a64, b64)
		require.Nil(t, gpuErr)
		require.Equal(t, []int64{math.MinInt64, -1, 0, (1 << 40) / 3}, got64)
	}
}
