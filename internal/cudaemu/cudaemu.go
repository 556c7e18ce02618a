// Package cudaemu runs Tessera's CUDA kernels on the host, for tests on
// machines without a GPU. The kernels' .cu files (kernels/cudakernels) are
// compiled as C++17 with a shim (one thread per block, a grid of one block,
// the CUDA intrinsics in portable C++) into a small program that the tests
// drive over a pipe: allocate, write and read device buffers, and launch a
// kernel by name with the parameter block that cuLaunchKernel would
// receive. Grid-stride loops then cover all the work serially, so the
// kernels' index arithmetic, formulas, struct layouts and argument order are
// checked exactly; races, shared memory and warp shuffles are not
// (block_reduce returns early under TESS_HOST_EMU).
//
// A device pointer is (buffer id << 32) + byte offset, so pointer arithmetic
// on the Go side works; the emulator checks every pointer a command or a
// kernel argument names and exits with a message on a pointer into a freed
// buffer or past a buffer's end (the call then returns an error).
//
// The compiled program is cached by the hash of its sources, compiler and
// flags under the user cache directory, so only the first run after a kernel
// changes pays for the C++ compile. Build needs a C++17 compiler ($CXX, g++,
// c++ or clang++) and returns an error without one, which the callers turn
// into a test failure, not a skip.
package cudaemu

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/tessera-ml/tessera/kernels/cudakernels"
)

// shim makes CUDA C compile as host C++.
const shim = `
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

// driver is the emulator's main: the command loop and the kernel registry
// (REGISTER is replaced with one line per kernel).
const driver = `
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

var cxxFlags = []string{"-std=c++17", "-O1", "-ffp-contract=off", "-w"}

// KernelDir returns the directory of the CUDA sources (kernels/cudakernels).
func KernelDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "kernels", "cudakernels")
}

// Emulator is a running kernel emulator. Its methods may be called from
// several goroutines; each command is one round trip.
type Emulator struct {
	mu  sync.Mutex
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func findCXX() (string, error) {
	for _, c := range []string{os.Getenv("CXX"), "g++", "c++", "clang++"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no C++ compiler found ($CXX, g++, c++, clang++): the CUDA kernels are compiled " +
		"as host C++ for the emulated tests; install one (apt-get install g++) or set CXX")
}

// Source returns the C++ program for the kernels of modules (names of
// kernels/cudakernels/<module>.cu), registering every entry of their PTX.
func Source(modules ...string) (string, error) {
	dir := KernelDir()
	var b, reg strings.Builder
	b.WriteString(shim)
	for _, m := range modules {
		fmt.Fprintf(&b, "#include %q\n", filepath.Join(dir, m+".cu"))
		ptx, err := cudakernels.PTX(m)
		if err != nil {
			return "", err
		}
		for _, e := range cudakernels.Entries(ptx) {
			fmt.Fprintf(&reg, "k[%q] = make(%s);\n", e, e)
		}
	}
	b.WriteString(strings.Replace(driver, "REGISTER", reg.String(), 1))
	return b.String(), nil
}

// Build compiles (or takes from the cache) the emulator for the kernels of
// modules and starts it.
func Build(modules ...string) (*Emulator, error) {
	cxx, err := findCXX()
	if err != nil {
		return nil, err
	}
	src, err := Source(modules...)
	if err != nil {
		return nil, err
	}
	bin, err := compile(cxx, src)
	if err != nil {
		return nil, err
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
	return &Emulator{cmd: cmd, in: in, out: bufio.NewReaderSize(stdout, 1<<20)}, nil
}

// compile returns the path of the binary built from src, building it into
// the cache when no binary for the same sources, compiler and flags is there.
func compile(cxx, src string) (string, error) {
	dir := KernelDir()
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", cxx, strings.Join(cxxFlags, " "), src)
	// The headers the sources include, by content.
	files, _ := filepath.Glob(filepath.Join(dir, "*.cu*"))
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	key := hex.EncodeToString(h.Sum(nil))[:24]
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	cache := filepath.Join(base, "tessera", "cudaemu")
	bin := filepath.Join(cache, "emu-"+key)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cc := filepath.Join(tmp, "emu.cc")
	if err := os.WriteFile(cc, []byte(src), 0o644); err != nil {
		return "", err
	}
	out := filepath.Join(tmp, "emu")
	args := append(append([]string{}, cxxFlags...), "-I", dir, "-o", out, cc)
	if msg, err := exec.Command(cxx, args...).CombinedOutput(); err != nil {
		// A compiler that cannot build the emulator means a bug in the
		// sources or the shim, not a missing tool.
		return "", fmt.Errorf("building the kernel emulator with %s: %v\n%s", cxx, err, msg)
	}
	// Rename is atomic: a concurrent build of the same key ends the same.
	if err := os.Rename(out, bin); err != nil {
		return "", err
	}
	return bin, nil
}

// call sends one command line and returns the reply line.
func (e *Emulator) call(line string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
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

func (e *Emulator) okCall(line string) error {
	s, err := e.call(line)
	if err != nil {
		return err
	}
	if s != "ok" {
		return fmt.Errorf("emulator: %q for %.60s", s, line)
	}
	return nil
}

// Alloc returns a new device buffer of n bytes, filled with 0xcd.
func (e *Emulator) Alloc(n int64) (uint64, error) {
	s, err := e.call(fmt.Sprintf("alloc %d", n))
	if err != nil {
		return 0, err
	}
	var id uint64
	if _, err := fmt.Sscan(s, &id); err != nil {
		return 0, fmt.Errorf("emulator: alloc replied %q", s)
	}
	return id << 32, nil
}

// Free releases the buffer p points into; a double free ends the emulator.
func (e *Emulator) Free(p uint64) error { return e.okCall(fmt.Sprintf("free %d", p>>32)) }

// Zero clears n bytes at p.
func (e *Emulator) Zero(p uint64, n int64) error { return e.okCall(fmt.Sprintf("zero %d %d", p, n)) }

// Write copies b to p.
func (e *Emulator) Write(p uint64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return e.okCall(fmt.Sprintf("write %d %s", p, hex.EncodeToString(b)))
}

// Read returns n bytes from p, or the rest of p's buffer when n < 0.
func (e *Emulator) Read(p uint64, n int) ([]byte, error) {
	s, err := e.call(fmt.Sprintf("read %d %d", p, n))
	if err != nil {
		return nil, err
	}
	if s == "-" {
		return []byte{}, nil
	}
	return hex.DecodeString(s)
}

// Launch runs kernel name with a parameter block laid out as
// cuLaunchKernel receives it: block holds the arguments at offsets.
func (e *Emulator) Launch(name string, block []byte, offsets []int32) error {
	var sb strings.Builder
	h := "-"
	if len(block) > 0 {
		h = hex.EncodeToString(block)
	}
	fmt.Fprintf(&sb, "launch %s %s %d", name, h, len(offsets))
	for _, o := range offsets {
		fmt.Fprintf(&sb, " %d", o)
	}
	return e.okCall(sb.String())
}
