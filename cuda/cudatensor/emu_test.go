package cudatensor

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/kernels/cudakernels"
	"github.com/tessera-ml/tessera/tensor"
)

// A host emulator for kernels/cudakernels/tensordev.cu (after the one in package
// cuda): the .cu file is compiled as C++ with a shim (one thread per block,
// a grid of one block, intrinsics in portable C++), and kernels are invoked
// by name with the parameter block built by cuda.Args, as cuLaunchKernel
// receives it. A device pointer is (buffer id << 32) + byte offset, so the
// Go side's pointer arithmetic works. GEMM is emulated in Go from cuBLAS's
// documented column-major semantics. This runs the device's Go dispatch and
// the kernels' arithmetic on a machine without a GPU; it does not exercise
// races, warp-level behaviour or the real cuBLAS.

const tdShim = `
#define TESS_HOST 1
#define TESS_HOST_EMU 1
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <string>
#include <vector>
#include <map>
#include <functional>
#include <utility>
#include <iostream>
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
struct emu_dim3 { unsigned int x, y, z; };
static emu_dim3 blockIdx = {0, 0, 0}, threadIdx = {0, 0, 0}, blockDim = {1, 1, 1}, gridDim = {1, 1, 1};
static inline void __syncthreads() {}
static inline float __shfl_xor_sync(unsigned, float v, int) { return v; }
static inline double __shfl_xor_sync(unsigned, double v, int) { return v; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) { double d; memcpy(&d, &i, 8); return d; }
static inline float __double2float_rz(double d) {
  float r = (float)d;
  if (!isnan(d) && fabs((double)r) > fabs(d)) r = nextafterf(r, 0.0f);
  return r;
}
template <typename I, typename F> static inline I sat_trunc(F x, I lo, I hi) {
  if (x != x) return 0;
  if (x <= (F)lo) return lo;
  if (x >= (F)hi) return hi;
  return (I)x;
}
static inline int __float2int_rz(float x) { return sat_trunc<int, float>(x, INT32_MIN, INT32_MAX); }
static inline long long __float2ll_rz(float x) { return sat_trunc<long long, float>(x, INT64_MIN, INT64_MAX); }
static inline int __double2int_rz(double x) { return sat_trunc<int, double>(x, INT32_MIN, INT32_MAX); }
static inline long long __double2ll_rz(double x) { return sat_trunc<long long, double>(x, INT64_MIN, INT64_MAX); }
static inline unsigned long long __double2ull_rz(double x) { return x != x || x <= 0 ? 0 : (x >= 18446744073709551615.0 ? ~0ull : (unsigned long long)x); }
static inline float __int2float_rn(int x) { return (float)x; }
static inline float __ll2float_rn(long long x) { return (float)x; }
static inline float __ull2float_rz(unsigned long long x) { return (float)x; }
static inline double __ll2double_rn(long long x) { return (double)x; }
static inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dsub_rn(double a, double b) { return a - b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float atomicAdd(float* p, float v) { float o = *p; *p = o + v; return o; }
static inline double atomicAdd(double* p, double v) { double o = *p; *p = o + v; return o; }
static inline int atomicAdd(int* p, int v) { int o = *p; *p = (int)((unsigned)o + (unsigned)v); return o; }
static inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { unsigned long long o = *p; *p = o + v; return o; }
`

