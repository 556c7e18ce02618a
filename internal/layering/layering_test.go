package layering

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/tessera-ml/tessera"

// A pattern is a package path relative to the module: "tensor" names one
// package, "collectives/..." names collectives and everything below it. In an
// allowed list, "LIB" stands for every library package (everything but
// examples/, bench/ and cmd/).
type rule struct {
	pkg string
	may []string
}

// trainer is what the course modules (DESIGN.md decision 10: parallel/*,
// robust/*, automl/*, scaling/*) may import besides their own tree.
var trainer = []string{"tensor", "autograd", "nn", "optim", "amp", "data", "checkpoint", "collectives/...", "profiler"}

func with(base []string, more ...string) []string {
	return append(append([]string{}, base...), more...)
}

// layers is the allowed-import table, lowest layer first. A package is
// governed by the rule with the longest pattern that matches it; every
// package of the module must match one. docs/ARCHITECTURE.md prints this
// table (TestPageShowsTheTable keeps the two equal).
var layers = []rule{
	// Foundations: no Tessera imports beyond these.
	{"kernels/cpu", nil},
	{"kernels/cudakernels", nil},
	{"internal/readall", nil},
	{"internal/memtest", nil},
	{"internal/layering", nil},
	{"internal/cudaemu", []string{"kernels/cudakernels"}},
	{"profiler", nil},
	{"safetensors", []string{"internal/readall"}},
	{"cuda", []string{"cuda/internal/dl", "kernels/cudakernels"}},
	{"cuda/internal/dl", nil},
	{"cuda/nccl", []string{"cuda", "cuda/internal/dl"}},
	{"internal/testutil", []string{"cuda"}},
	// The tensor layer and the devices registered into it.
	{"tensor", []string{"kernels/cpu"}},
	{"tensor/devicetest", []string{"tensor"}},
	{"cuda/cudatensor", []string{"tensor", "cuda", "kernels/cudakernels"}},
	{"safetensors/stcodec", []string{"safetensors", "tensor", "internal/readall"}},
	// Above tensor.
	{"autograd", []string{"tensor"}},
	{"collectives", []string{"tensor"}},
	{"collectives/colltest", []string{"collectives", "tensor"}},
	{"collectives/internal/...", []string{"collectives", "tensor"}},
	{"collectives/local", []string{"collectives", "collectives/internal/...", "tensor"}},
	{"collectives/mpi/...", []string{"collectives", "collectives/internal/...", "collectives/mpi", "tensor"}},
	{"collectives/nccl", []string{"collectives", "collectives/internal/...", "tensor", "cuda", "cuda/cudatensor", "cuda/nccl"}},
	{"nn", []string{"tensor", "autograd", "safetensors/..."}},
	{"optim", []string{"tensor", "autograd"}},
	{"data", []string{"tensor", "internal/readall"}},
	{"checkpoint", []string{"tensor", "autograd", "optim", "safetensors/..."}},
	{"amp", []string{"tensor", "autograd", "nn", "optim"}},
	// The course modules: the training building blocks, their own tree, and
	// (automl) the search of automl/hpo; never one another.
	{"parallel/...", with(trainer, "parallel/...")},
	{"robust/...", with(trainer, "robust/...")},
	{"automl/hpo", trainer},
	{"automl/...", with(trainer, "automl/hpo")},
	{"scaling/...", trainer},
	// Programs: any library package and their own internal helpers.
	{"examples/...", []string{"LIB", "examples/internal/..."}},
	{"bench/...", []string{"LIB", "bench/internal/..."}},
	{"cmd/...", []string{"LIB", "cmd/internal/..."}},
}

func isProgram(p string) bool {
	for _, top := range []string{"examples", "bench", "cmd"} {
		if p == top || strings.HasPrefix(p, top+"/") {
			return true
		}
	}
	return false
}

func matches(pattern, p string) bool {
	if pattern == "LIB" {
		return !isProgram(p)
	}
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return p == base || strings.HasPrefix(p, base+"/")
	}
	return p == pattern
}

// ruleFor returns the rule with the longest pattern that matches p.
func ruleFor(p string) (rule, bool) {
	var best rule
	found := false
	for _, r := range layers {
		if matches(r.pkg, p) && (!found || len(r.pkg) > len(best.pkg)) {
			best, found = r, true
		}
	}
	return best, found
}

// allowed reports whether package p may import q (both module-relative).
func allowed(p, q string) bool {
	r, ok := ruleFor(p)
	if !ok {
		return false
	}
	for _, m := range r.may {
		if matches(m, q) {
			return true
		}
	}
	return false
}

type pkgImports struct {
	path    string   // module-relative
	imports []string // module-relative, Tessera packages only
	tests   []string // the same for the package's tests
}

// list runs go list over the module with the given environment additions
// and build tags, from the module root.
func list(t *testing.T, env []string, tags string) []pkgImports {
	t.Helper()
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "the go command (go test puts GOROOT/bin on PATH)")
	args := []string{"list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}} {{join .XTestImports \" \"}}"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "./...")
	cmd := exec.Command(goBin, args...)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list %v (env %v): %s", args, env, stderr.String())
	rel := func(fields []string) []string {
		var r []string
		for _, f := range fields {
			if f == module {
				r = append(r, ".")
			} else if s, ok := strings.CutPrefix(f, module+"/"); ok {
				r = append(r, s)
			}
		}
		return r
	}
	var pkgs []pkgImports
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "|")
		require.Len(t, parts, 3, sc.Text())
		p := rel([]string{parts[0]})
		require.Len(t, p, 1, "package %s is outside the module", parts[0])
		pkgs = append(pkgs, pkgImports{path: p[0], imports: rel(strings.Fields(parts[1])), tests: rel(strings.Fields(parts[2]))})
	}
	require.NotEmpty(t, pkgs)
	return pkgs
}

