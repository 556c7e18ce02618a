package cuda

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/kernels/cudakernels"
)

// A host emulator for the CUDA kernels: every .cu file of kernels/cudakernels is
// compiled as C++ with a small shim (blockIdx/threadIdx as globals, one
// thread per block, intrinsics in portable C++), and kernels are invoked by
// name with the parameter block built by the real Args packer, exactly as
// cuLaunchKernel receives it. Device pointers in the block are buffer ids
// of the emulator. Grid-stride loops then cover all work serially, so the
// kernels' index arithmetic, formulas, struct layouts and argument order
// are checked on a machine without a GPU. (Races, shared memory and warp
// shuffles are not exercised: block_reduce returns early under
// TESS_HOST_EMU.)

const emuShim = `
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
static inline float __int2float_rn(int x) { return (float)x; }
static inline float __ll2float_rn(long long x) { return (float)x; }
static inline double __ll2double_rn(long long x) { return (double)x; }
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
`

const emuMain = `
static std::vector<std::vector<unsigned char>> bufs(1);  // id 0 = NULL
static void* buffer_ptr(unsigned long long id) {
  if (id == 0) return 0;
  if (id >= bufs.size()) { fprintf(stderr, "bad buffer id %llu\n", id); exit(3); }
  return bufs[id].data();
}
template <typename T> struct Arg {
  static T get(const unsigned char* b, int off) { T v; memcpy(&v, b + off, sizeof v); return v; }
};
template <typename T> struct Arg<T*> {
  static T* get(const unsigned char* b, int off) { unsigned long long id; memcpy(&id, b + off, 8); return (T*)buffer_ptr(id); }
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
  for (size_t i = 0; i < v.size(); i++) v[i] = (unsigned char)strtoul(s.substr(2 * i, 2).c_str(), 0, 16);
  return v;
}
int main() {
  std::map<std::string, Thunk> k;
  REGISTER
  std::ios::sync_with_stdio(false);
  std::string op;
  while (std::cin >> op) {
    if (op == "buf") {  // buf <hex>   -> prints id
      std::string h; std::cin >> h;
      if (h == "-") h.clear();
      bufs.push_back(unhex(h));
      std::cout << bufs.size() - 1 << std::endl;
    } else if (op == "zeros") {  // zeros <nbytes>
      size_t n; std::cin >> n;
      bufs.push_back(std::vector<unsigned char>(n));
      std::cout << bufs.size() - 1 << std::endl;
    } else if (op == "get") {  // get <id>  -> hex
      size_t id; std::cin >> id;
      static const char* d = "0123456789abcdef";
      std::string out; out.reserve(bufs[id].size() * 2);
      for (unsigned char c : bufs[id]) { out += d[c >> 4]; out += d[c & 15]; }
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

type emulator struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

var (
	emuOnce sync.Once
	emuInst *emulator
	emuErr  string
)

// emu returns the (shared) kernel emulator. Without a C++17 compiler the
// test fails rather than skips, so the kernel checks cannot pass by being
// skipped (CI installs g++ in .ci/run).
func emu(t *testing.T) *emulator {
	t.Helper()
	emuOnce.Do(func() { emuInst, emuErr = buildEmulator() })
	if emuInst == nil {
		t.Fatal(emuErr)
	}
	return emuInst
}

func buildEmulator() (*emulator, string) {
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
		return nil, "kernel emulator: no C++ compiler found ($CXX, g++, c++, clang++): the CUDA kernels are " +
			"compiled as host C++ for this test; install one (apt-get install g++) or set CXX"
	}
	dir, err := os.MkdirTemp("", "tessera-emu")
	if err != nil {
		return nil, err.Error()
	}
	inc, _ := filepath.Abs("../kernels/cudakernels")
	var b strings.Builder
	b.WriteString(emuShim)
	for _, m := range CoreModules {
		fmt.Fprintf(&b, "#include %q\n", filepath.Join(inc, m+".cu"))
	}
	var reg strings.Builder
	for _, m := range CoreModules {
		ptx, _ := cudakernels.PTX(m)
		for _, e := range cudakernels.Entries(ptx) {
			fmt.Fprintf(&reg, "k[%q] = make(%s);\n", e, e)
		}
	}
	b.WriteString(strings.Replace(emuMain, "REGISTER", reg.String(), 1))
	src := filepath.Join(dir, "emu.cc")
	if err := os.WriteFile(src, []byte(b.String()), 0o644); err != nil {
		return nil, err.Error()
	}
	bin := filepath.Join(dir, "emu")
	out, err := exec.Command(cxx, "-std=c++17", "-O1", "-ffp-contract=off", "-w", "-I", inc, "-o", bin, src).CombinedOutput()
	if err != nil {
		// A compiler that cannot build the emulator is a bug in the
		// sources or the shim, not a missing tool: report it loudly.
		panic(fmt.Sprintf("building the kernel emulator: %v\n%s", err, out))
	}
	cmd := exec.Command(bin)
	in, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err.Error()
	}
	return &emulator{cmd: cmd, in: in, out: bufio.NewReaderSize(stdout, 1<<20)}, ""
}

func (e *emulator) roundTrip(t *testing.T, line string) string {
	t.Helper()
	_, err := io.WriteString(e.in, line+"\n")
	require.NoError(t, err)
	s, err := e.out.ReadString('\n')
	require.NoError(t, err, "emulator died")
	return strings.TrimSpace(s)
}

func hexOrDash(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return hex.EncodeToString(b)
}

// upload copies x into a new emulator buffer and returns its "device
// pointer" (the buffer id).
func emuUpload[T Scalar](t *testing.T, e *emulator, x []T) DevicePtr {
	e.mu.Lock()
	defer e.mu.Unlock()
	var id uint64
	_, err := fmt.Sscan(e.roundTrip(t, "buf "+hexOrDash(AsBytes(x))), &id)
	require.NoError(t, err)
	return DevicePtr(id)
}

func emuZeros(t *testing.T, e *emulator, nbytes int) DevicePtr {
	e.mu.Lock()
	defer e.mu.Unlock()
	var id uint64
	_, err := fmt.Sscan(e.roundTrip(t, fmt.Sprintf("zeros %d", nbytes)), &id)
	require.NoError(t, err)
	return DevicePtr(id)
}

func emuDownload[T Scalar](t *testing.T, e *emulator, p DevicePtr, n int) []T {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.roundTrip(t, fmt.Sprintf("get %d", uint64(p)))
	out := make([]T, n)
	if h == "-" {
		return out
	}
	b, err := hex.DecodeString(h)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(b), len(AsBytes(out)), "buffer %d is smaller than %d elements", uint64(p), n)
	copy(AsBytes(out), b)
	return out
}

// launch packs args with the real packer and runs the kernel.
func (e *emulator) launch(t *testing.T, name string, args ...any) {
	t.Helper()
	a := NewArgs()
	for _, v := range args {
		a.Add(v)
	}
	require.NoError(t, a.Err())
	var sb strings.Builder
	fmt.Fprintf(&sb, "launch %s %s %d", name, hexOrDash(a.buf), len(a.offs))
	for _, o := range a.offs {
		fmt.Fprintf(&sb, " %d", o)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	require.Equal(t, "ok", e.roundTrip(t, sb.String()), "launch %s", name)
}