const tdMain = `
static std::vector<std::vector<unsigned char>> bufs(1);  // id 0 = NULL
static std::vector<bool> freed(1);
// dev_ptr checks every device pointer a command or kernel argument names:
// a pointer into a freed buffer or past a buffer's end ends the emulator
// with a message (the Go side then reports "emulator died").
static void* dev_ptr(unsigned long long p) {
  unsigned long long id = p >> 32, off = p & 0xffffffffull;
  if (id == 0) return 0;
  if (id >= bufs.size() || off > bufs[id].size()) { fprintf(stderr, "emu: bad device pointer %llx\n", p); exit(3); }
  if (freed[id]) { fprintf(stderr, "emu: use of freed device buffer %llu (pointer %llx)\n", id, p); exit(5); }
  return bufs[id].data() + off;
}
// dev_span is dev_ptr for n bytes from p, all inside one live buffer.
static void* dev_span(unsigned long long p, unsigned long long n) {
  void* q = dev_ptr(p);
  unsigned long long id = p >> 32, off = p & 0xffffffffull;
  if (n > 0 && (id == 0 || off + n > bufs[id].size())) { fprintf(stderr, "emu: %llu bytes at %llx run past the buffer\n", n, p); exit(3); }
  return q;
}
template <typename T> struct Arg {
  static T get(const unsigned char* b, int off) { T v; memcpy(&v, b + off, sizeof v); return v; }
};
template <typename T> struct Arg<T*> {
  static T* get(const unsigned char* b, int off) { unsigned long long p; memcpy(&p, b + off, 8); return (T*)dev_ptr(p); }
};
typedef std::function<void(const unsigned char*, const int*, int)> Thunk;
template <typename... A, size_t... I>
static void invoke(void (*f)(A...), const unsigned char* b, const int* o, std::index_sequence<I...>) { f(Arg<A>::get(b, o[I])...); }
template <typename... A> static Thunk make(void (*f)(A...)) {
  return [f](const unsigned char* b, const int* o, int n) {
    if (n != (int)sizeof...(A)) { fprintf(stderr, "kernel wants %d args, got %d\n", (int)sizeof...(A), n); exit(4); }
    invoke(f, b, o, std::index_sequence_for<A...>{});
  };
}
static std::vector<unsigned char> unhex(const std::string& s) {
  std::vector<unsigned char> v(s.size() / 2);
  for (size_t i = 0; i < v.size(); i++) {
    auto h = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    v[i] = (unsigned char)(h(s[2 * i]) << 4 | h(s[2 * i + 1]));
  }
  return v;
}
int main() {
  std::map<std::string, Thunk> k;
  REGISTER
  std::ios::sync_with_stdio(false);
  std::string op;
  while (std::cin >> op) {
    if (op == "alloc") {  // alloc <nbytes> -> id
      size_t n; std::cin >> n;
      bufs.push_back(std::vector<unsigned char>(n, 0xcd));
      freed.push_back(false);
      std::cout << bufs.size() - 1 << std::endl;
    } else if (op == "free") {
      size_t id; std::cin >> id;
      if (id == 0 || id >= bufs.size() || freed[id]) { fprintf(stderr, "emu: bad or double free of buffer %zu\n", id); exit(5); }
      freed[id] = true;
      std::vector<unsigned char>().swap(bufs[id]);
      std::cout << "ok" << std::endl;
    } else if (op == "zero") {  // zero <ptr> <n>
      unsigned long long p; size_t n; std::cin >> p >> n;
      memset(dev_span(p, n), 0, n);
      std::cout << "ok" << std::endl;
    } else if (op == "write") {  // write <ptr> <hex>
      unsigned long long p; std::string h; std::cin >> p >> h;
      std::vector<unsigned char> v = unhex(h);
      memcpy(dev_span(p, v.size()), v.data(), v.size());
      std::cout << "ok" << std::endl;
    } else if (op == "read") {  // read <ptr> <n> -> hex (n = -1: to the end of the buffer)
      unsigned long long p; long long n; std::cin >> p >> n;
      dev_ptr(p);
      if (n < 0) n = (long long)(bufs[p >> 32].size() - (p & 0xffffffffull));
      unsigned char* b = (unsigned char*)dev_span(p, (unsigned long long)n);
      static const char* d = "0123456789abcdef";
      std::string out; out.reserve(n * 2);
      for (long long i = 0; i < n; i++) { out += d[b[i] >> 4]; out += d[b[i] & 15]; }
      std::cout << (out.empty() ? "-" : out) << std::endl;
    } else if (op == "launch") {  // launch <name> <hex block> <n> <offsets...>
      std::string name, h; int n; std::cin >> name >> h >> n;
      if (h == "-") h.clear();
      std::vector<int> offs(n);
      for (int i = 0; i < n; i++) std::cin >> offs[i];
      auto it = k.find(name);
      if (it == k.end()) { std::cout << "nokernel" << std::endl; continue; }
      std::vector<unsigned char> blk = unhex(h);
      blk.resize(blk.size() + 16);
      it->second(blk.data(), offs.data(), n);
      std::cout << "ok" << std::endl;
    } else return 2;
  }
  return 0;
}
`

type emuBackend struct {
	mu       sync.Mutex
	cmd      *exec.Cmd
	in       io.WriteCloser
	out      *bufio.Reader
	major    int
	launches map[string]int
	gemms    int
}

var (
	emuOnce sync.Once
	emuInst *emuBackend
	emuErr  error
)

// emulator returns the shared kernel emulator. It needs a C++17 compiler
// ($CXX, g++, c++ or clang++): without one the test fails, it does not
// skip, so a machine that cannot run the emulation cannot pass by skipping
// it (CI installs g++ in .ci/run).
func emulator(t testing.TB) *emuBackend {
	t.Helper()
	emuOnce.Do(func() { emuInst, emuErr = buildEmulator() })
	if emuErr != nil {
		t.Fatalf("kernel emulator: %v", emuErr)
	}
	return emuInst
}