// configs are the build configurations whose files differ: the default, the
// MPI backend's tag, the portable kernels, and a platform without cgo or amd64
// assembly (the stubs).
var configs = []struct {
	name string
	env  []string
	tags string
}{
	{"default", nil, ""},
	{"mpi", nil, "mpi"},
	{"purego", nil, "purego"},
	{"darwin/arm64 nocgo", []string{"GOOS=darwin", "GOARCH=arm64", "CGO_ENABLED=0"}, ""},
}

func TestImportsFollowTheLayering(t *testing.T) {
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			pkgs := list(t, c.env, c.tags)
			for _, p := range pkgs {
				if _, ok := ruleFor(p.path); !ok {
					t.Errorf("package %s is not in the layering table: add it to internal/layering/layering_test.go "+
						"and to the table in docs/ARCHITECTURE.md", p.path)
					continue
				}
				for _, q := range p.imports {
					if !allowed(p.path, q) {
						t.Errorf("%s imports %s, which the layering does not allow (docs/ARCHITECTURE.md, "+
							"internal/layering/layering_test.go)", p.path, q)
					}
				}
				// Tests may use any library package (a checkpoint test builds
				// an nn model), but a library's tests never import a program.
				if !isProgram(p.path) {
					for _, q := range p.tests {
						if isProgram(q) {
							t.Errorf("the tests of %s import the program package %s", p.path, q)
						}
					}
				}
			}
		})
	}
}

// The check itself: a table that forbids nothing would pass any graph.
func TestTableForbidsUpwardImports(t *testing.T) {
	for _, c := range []struct{ p, q string }{
		{"tensor", "autograd"}, {"tensor", "cuda"}, {"tensor", "cuda/cudatensor"},
		{"kernels/cpu", "tensor"}, {"cuda", "tensor"}, {"autograd", "nn"},
		{"nn", "optim"}, {"optim", "nn"}, {"data", "nn"}, {"collectives", "autograd"},
		{"safetensors", "tensor"}, {"checkpoint", "nn"}, {"nn", "checkpoint"},
		{"parallel/ddp", "robust"}, {"robust", "parallel/ddp"}, {"automl/meta", "automl/nas"},
		{"automl/hpo", "automl/meta"}, {"scaling", "parallel"}, {"nn", "examples/internal/fit"},
		{"parallel/ddp", "examples/internal/fit"}, {"examples/mnist", "bench/internal/x"},
		{"nn", "amp"}, {"optim", "amp"}, {"autograd", "amp"}, {"amp", "parallel/zero"}, {"amp", "checkpoint"},
	} {
		assert.False(t, allowed(c.p, c.q), "%s -> %s", c.p, c.q)
	}
	for _, c := range []struct{ p, q string }{
		{"cuda/cudatensor", "tensor"}, {"collectives/nccl", "cuda/cudatensor"}, {"checkpoint", "optim"},
		{"nn", "safetensors/stcodec"}, {"automl/meta", "automl/hpo"}, {"parallel/strategy", "parallel/ddp"},
		{"robust/trainer", "collectives/local"}, {"examples/quickstart", "cuda/cudatensor"},
		{"parallel/zero", "amp"}, {"amp", "optim"}, {"amp", "nn"},
	} {
		assert.True(t, allowed(c.p, c.q), "%s -> %s", c.p, c.q)
	}
	_, ok := ruleFor("newtoplevel")
	assert.False(t, ok, "a package outside the table is reported")
}

// tableRow matches a row of the page's table: | `pkg` | `a`, `b` |.
var tableRow = regexp.MustCompile("^\\| `([^`]+)` \\| (.*) \\|$")

// TestPageShowsTheTable checks that docs/ARCHITECTURE.md's import table has
// exactly the rows of layers, so the page and the check cannot drift.
func TestPageShowsTheTable(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "..", "docs", "ARCHITECTURE.md"))
	require.NoError(t, err)
	onPage := map[string][]string{}
	for _, line := range strings.Split(string(page), "\n") {
		m := tableRow.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		var may []string
		for _, f := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(m[2], -1) {
			may = append(may, f[1])
		}
		onPage[m[1]] = may
	}
	require.NotEmpty(t, onPage, "docs/ARCHITECTURE.md has no import table; it should be:\n%s", pageTable())
	inTest := map[string][]string{}
	for _, r := range layers {
		may := append([]string(nil), r.may...)
		sort.Strings(may)
		inTest[r.pkg] = may
	}
	for k, v := range onPage {
		sort.Strings(v)
		onPage[k] = v
	}
	assert.Equal(t, inTest, onPage, "the table in docs/ARCHITECTURE.md and layers in internal/layering/layering_test.go "+
		"differ; the page's table for the test's layers is:\n%s", pageTable())
}

// pageTable is the markdown table docs/ARCHITECTURE.md prints for layers.
func pageTable() string {
	var b strings.Builder
	b.WriteString("| package | may import (besides the standard library and the modules in go.mod) |\n|---|---|\n")
	for _, r := range layers {
		var may []string
		for _, m := range r.may {
			may = append(may, "`"+m+"`")
		}
		s := strings.Join(may, ", ")
		if s == "" {
			s = "—"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", r.pkg, s)
	}
	return b.String()
}
