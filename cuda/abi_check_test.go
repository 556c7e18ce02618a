package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestABIAgainstCUDAHeaders compiles tess_cuda.h against the real CUDA
// headers when they are installed (cuda.h and cublas_api.h, e.g. from
// Debian's nvidia-cuda-dev or /usr/local/cuda/include) and asserts that
// every function-pointer type Tessera declares is compatible with NVIDIA's
// prototype of that symbol. It skips when the headers or a C compiler are
// missing. The headers are only read here; nothing is vendored.
func TestABIAgainstCUDAHeaders(t *testing.T) {
	inc := ""
	for _, d := range []string{os.Getenv("CUDA_INCLUDE"), "/usr/local/cuda/include", "/usr/include"} {
		if d != "" && fileExists(filepath.Join(d, "cuda.h")) && fileExists(filepath.Join(d, "cublas_api.h")) {
			inc = d
			break
		}
	}
	if inc == "" {
		t.Skip("no cuda.h/cublas_api.h installed (set CUDA_INCLUDE)")
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	decl, err := os.ReadFile("tess_cuda.h")
	require.NoError(t, err)
	// Symbols newer than the oldest headers we check against (CUDA 11.8).
	newer := map[string]bool{"cuEventElapsedTime_v2": true}
	re := regexp.MustCompile(`typedef [^;(]+\(\*tess_(\w+)\)`)
	var b strings.Builder
	b.WriteString("#include <cuda.h>\n#include <cublas_v2.h>\n#define TESS_HAVE_CUDA_H\n#include \"tess_cuda.h\"\n")
	n := 0
	for _, m := range re.FindAllStringSubmatch(string(decl), -1) {
		sym := m[1]
		if newer[sym] {
			continue
		}
		b.WriteString("_Static_assert(__builtin_types_compatible_p(tess_" + sym + ", __typeof__(&" + sym +
			")), \"tess_cuda.h: " + sym + " does not match the CUDA header\");\n")
		n++
	}
	require.Greater(t, n, 50)
	dir := t.TempDir()
	src := filepath.Join(dir, "abi.c")
	require.NoError(t, os.WriteFile(src, []byte(b.String()), 0o644))
	here, err := os.Getwd()
	require.NoError(t, err)
	out, err := exec.Command(cc, "-std=gnu11", "-fsyntax-only", "-I", here, "-I", inc, src).CombinedOutput()
	require.NoError(t, err, "ABI mismatch against %s:\n%s", inc, out)
	t.Logf("%d prototypes match %s/cuda.h and cublas_api.h", n, inc)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
