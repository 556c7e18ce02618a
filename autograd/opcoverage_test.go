package autograd

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// differentiableOps lists the exported functions of ops_*.go and
// checkpoint.go that return a *Var (or []*Var) first.
func differentiableOps(t *testing.T) []string {
	files, err := filepath.Glob("ops_*.go")
	require.NoError(t, err)
	files = append(files, "checkpoint.go")
	fset := token.NewFileSet()
	var ops []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || !fd.Name.IsExported() || fd.Type.Results == nil {
				continue
			}
			for _, r := range fd.Type.Results.List {
				s := types(r.Type)
				if s == "*Var" || s == "[]*Var" {
					ops = append(ops, fd.Name.Name)
					break
				}
			}
		}
	}
	require.Greater(t, len(ops), 60, "ops found: %v", ops)
	return ops
}

// TestEveryOpHasGradCheck requires each differentiable op to have a case
// in gradCheckCases (named "Op" or "Op/variant"), so a new differentiable
// op cannot land without a finite-difference gradient check (and, through
// TestGradCheckSecondOrder, a second-order one).
func TestEveryOpHasGradCheck(t *testing.T) {
	have := map[string]bool{}
	for _, c := range gradCheckCases() {
		have[strings.SplitN(c.name, "/", 2)[0]] = true
	}
	for _, op := range differentiableOps(t) {
		if !have[op] {
			t.Errorf("op %s has no case in gradCheckCases", op)
		}
	}
}

// TestEveryOpHasTorchCase requires each differentiable op to have a case
// in torchOps (so in the PyTorch table: TestAgainstTorch fails on a Go
// case without a torch case) or a reason in torchLeftOut. It needs no
// Python, so it runs under -short too.
func TestEveryOpHasTorchCase(t *testing.T) {
	have := map[string]bool{}
	for name := range torchOps {
		have[strings.SplitN(name, "/", 2)[0]] = true
	}
	for _, op := range differentiableOps(t) {
		if !have[op] && torchLeftOut[op] == "" {
			t.Errorf("op %s has no case in torchOps (internal/testutil/torch_cases.py) and no reason in torchLeftOut", op)
		}
	}
}

func types(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return "*" + types(x.X)
	case *ast.ArrayType:
		return "[]" + types(x.Elt)
	case *ast.Ident:
		return x.Name
	}
	return ""
}
