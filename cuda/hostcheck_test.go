package cuda

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests compile the device helpers of kernels/cudakernels (tess_convert.cuh,
// tess_philox.cuh) as host C++ with the system C++ compiler and compare
// them with the Go references, so the number formats and the random
// stream are checked on a machine without a GPU. They skip when no C++
// compiler is installed.

const hostHarness = `
#define TESS_HOST
#include <cmath>
#include <cstdio>
#include <cstring>
#include <cstdlib>
static inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
static inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline float __double2float_rz(double d) {
  float r = (float)d;
  if (!std::isnan(d) && std::fabs((double)r) > std::fabs(d)) r = std::nextafter(r, 0.0f);
  return r;
}
#include "tess_convert.cuh"
#include "tess_philox.cuh"
int main() {
  char op[16];
  unsigned long long a, b;
  while (std::scanf("%15s %llx %llx", op, &a, &b) == 3) {
    if (!std::strcmp(op, "f32f16")) { float f = __uint_as_float((unsigned)a); std::printf("%x\n", f32_to_f16(f)); }
    else if (!std::strcmp(op, "f32bf16")) { float f = __uint_as_float((unsigned)a); std::printf("%x\n", f32_to_bf16(f)); }
    else if (!std::strcmp(op, "f64f16")) { double d; std::memcpy(&d, &a, 8); std::printf("%x\n", f32_to_f16(f64_to_f32_odd(d))); }
    else if (!std::strcmp(op, "f64bf16")) { double d; std::memcpy(&d, &a, 8); std::printf("%x\n", f32_to_bf16(f64_to_f32_odd(d))); }
    else if (!std::strcmp(op, "f16f32")) { std::printf("%x\n", __float_as_uint(f16_to_f32((unsigned short)a))); }
    else if (!std::strcmp(op, "philox")) {
      TessU4 x = tess_philox_block(a, b);
      std::printf("%x %x %x %x\n", x.x[0], x.x[1], x.x[2], x.x[3]);
    } else if (!std::strcmp(op, "kat")) {
      // a = ctr words 0,1 ; b = ctr words 2,3 ; key read next
      unsigned long long k; if (std::scanf("%llx", &k) != 1) return 2;
      TessU4 c; c.x[0] = (unsigned)(a >> 32); c.x[1] = (unsigned)a; c.x[2] = (unsigned)(b >> 32); c.x[3] = (unsigned)b;
      TessU4 x = tess_philox4x32_10(c, (unsigned)(k >> 32), (unsigned)k);
      std::printf("%x %x %x %x\n", x.x[0], x.x[1], x.x[2], x.x[3]);
    } else if (!std::strcmp(op, "u01")) {
      std::printf("%x\n", __float_as_uint(tess_u01_f32((unsigned)a)));
    } else return 3;
  }
  return 0;
}
`

type harness struct{ bin string }

func buildHarness(t *testing.T) *harness {
	t.Helper()
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
		// Fail rather than skip (CI installs g++ in .ci/run).
		t.Fatal("no C++ compiler found ($CXX, g++, c++, clang++): the CUDA device helpers are checked " +
			"as host C++; install one (apt-get install g++) or set CXX")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "h.cc")
	require.NoError(t, os.WriteFile(src, []byte(hostHarness), 0o644))
	inc, err := filepath.Abs("../kernels/cudakernels")
	require.NoError(t, err)
	bin := filepath.Join(dir, "h")
	out, err := exec.Command(cxx, "-O1", "-ffp-contract=off", "-I", inc, "-o", bin, src).CombinedOutput()
	require.NoError(t, err, "compiling the host harness: %s", out)
	return &harness{bin: bin}
}

// run sends lines "op a b" and returns one output line per input line.
func (h *harness) run(t *testing.T, lines []string) []string {
	t.Helper()
	cmd := exec.Command(h.bin)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var out bytes.Buffer
	cmd.Stdout = &out
	require.NoError(t, cmd.Run())
	var res []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		res = append(res, sc.Text())
	}
	require.Len(t, res, len(lines))
	return res
}

func hex32(s string) uint32 {
	v, _ := strconv.ParseUint(s, 16, 32)
	return uint32(v)
}

