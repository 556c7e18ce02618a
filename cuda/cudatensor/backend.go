package cudatensor

import (
	"github.com/tessera-ml/tessera/cuda"
)

// backend is what the tensor device needs from a GPU. realBackend is a
// cuda.Device; the tests use a kernel emulator and a recorder.
type backend interface {
	malloc(bytes int64) (cuda.DevicePtr, error)
	free(p cuda.DevicePtr)
	memsetZero(p cuda.DevicePtr, bytes int64) error
	htod(p cuda.DevicePtr, b []byte) error
	dtoh(b []byte, p cuda.DevicePtr) error // waits for queued work
	// launch runs a grid-stride kernel over n items; launchRows a
	// one-block-per-row kernel (256 threads) over rows rows.
	launch(name string, n int64, args ...any) error
	launchRows(name string, rows int64, args ...any) error
	// gemm runs cublasGemmEx (Batch 0) or cublasGemmStridedBatchedEx
	// (column-major, as cuda.Gemm documents).
	gemm(g cuda.Gemm) error
	computeMajor() int
	sync() error
}

// realBackend runs everything on the device's legacy default stream (nil
// *cuda.Stream): kernels, cuBLAS and the caching allocator's stream-ordered
// reuse all share it, and the synchronous copies order after it.
type realBackend struct {
	d *cuda.Device
}

func (b *realBackend) malloc(n int64) (cuda.DevicePtr, error) { return b.d.Alloc(n, nil) }
func (b *realBackend) free(p cuda.DevicePtr)                  { _ = b.d.Free(p, nil) }
func (b *realBackend) memsetZero(p cuda.DevicePtr, n int64) error {
	return b.d.MemsetD8Async(p, 0, n, nil)
}
func (b *realBackend) htod(p cuda.DevicePtr, src []byte) error { return b.d.MemcpyHtoD(p, src) }
func (b *realBackend) dtoh(dst []byte, p cuda.DevicePtr) error { return b.d.MemcpyDtoH(dst, p) }
func (b *realBackend) launch(name string, n int64, args ...any) error {
	k, err := b.d.Kernels()
	if err != nil {
		return err
	}
	return k.Launch1D(name, n, nil, args...)
}
func (b *realBackend) launchRows(name string, rows int64, args ...any) error {
	k, err := b.d.Kernels()
	if err != nil {
		return err
	}
	return k.LaunchRows(name, rows, nil, args...)
}
func (b *realBackend) gemm(g cuda.Gemm) error {
	bl, err := b.d.Blas()
	if err != nil {
		return err
	}
	if g.Batch > 0 {
		return bl.GemmStridedBatchedEx(g)
	}
	return bl.GemmEx(g)
}
func (b *realBackend) computeMajor() int { return b.d.Properties().Major }
func (b *realBackend) sync() error       { return b.d.Synchronize() }
