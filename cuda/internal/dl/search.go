package dl

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Lib describes one library family and where to look for it.
type Lib struct {
	// Name is a short name used in messages ("cuda", "cublas", "nccl").
	Name string
	// Sonames are the file names to try, newest first.
	Sonames []string
	// EnvVar, if set in the environment, is the exact path of the library
	// file to load; nothing else is tried.
	EnvVar string
	// Wheel says whether Python wheels (site-packages/nvidia/*/lib) may
	// ship the library. The driver (libcuda) is never shipped in wheels.
	Wheel bool
	// Companion maps a soname to a library that must be loaded first, from the
	// same folder, with RTLD_GLOBAL (libcublasLt for libcublas).
	Companion map[string]string
}

// The libraries Tessera loads. Never "libcuda.so": in toolkits and
// containers that name is often the stub library that returns
// CUDA_ERROR_STUB_LIBRARY.
var (
	LibCUDA = Lib{
		Name:    "cuda",
		Sonames: []string{"libcuda.so.1"},
		EnvVar:  "TESSERA_LIBCUDA",
	}
	LibCUBLAS = Lib{
		Name:    "cublas",
		Sonames: []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11"},
		EnvVar:  "TESSERA_LIBCUBLAS",
		Wheel:   true,
		Companion: map[string]string{
			"libcublas.so.13": "libcublasLt.so.13",
			"libcublas.so.12": "libcublasLt.so.12",
			"libcublas.so.11": "libcublasLt.so.11",
		},
	}
	LibNCCL = Lib{
		Name:    "nccl",
		Sonames: []string{"libnccl.so.2"},
		EnvVar:  "TESSERA_LIBNCCL",
		Wheel:   true,
	}
)

// DirEnvVar names a colon-separated list of folders searched before all
// others (after a per-library override).
const DirEnvVar = "TESSERA_CUDA_LIB_DIR"

// Candidate is one thing to hand to dlopen.
type Candidate struct {
	// Path is an absolute file path, or a bare soname that dlopen resolves
	// through LD_LIBRARY_PATH, the ld.so cache and the default folders.
	Path string
	// Companion, if not empty, is loaded (RTLD_GLOBAL) before Path.
	Companion string
	// Source says why the candidate is on the list (for error messages).
	Source string
}

// FS is the view of the file system the search needs. OSFS is the real one;
// tests use a fake rooted in a temporary folder.
type FS interface {
	// Glob is filepath.Glob.
	Glob(pattern string) ([]string, error)
	// IsFile reports whether path names an existing regular file (or a
	// symlink to one).
	IsFile(path string) bool
}

// Env is everything the search reads from the process.
type Env struct {
	Getenv func(string) string
	Home   string
	FS     FS
}

// OSEnv is the environment of this process.
func OSEnv() Env {
	home, _ := os.UserHomeDir()
	return Env{Getenv: os.Getenv, Home: home, FS: osFS{}}
}

type osFS struct{}

func (osFS) Glob(p string) ([]string, error) { return filepath.Glob(p) }
func (osFS) IsFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// RootFS is an FS whose absolute paths are resolved under Root; results are
// reported without the Root prefix. It exists for tests.
type RootFS struct{ Root string }

// Glob implements FS.
func (r RootFS) Glob(p string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(r.Root, p))
	for i := range m {
		m[i] = "/" + strings.TrimPrefix(strings.TrimPrefix(m[i], r.Root), "/")
	}
	return m, err
}

// IsFile implements FS.
func (r RootFS) IsFile(p string) bool { return osFS{}.IsFile(filepath.Join(r.Root, p)) }

// SystemDirs returns the usual folders for NVIDIA libraries, in search order:
// the toolkit under /usr/local/cuda (then versioned toolkits, newest first),
// the distribution's library folders, and WSL's driver folder.
func SystemDirs(env Env) []string {
	dirs := []string{"/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib"}
	vers, _ := env.FS.Glob("/usr/local/cuda-*/lib64")
	sortVersionsDesc(vers)
	dirs = append(dirs, vers...)
	dirs = append(dirs,
		"/usr/lib/x86_64-linux-gnu",
		"/usr/lib64",
		"/usr/lib",
		"/usr/local/nvidia/lib64", // NVIDIA container runtime
		"/usr/lib/wsl/lib",
	)
	return dirs
}

// PythonPrefixes returns the Python installation prefixes whose
// site-packages may hold NVIDIA wheels: $VIRTUAL_ENV, $CONDA_PREFIX,
// ~/.local, /usr/local, /usr, /opt/conda.
func PythonPrefixes(env Env) []string {
	var p []string
	for _, v := range []string{"VIRTUAL_ENV", "CONDA_PREFIX"} {
		if s := env.Getenv(v); s != "" {
			p = append(p, filepath.Clean(s))
		}
	}
	if env.Home != "" {
		p = append(p, filepath.Join(env.Home, ".local"))
	}
	return append(p, "/usr/local", "/usr", "/opt/conda")
}