func interestingF32(rng *rand.Rand) []uint32 {
	var v []uint32
	for _, f := range []float32{0, 1, -1, 65504, 65519.99, 65520, 65536, 1e-8, 5.96e-8, 2.98e-8, 6.1e-5,
		float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, math.SmallestNonzeroFloat32, 3.14159} {
		v = append(v, math.Float32bits(f), math.Float32bits(-f))
	}
	v = append(v, 0x7fc00000, 0xffc00001, 0x7f800001, 0x33000000, 0x33000001, 0x387fffff, 0x38800000,
		0x477fe000, 0x477fefff, 0x477ff000, 0x3f801000, 0x3f803000, 0x3f808000, 0x3f818000)
	for i := 0; i < 20000; i++ {
		v = append(v, rng.Uint32())
	}
	// Values near the f16 range and at exact ties.
	for i := 0; i < 20000; i++ {
		e := uint32(rng.Intn(50) + 100)
		m := rng.Uint32() & 0x7fffff
		if i%3 == 0 {
			m = m&^0x1fff | 0x1000 // f16 tie
		}
		if i%3 == 1 {
			m = m&^0xffff | 0x8000 // bf16 tie
		}
		v = append(v, uint32(rng.Intn(2))<<31|e<<23|m)
	}
	return v
}

func TestHostF32ToF16AndBF16(t *testing.T) {
	h := buildHarness(t)
	rng := rand.New(rand.NewSource(7))
	vals := interestingF32(rng)
	var lines []string
	for _, v := range vals {
		lines = append(lines, fmt.Sprintf("f32f16 %x 0", v), fmt.Sprintf("f32bf16 %x 0", v))
	}
	out := h.run(t, lines)
	bad := 0
	for i, v := range vals {
		f := float64(math.Float32frombits(v))
		gh, gb := hex32(out[2*i]), hex32(out[2*i+1])
		if math.IsNaN(f) {
			assert.Equal(t, uint32(0x7c00), gh&0x7c00, "f16 NaN for %#x", v)
			assert.NotZero(t, gh&0x3ff)
			assert.Equal(t, uint32(0x7f80), gb&0x7f80, "bf16 NaN for %#x", v)
			assert.NotZero(t, gb&0x7f)
			continue
		}
		if uint16(gh) != refF16(f) || uint16(gb) != refBF16(f) {
			bad++
			if bad < 10 {
				t.Errorf("%#x (%g): f16 %#04x want %#04x, bf16 %#04x want %#04x", v, f, gh, refF16(f), gb, refBF16(f))
			}
		}
	}
	assert.Zero(t, bad)
}

func TestHostF64ToF16AndBF16SingleRounding(t *testing.T) {
	h := buildHarness(t)
	rng := rand.New(rand.NewSource(8))
	var vals []uint64
	for i := 0; i < 30000; i++ {
		// float64 values in and around the 16-bit ranges, including values a
		// hair above/below float32 ties (where double rounding via float32
		// RNE would go wrong).
		e := uint64(rng.Intn(300) + 1023 - 150)
		m := rng.Uint64() & (1<<52 - 1)
		switch i % 4 {
		case 0:
			m = m&^(1<<42-1) | 1<<41 | 1 // f16 tie + tiny
		case 1:
			m = m&^(1<<45-1) | 1<<44 // bf16 exact tie
		case 2:
			m = m&^(1<<29-1) | 1<<28 // float32 tie
		}
		vals = append(vals, uint64(rng.Intn(2))<<63|e<<52|m)
	}
	vals = append(vals, math.Float64bits(65519.999999), math.Float64bits(65520), math.Float64bits(1e300),
		math.Float64bits(3.5e38), math.Float64bits(1e-300), math.Float64bits(math.Inf(-1)))
	var lines []string
	for _, v := range vals {
		lines = append(lines, fmt.Sprintf("f64f16 %x 0", v), fmt.Sprintf("f64bf16 %x 0", v))
	}
	out := h.run(t, lines)
	bad := 0
	for i, v := range vals {
		f := math.Float64frombits(v)
		gh, gb := uint16(hex32(out[2*i])), uint16(hex32(out[2*i+1]))
		if gh != refF16(f) || gb != refBF16(f) {
			bad++
			if bad < 10 {
				t.Errorf("%g: f16 %#04x want %#04x, bf16 %#04x want %#04x", f, gh, refF16(f), gb, refBF16(f))
			}
		}
	}
	assert.Zero(t, bad)
}

