package dl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTree makes files (relative to a temp root) and returns an Env rooted
// there with the given environment variables.
func fakeTree(t *testing.T, files []string, vars map[string]string) Env {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	return Env{
		Getenv: func(k string) string { return vars[k] },
		Home:   "/home/u",
		FS:     RootFS{Root: root},
	}
}

func paths(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Path
	}
	return out
}

func TestCandidatesOverrideIsExclusive(t *testing.T) {
	env := fakeTree(t, []string{"/usr/local/cuda/lib64/libcublas.so.12"}, map[string]string{
		"TESSERA_LIBCUBLAS": "/opt/x/libcublas.so.12.9.1",
	})
	cs := Candidates(LibCUBLAS, env)
	require.Len(t, cs, 1)
	assert.Equal(t, "/opt/x/libcublas.so.12.9.1", cs[0].Path)
	assert.Equal(t, "/opt/x/libcublasLt.so.12", cs[0].Companion)
	assert.Equal(t, "$TESSERA_LIBCUBLAS", cs[0].Source)
}

func TestCandidatesOrder(t *testing.T) {
	env := fakeTree(t, []string{
		"/custom/a/libcublas.so.12",
		"/custom/b/libcublas.so.13",
		"/usr/local/cuda/lib64/libcublas.so.12",
		"/usr/local/cuda/lib64/stubs/libcublas.so.13",
		"/usr/local/cuda-12.9/lib64/libcublas.so.12",
		"/usr/local/cuda-12.10/lib64/libcublas.so.12",
		"/usr/local/cuda-11.8/lib64/libcublas.so.11",
		"/usr/lib/x86_64-linux-gnu/libcublas.so.11",
		"/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13",
		"/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"/usr/local/lib/python3.11/dist-packages/nvidia/cublas/lib/libcublas.so.12",
		"/home/u/.local/lib/python3.10/site-packages/nvidia/cublas/lib/libcublas.so.11",
	}, map[string]string{
		"TESSERA_CUDA_LIB_DIR": "/custom/a:/custom/b:/missing",
		"VIRTUAL_ENV":          "/venv",
	})
	got := paths(Candidates(LibCUBLAS, env))
	assert.Equal(t, []string{
		"/custom/a/libcublas.so.12",
		"/custom/b/libcublas.so.13",
		"libcublas.so.13", "libcublas.so.12", "libcublas.so.11",
		"/usr/local/cuda/lib64/libcublas.so.12",
		"/usr/local/cuda-12.10/lib64/libcublas.so.12",
		"/usr/local/cuda-12.9/lib64/libcublas.so.12",
		"/usr/local/cuda-11.8/lib64/libcublas.so.11",
		"/usr/lib/x86_64-linux-gnu/libcublas.so.11",
		"/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcublas.so.13",
		"/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12",
		"/home/u/.local/lib/python3.10/site-packages/nvidia/cublas/lib/libcublas.so.11",
		"/usr/local/lib/python3.11/dist-packages/nvidia/cublas/lib/libcublas.so.12",
	}, got)
	for _, p := range got {
		assert.NotContains(t, p, "stubs")
	}
}

func TestCandidatesCompanions(t *testing.T) {
	env := fakeTree(t, []string{"/usr/local/cuda/lib64/libcublas.so.12"}, nil)
	cs := Candidates(LibCUBLAS, env)
	byPath := map[string]string{}
	for _, c := range cs {
		byPath[c.Path] = c.Companion
	}
	assert.Equal(t, "libcublasLt.so.13", byPath["libcublas.so.13"])
	assert.Equal(t, "/usr/local/cuda/lib64/libcublasLt.so.12", byPath["/usr/local/cuda/lib64/libcublas.so.12"])
}

func TestCandidatesDriverNeverWheelNorUnversioned(t *testing.T) {
	env := fakeTree(t, []string{
		"/venv/lib/python3.12/site-packages/nvidia/cu13/lib/libcuda.so.1",
		"/usr/lib/x86_64-linux-gnu/libcuda.so.1",
		"/usr/lib/x86_64-linux-gnu/libcuda.so",
		"/usr/lib/wsl/lib/libcuda.so.1",
	}, map[string]string{"VIRTUAL_ENV": "/venv"})
	got := paths(Candidates(LibCUDA, env))
	assert.Equal(t, []string{
		"libcuda.so.1",
		"/usr/lib/x86_64-linux-gnu/libcuda.so.1",
		"/usr/lib/wsl/lib/libcuda.so.1",
	}, got)
}

func TestCandidatesNCCLWheel(t *testing.T) {
	env := fakeTree(t, []string{
		"/opt/conda/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2",
		"/cenv/lib/python3.13/site-packages/nvidia/nccl/lib/libnccl.so.2",
	}, map[string]string{"CONDA_PREFIX": "/cenv/"})
	got := paths(Candidates(LibNCCL, env))
	assert.Equal(t, []string{
		"libnccl.so.2",
		"/cenv/lib/python3.13/site-packages/nvidia/nccl/lib/libnccl.so.2",
		"/opt/conda/lib/python3.12/site-packages/nvidia/nccl/lib/libnccl.so.2",
	}, got)
}

func TestWheelDirsPythonVersionOrder(t *testing.T) {
	env := fakeTree(t, []string{
		"/usr/local/lib/python3.9/dist-packages/nvidia/cu12/lib/x",
		"/usr/local/lib/python3.12/dist-packages/nvidia/nccl/lib/x",
		"/usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib/x",
	}, nil)
	assert.Equal(t, []string{
		"/usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib",
		"/usr/local/lib/python3.12/dist-packages/nvidia/nccl/lib",
		"/usr/local/lib/python3.9/dist-packages/nvidia/cu12/lib",
	}, WheelDirs(env))
}

func TestLoadReportsEveryCandidate(t *testing.T) {
	if !Supported {
		_, err := Load(LibNCCL, OSEnv())
		require.ErrorIs(t, err, ErrUnavailable)
		return
	}
	env := fakeTree(t, []string{"/usr/lib64/libnccl.so.2"}, map[string]string{
		"TESSERA_LIBNCCL": "/definitely/not/here/libnccl.so.2",
	})
	_, err := Load(LibNCCL, env)
	require.Error(t, err)
	var le *LoadError
	require.ErrorAs(t, err, &le)
	assert.Len(t, le.Tried, 1)
	assert.Contains(t, err.Error(), "TESSERA_LIBNCCL")
	assert.Contains(t, err.Error(), "/definitely/not/here/libnccl.so.2")
}

func TestLoadAndSymLibc(t *testing.T) {
	if !Supported {
		t.Skip("no dlopen in this build")
	}
	l, err := Load(Lib{Name: "c", Sonames: []string{"libc.so.6"}}, OSEnv())
	require.NoError(t, err)
	p, err := l.Sym("strlen")
	require.NoError(t, err)
	assert.NotNil(t, p)
	_, err = l.Sym("tessera_no_such_symbol")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "tessera_no_such_symbol")
	assert.Nil(t, l.SymOptional("tessera_no_such_symbol"))
	assert.NotEmpty(t, l.Resolved)
}

func TestVersionLess(t *testing.T) {
	assert.True(t, versionLess("/usr/local/cuda-12.9/lib64", "/usr/local/cuda-12.10/lib64"))
	assert.True(t, versionLess("python3.9", "python3.12"))
	assert.False(t, versionLess("cuda-13.0", "cuda-12.9"))
}
