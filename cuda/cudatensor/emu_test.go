package cudatensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/internal/cudaemu"
	"github.com/tessera-ml/tessera/tensor"
)

// The device on the kernel emulator of internal/cudaemu: tensordev.cu
// compiled for the host and driven over a pipe, with the parameter blocks
// built by cuda.Args as cuLaunchKernel receives them. GEMM is emulated in Go
// from cuBLAS's documented column-major semantics. This runs the device's Go
// dispatch and the kernels' arithmetic on a machine without a GPU; it does
// not exercise races, warp-level behaviour or the real cuBLAS.

type emuBackend struct {
	mu       sync.Mutex // launches, gemms, and a gemm's read-modify-write
	emu      *cudaemu.Emulator
	major    int
	launches map[string]int
	gemms    int
}

var (
	emuOnce sync.Once
	emuInst *emuBackend
	emuErr  error
)

// emulator returns the shared kernel emulator. Without a C++17 compiler
// the test fails, it does not skip, so a machine that cannot run the
// emulation cannot pass by skipping it (scripts/setup.sh installs g++).
func emulator(t testing.TB) *emuBackend {
	t.Helper()
	emuOnce.Do(func() {
		var e *cudaemu.Emulator
		if e, emuErr = cudaemu.Build("tensordev"); emuErr == nil {
			emuInst = &emuBackend{emu: e, major: 9, launches: map[string]int{}}
		}
	})
	if emuErr != nil {
		t.Fatalf("kernel emulator: %v", emuErr)
	}
	return emuInst
}

func (e *emuBackend) malloc(n int64) (cuda.DevicePtr, error) {
	p, err := e.emu.Alloc(n)
	return cuda.DevicePtr(p), err
}

func (e *emuBackend) free(p cuda.DevicePtr) { _ = e.emu.Free(uint64(p)) }

func (e *emuBackend) memsetZero(p cuda.DevicePtr, n int64) error { return e.emu.Zero(uint64(p), n) }

func (e *emuBackend) htod(p cuda.DevicePtr, b []byte) error { return e.emu.Write(uint64(p), b) }

func (e *emuBackend) dtoh(b []byte, p cuda.DevicePtr) error {
	got, err := e.emu.Read(uint64(p), len(b))
	if err != nil {
		return err
	}
	copy(b, got)
	return nil
}

func (e *emuBackend) launch(name string, n int64, args ...any) error {
	e.mu.Lock()
	e.launches[name]++
	e.mu.Unlock()
	a := cuda.NewArgs()
	for _, v := range args {
		a.Add(v)
	}
	if a.Err() != nil {
		return a.Err()
	}
	return e.emu.Launch(name, a.Bytes(), a.Offsets())
}

func (e *emuBackend) launchRows(name string, rows int64, args ...any) error {
	return e.launch(name, rows, args...)
}

func (e *emuBackend) computeMajor() int { return e.major }
func (e *emuBackend) sync() error       { return nil }

// gemm emulates cublasGemmEx / cublasGemmStridedBatchedEx (column-major):
// C = alpha·op(A)·op(B) + beta·C, op(A) m x k, op(B) k x n, accumulated in
// float64 and rounded once to C's type.
func (e *emuBackend) gemm(g cuda.Gemm) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gemms++
	if g.AType != g.BType || g.AType != g.CType {
		return fmt.Errorf("emulated gemm: mixed types")
	}
	if g.LDA < 1 || g.LDB < 1 || g.LDC < max(1, g.M) {
		return fmt.Errorf("emulated gemm: bad leading dimension lda=%d ldb=%d ldc=%d (m=%d)", g.LDA, g.LDB, g.LDC, g.M)
	}
	if g.TransA == cuda.NoTrans && g.LDA < max(1, g.M) || g.TransA == cuda.Trans && g.LDA < max(1, g.K) ||
		g.TransB == cuda.NoTrans && g.LDB < max(1, g.K) || g.TransB == cuda.Trans && g.LDB < max(1, g.N) {
		return fmt.Errorf("emulated gemm: leading dimension too small: %+v", g)
	}
	size, dec, enc := gemmCodec(g.CType)
	if size == 0 {
		return fmt.Errorf("emulated gemm: type %d", g.CType)
	}
	A, err := e.emu.Read(uint64(g.A), -1)
	if err != nil {
		return err
	}
	B, err := e.emu.Read(uint64(g.B), -1)
	if err != nil {
		return err
	}
	C, err := e.emu.Read(uint64(g.C), -1)
	if err != nil {
		return err
	}
	at := func(buf []byte, i int64) float64 {
		if i < 0 || (i+1)*int64(size) > int64(len(buf)) {
			panic(fmt.Sprintf("emulated gemm reads outside its buffer: %+v", g))
		}
		return dec(buf[i*int64(size):])
	}
	batches := max(g.Batch, 1)
	for bi := range batches {
		oa, ob, oc := int64(bi)*g.StrideA, int64(bi)*g.StrideB, int64(bi)*g.StrideC
		for c := 0; c < g.N; c++ {
			for r := 0; r < g.M; r++ {
				s := 0.0
				for x := 0; x < g.K; x++ {
					var ia, ib int64
					if g.TransA == cuda.NoTrans {
						ia = oa + int64(r) + int64(x)*int64(g.LDA)
					} else {
						ia = oa + int64(x) + int64(r)*int64(g.LDA)
					}
					if g.TransB == cuda.NoTrans {
						ib = ob + int64(x) + int64(c)*int64(g.LDB)
					} else {
						ib = ob + int64(c) + int64(x)*int64(g.LDB)
					}
					s += at(A, ia) * at(B, ib)
				}
				ic := oc + int64(r) + int64(c)*int64(g.LDC)
				v := g.Alpha * s
				if g.Beta != 0 {
					v += g.Beta * at(C, ic)
				} else {
					at(C, ic) // bounds check
				}
				enc(C[ic*int64(size):], v)
			}
		}
	}
	return e.emu.Write(uint64(g.C), C)
}

func gemmCodec(t cuda.DataType) (int, func([]byte) float64, func([]byte, float64)) {
	switch t {
	case cuda.R32F:
		return 4, func(b []byte) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(b))) },
			func(b []byte, v float64) { binary.LittleEndian.PutUint32(b, math.Float32bits(float32(v))) }
	case cuda.R64F:
		return 8, func(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) },
			func(b []byte, v float64) { binary.LittleEndian.PutUint64(b, math.Float64bits(v)) }
	case cuda.R16F:
		return 2, func(b []byte) float64 { return float64(tensor.Float16ToFloat32(binary.LittleEndian.Uint16(b))) },
			func(b []byte, v float64) { binary.LittleEndian.PutUint16(b, tensor.Float32ToFloat16(float32(v))) }
	case cuda.R16BF:
		return 2, func(b []byte) float64 { return float64(tensor.BFloat16ToFloat32(binary.LittleEndian.Uint16(b))) },
			func(b []byte, v float64) { binary.LittleEndian.PutUint16(b, tensor.Float32ToBFloat16(float32(v))) }
	}
	return 0, nil, nil
}

// emuDevice returns a tensor device on the kernel emulator.
func emuDevice(t testing.TB) *Device {
	t.Helper()
	return newDevice(emulator(t), "cuda-emu:0")
}