func TestHostF16ToF32AllValues(t *testing.T) {
	h := buildHarness(t)
	var lines []string
	for i := 0; i < 1<<16; i++ {
		lines = append(lines, fmt.Sprintf("f16f32 %x 0", i))
	}
	out := h.run(t, lines)
	for i := 0; i < 1<<16; i++ {
		got := math.Float32frombits(hex32(out[i]))
		want := refF16ToF32(uint16(i))
		if math.IsNaN(float64(want)) {
			require.True(t, math.IsNaN(float64(got)), "%#04x", i)
			continue
		}
		require.Equal(t, math.Float32bits(want), math.Float32bits(got), "%#04x", i)
		// Round trip: every non-NaN half survives f16 -> f32 -> f16.
		require.Equal(t, uint16(i), refF16(float64(got)), "%#04x", i)
	}
}

// Random123 known-answer vectors for philox4x32 with 10 rounds
// (kat_vectors): counter, key, expected output.
var philoxKAT = []struct{ ctr, key, out [4]uint32 }{
	{[4]uint32{0, 0, 0, 0}, [4]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
	{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [4]uint32{0xffffffff, 0xffffffff},
		[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
	{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [4]uint32{0xa4093822, 0x299f31d0},
		[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
}

func TestPhiloxGoReferenceKnownAnswers(t *testing.T) {
	for _, k := range philoxKAT {
		assert.Equal(t, k.out, refPhilox(k.ctr, k.key[0], k.key[1]))
	}
}

func TestHostPhiloxMatchesKnownAnswersAndGo(t *testing.T) {
	h := buildHarness(t)
	var lines []string
	for _, k := range philoxKAT {
		lines = append(lines, fmt.Sprintf("kat %x %x %x",
			uint64(k.ctr[0])<<32|uint64(k.ctr[1]), uint64(k.ctr[2])<<32|uint64(k.ctr[3]),
			uint64(k.key[0])<<32|uint64(k.key[1])))
	}
	out := h.run(t, lines)
	for i, k := range philoxKAT {
		assert.Equal(t, fmt.Sprintf("%x %x %x %x", k.out[0], k.out[1], k.out[2], k.out[3]), out[i])
	}

	rng := rand.New(rand.NewSource(9))
	type sb struct{ seed, b uint64 }
	var cases []sb
	for i := 0; i < 2000; i++ {
		cases = append(cases, sb{rng.Uint64(), rng.Uint64()})
	}
	cases = append(cases, sb{42, 0}, sb{42, 1}, sb{42, 1 << 32}, sb{0, 0})
	lines = lines[:0]
	for _, c := range cases {
		lines = append(lines, fmt.Sprintf("philox %x %x", c.seed, c.b))
	}
	out = h.run(t, lines)
	for i, c := range cases {
		x := refBlock(c.seed, c.b)
		require.Equal(t, fmt.Sprintf("%x %x %x %x", x[0], x[1], x[2], x[3]), out[i], "seed %d block %d", c.seed, c.b)
	}

	lines = lines[:0]
	words := []uint32{0, 255, 256, 0xffffffff, 0x80000000, 12345678}
	for _, w := range words {
		lines = append(lines, fmt.Sprintf("u01 %x 0", w))
	}
	out = h.run(t, lines)
	for i, w := range words {
		want := float32(w>>8) / (1 << 24)
		assert.Equal(t, math.Float32bits(want), hex32(out[i]))
		assert.Less(t, want, float32(1))
	}
}

func TestReferenceUniformAndNormalShape(t *testing.T) {
	// Sanity of the Go references that the kernel tests compare against.
	const n = 40000
	var s, s2 float64
	for j := 0; j < n; j++ {
		u := refUniformF32(1, 0, j, -1, 1)
		require.True(t, u >= -1 && u < 1)
		z := float64(refNormalF32(1, 0, j, 0, 1))
		s += z
		s2 += z * z
	}
	assert.InDelta(t, 0, s/n, 0.03)
	assert.InDelta(t, 1, s2/n, 0.03)
	// Offsets count 32-bit words: element 1 at offset 0 is element 0 at offset 1.
	assert.Equal(t, refUniformF32(5, 0, 1, 0, 1), refUniformF32(5, 1, 0, 0, 1))
	// A draw that rounds up to hi is clamped below it.
	hi := 1 + 0x1p-30
	for j := 0; j < 1000; j++ {
		assert.Less(t, float64(refUniformF32(9, 0, j, 1, hi)), hi)
	}
}