// WheelDirs returns every existing site-packages/nvidia/*/lib folder under
// the Python prefixes, in prefix order; within a prefix, newer Python
// versions first and, inside nvidia/, cu13 before cu12 before the rest.
func WheelDirs(env Env) []string {
	var out []string
	seen := map[string]bool{}
	for _, pre := range PythonPrefixes(env) {
		for _, pat := range []string{
			"lib/python3*/site-packages",
			"lib/python3*/dist-packages",
			"lib64/python3*/site-packages",
		} {
			sites, _ := env.FS.Glob(filepath.Join(pre, pat))
			sortVersionsDesc(sites)
			for _, site := range sites {
				libs, _ := env.FS.Glob(filepath.Join(site, "nvidia", "*", "lib"))
				sort.SliceStable(libs, func(i, j int) bool { return wheelRank(libs[i]) < wheelRank(libs[j]) })
				for _, l := range libs {
					if !seen[l] {
						seen[l] = true
						out = append(out, l)
					}
				}
			}
		}
	}
	return out
}

func wheelRank(dir string) int {
	switch filepath.Base(filepath.Dir(dir)) {
	case "cu13":
		return 0
	case "cu12":
		return 1
	case "cublas", "nccl":
		return 2
	}
	return 3
}

// Candidates lists, in order, what to dlopen for lib:
//
//  1. the per-library override (lib.EnvVar, an exact file path): if set, it
//     is the only candidate;
//  2. each folder of TESSERA_CUDA_LIB_DIR (colon-separated), each soname
//     newest first;
//  3. the bare sonames, newest first (dlopen's own search: LD_LIBRARY_PATH,
//     RUNPATH, the ld.so cache, /lib, /usr/lib);
//  4. SystemDirs, then (for lib.Wheel) WheelDirs, each soname newest first
//     within a folder.
//
// Only files that exist are listed for steps 2 and 4; stub folders are never
// searched.
func Candidates(lib Lib, env Env) []Candidate {
	if lib.EnvVar != "" {
		if p := env.Getenv(lib.EnvVar); p != "" {
			return []Candidate{{Path: p, Companion: companionFor(lib, p, true), Source: "$" + lib.EnvVar}}
		}
	}
	var out []Candidate
	seen := map[string]bool{}
	addDir := func(dir, source string) {
		if dir == "" || strings.Contains(dir, "/stubs") {
			return
		}
		for _, so := range lib.Sonames {
			p := filepath.Join(dir, so)
			if seen[p] || !env.FS.IsFile(p) {
				continue
			}
			seen[p] = true
			out = append(out, Candidate{Path: p, Companion: companionFor(lib, p, true), Source: source})
		}
	}
	for _, d := range strings.Split(env.Getenv(DirEnvVar), ":") {
		addDir(d, "$"+DirEnvVar)
	}
	for _, so := range lib.Sonames {
		out = append(out, Candidate{Path: so, Companion: companionFor(lib, so, false), Source: "dlopen search path"})
	}
	for _, d := range SystemDirs(env) {
		addDir(d, "system folder")
	}
	if lib.Wheel {
		for _, d := range WheelDirs(env) {
			addDir(d, "Python wheel")
		}
	}
	return out
}

// companionFor returns the companion to preload for path p: beside p when p
// is a path (withDir), else the bare companion soname.
func companionFor(lib Lib, p string, withDir bool) string {
	base := filepath.Base(p)
	c, ok := lib.Companion[base]
	if !ok {
		// An override may name a versioned file (libcublas.so.12.9.1.4):
		// match by soname prefix.
		for so, comp := range lib.Companion {
			if strings.HasPrefix(base, so) {
				c, ok = comp, true
				break
			}
		}
	}
	if !ok {
		return ""
	}
	if withDir && strings.Contains(p, "/") {
		return filepath.Join(filepath.Dir(p), c)
	}
	return c
}

// sortVersionsDesc sorts paths so that embedded version numbers compare
// numerically, newest first (cuda-13.0 before cuda-12.10 before cuda-12.9,
// python3.12 before python3.9).
func sortVersionsDesc(p []string) {
	sort.SliceStable(p, func(i, j int) bool { return versionLess(p[j], p[i]) })
}

func versionLess(a, b string) bool {
	na, nb := numbers(a), numbers(b)
	for i := 0; i < len(na) && i < len(nb); i++ {
		if na[i] != nb[i] {
			return na[i] < nb[i]
		}
	}
	if len(na) != len(nb) {
		return len(na) < len(nb)
	}
	return a < b
}

func numbers(s string) []int {
	var out []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' }) {
		n, err := strconv.Atoi(f)
		if err == nil {
			out = append(out, n)
		}
	}
	return out
}
