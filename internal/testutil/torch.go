package testutil

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// Python is the interpreter of the PyTorch cross-checks: the system
// python3, where Debian's python3-torch and python3-numpy install
// (scripts/setup.sh), not a virtual environment's.
const Python = "/usr/bin/python3"

// RequireTorchEnv is the environment variable that turns a missing PyTorch
// from a skip into a failure; `make test` sets it after scripts/setup.sh
// has installed python3-torch, so the cross-checks cannot pass by skipping.
const RequireTorchEnv = "TESSERA_REQUIRE_TORCH"

// RequireTorch returns Python when it imports torch and numpy. Otherwise it
// skips the test, or fails it when TESSERA_REQUIRE_TORCH=1.
func RequireTorch(t testing.TB) string {
	t.Helper()
	err := exec.Command(Python, "-c", "import torch, numpy").Run()
	if err == nil {
		return Python
	}
	msg := Python + " cannot import torch and numpy (apt install python3-torch python3-numpy, or make setup): " + err.Error()
	if os.Getenv(RequireTorchEnv) == "1" {
		t.Fatalf("%s=1: %s", RequireTorchEnv, msg)
	}
	t.Skip("SKIPPED: " + msg)
	return ""
}

// TorchArray is one array of a TorchCase: its shape, its elements in
// row-major order as float64 (0/1 for booleans), its kind ("f" float64,
// "i" int64, "b" bool) and, for an input, whether it requires a gradient.
type TorchArray struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
	Kind  string    `json:"kind"`
	Grad  bool      `json:"grad"`
}

// TorchCase is one row of the table torch_cases.py prints: the inputs,
// PyTorch's output, the cotangent (random, of the output's shape) and
// PyTorch's vector-Jacobian product for it, one entry per input (nil for
// inputs that take no gradient); Tol is the relative tolerance,
// |got - want| <= Tol·(1 + |want|).
type TorchCase struct {
	Name   string        `json:"name"`
	Tol    float64       `json:"tol"`
	Inputs []TorchArray  `json:"inputs"`
	Cot    TorchArray    `json:"cot"`
	Out    TorchArray    `json:"out"`
	Grads  []*TorchArray `json:"grads"`
}

// TorchScript is the path of torch_cases.py, beside this file.
func TorchScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "torch_cases.py")
}

// TorchCases runs torch_cases.py for table ("autograd" or "nn") with the
// given seed (its inputs are drawn in Python) and returns the cases. It
// calls RequireTorch first.
func TorchCases(t testing.TB, table string, seed int) []TorchCase {
	t.Helper()
	py := RequireTorch(t)
	cmd := exec.Command(py, TorchScript(), table, strconv.Itoa(seed))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s %s: %v\n%s", py, TorchScript(), table, err, stderr.String())
	}
	var cases []TorchCase
	if err := json.Unmarshal(out, &cases); err != nil {
		t.Fatalf("torch_cases.py %s: %v", table, err)
	}
	if len(cases) == 0 {
		t.Fatalf("torch_cases.py %s printed no cases", table)
	}
	return cases
}