func buildEmulator() (*emuBackend, error) {
	cxx := ""
	for _, c := range []string{os.Getenv("CXX"), "g++", "c++", "clang++"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			cxx = p
			break
		}
	}
	if cxx == "" {
		return nil, errors.New("no C++ compiler found ($CXX, g++, c++, clang++): the CUDA kernels are compiled " +
			"as host C++ for this test; install one (apt-get install g++) or set CXX")
	}
	dir, err := os.MkdirTemp("", "tessera-tdemu")
	if err != nil {
		return nil, err
	}
	inc, err := filepath.Abs("../../kernels/cudakernels")
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString(tdShim)
	fmt.Fprintf(&b, "#include %q\n", filepath.Join(inc, "tensordev.cu"))
	var reg strings.Builder
	ptx, err := cudakernels.PTX("tensordev")
	if err != nil {
		return nil, err
	}
	for _, e := range cudakernels.Entries(ptx) {
		fmt.Fprintf(&reg, "k[%q] = make(%s);\n", e, e)
	}
	b.WriteString(strings.Replace(tdMain, "REGISTER", reg.String(), 1))
	src := filepath.Join(dir, "emu.cc")
	if err := os.WriteFile(src, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	bin := filepath.Join(dir, "emu")
	out, err := exec.Command(cxx, "-std=c++17", "-O1", "-ffp-contract=off", "-w", "-I", inc, "-o", bin, src).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("building the tensordev kernel emulator with %s: %v\n%s", cxx, err, out)
	}
	cmd := exec.Command(bin)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &emuBackend{cmd: cmd, in: in, out: bufio.NewReaderSize(stdout, 1<<20), major: 9, launches: map[string]int{}}, nil
}

func (e *emuBackend) call(line string) (string, error) {
	if _, err := io.WriteString(e.in, line+"\n"); err != nil {
		return "", err
	}
	s, err := e.out.ReadString('\n')
	if err != nil {
		state := "?"
		if werr := e.cmd.Wait(); werr != nil {
			state = werr.Error()
		} else if e.cmd.ProcessState != nil {
			state = e.cmd.ProcessState.String()
		}
		return "", fmt.Errorf("emulator died (%s) on %.200q: %w", state, line, err)
	}
	return strings.TrimSpace(s), nil
}

func (e *emuBackend) okCall(line string) error {
	s, err := e.call(line)
	if err != nil {
		return err
	}
	if s != "ok" {
		return fmt.Errorf("emulator: %q for %.60s", s, line)
	}
	return nil
}

func (e *emuBackend) malloc(n int64) (cuda.DevicePtr, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := e.call(fmt.Sprintf("alloc %d", n))
	if err != nil {
		return 0, err
	}
	var id uint64
	if _, err := fmt.Sscan(s, &id); err != nil {
		return 0, err
	}
	return cuda.DevicePtr(id << 32), nil
}

func (e *emuBackend) free(p cuda.DevicePtr) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.okCall(fmt.Sprintf("free %d", uint64(p)>>32))
}

func (e *emuBackend) memsetZero(p cuda.DevicePtr, n int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.okCall(fmt.Sprintf("zero %d %d", uint64(p), n))
}

func (e *emuBackend) htod(p cuda.DevicePtr, b []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(b) == 0 {
		return nil
	}
	return e.okCall(fmt.Sprintf("write %d %s", uint64(p), hex.EncodeToString(b)))
}

func (e *emuBackend) read(p cuda.DevicePtr, n int) ([]byte, error) {
	s, err := e.call(fmt.Sprintf("read %d %d", uint64(p), n))
	if err != nil {
		return nil, err
	}
	if s == "-" {
		return []byte{}, nil
	}
	return hex.DecodeString(s)
}

func (e *emuBackend) dtoh(b []byte, p cuda.DevicePtr) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	got, err := e.read(p, len(b))
	if err != nil {
		return err
	}
	copy(b, got)
	return nil
}

func (e *emuBackend) launch(name string, n int64, args ...any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.launches[name]++
	a := cuda.NewArgs()
	for _, v := range args {
		a.Add(v)
	}
	if a.Err() != nil {
		return a.Err()
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "launch %s %s %d", name, hexOrDash(a.Bytes()), a.Len())
	for _, o := range a.Offsets() {
		fmt.Fprintf(&sb, " %d", o)
	}
	return e.okCall(sb.String())
}

func (e *emuBackend) launchRows(name string, rows int64, args ...any) error {
	return e.launch(name, rows, args...)
}

func (e *emuBackend) computeMajor() int { return e.major }
func (e *emuBackend) sync() error       { return nil }

func hexOrDash(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return hex.EncodeToString(b)
}

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
	A, err := e.read(g.A, -1)
	if err != nil {
		return err
	}
	B, err := e.read(g.B, -1)
	if err != nil {
		return err
	}
	C, err := e.read(g.C, -1)
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
	return e.okCall(fmt.Sprintf("write %d %s", uint64(g.C), hexOrDash(C)))
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
