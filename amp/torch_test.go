package amp

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// TestLinearAgainstTorchAutocast runs a linear layer with float32
// parameters under torch.autocast("cpu", dtype=torch.bfloat16) (through
// /usr/bin/python3 and testdata/torch_autocast.py) and under Autocast
// here. Both cast the operands to bfloat16, accumulate in float32 and
// round the output once, so the outputs must agree to one bfloat16 unit
// in the last place (summation order can move a result across a rounding
// boundary; in practice they are equal bit for bit). torch 1.13's CPU
// kernels for the gradients are less exact than a float32 accumulation
// (up to 8 ulps of the result were seen), so the gradients must agree
// within the error bound of a sum of K bfloat16 products accumulated in
// bfloat16, (K+2)·u·Σ|a||b| (u = 2^-8), and ours within one ulp of the
// float64 products of the bfloat16-rounded operands. Skipped in -short
// and when python3 or torch is missing.
func TestLinearAgainstTorchAutocast(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Python: not in -short; the float64 reference tests of autocast still run")
	}
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if exec.Command(py, "-c", "import torch").Run() != nil {
		t.Skip("python3 has no torch")
	}
	const n, k, m = 6, 40, 5
	g := tensor.NewGenerator(21)
	xt := g.Normal(0, 1, tensor.Float32, n, k)
	wt := g.Normal(0, 0.3, tensor.Float32, m, k)
	bt := g.Normal(0, 0.3, tensor.Float32, m)
	ct := g.Normal(0, 1, tensor.Float32, n, m)
	req, err := json.Marshal(map[string]any{"n": n, "k": k, "m": m,
		"x": xt.Float64s(), "w": wt.Float64s(), "b": bt.Float64s(), "c": ct.Float64s()})
	require.NoError(t, err)
	cmd := exec.Command(py, "testdata/torch_autocast.py")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var ref struct {
		Y, GX, GW, GB []float64
		Loss          float64
	}
	require.NoError(t, json.Unmarshal(out, &ref))

	x, w, b := autograd.Param(xt), autograd.Param(wt), autograd.Param(bt)
	var y *autograd.Var
	Autocast(Policy{DType: tensor.BFloat16}, func() { y = autograd.Linear(x, w, b) })
	require.Equal(t, tensor.BFloat16, y.DType())
	loss := autograd.Sum(autograd.Mul(autograd.Cast(y, tensor.Float32), autograd.Constant(ct)), false)
	require.NoError(t, loss.Backward())

	ulp := func(v float64) float64 { // one bfloat16 ulp at |v|
		_, e := math.Frexp(math.Abs(v))
		return math.Ldexp(1, e-8)
	}
	r16 := func(t *tensor.Tensor) *tensor.Tensor { return t.Cast(tensor.BFloat16).Cast(tensor.Float64) }
	abs := tensor.Abs
	c16, x16, w16 := r16(ct), r16(xt), r16(wt) // the gradient of y is c rounded to bfloat16 in both
	u := math.Ldexp(1, -8)
	check := func(name string, got, torch []float64, exact, mag *tensor.Tensor, k int) {
		require.Len(t, got, len(torch), name)
		same := 0
		for i, e := range exact.Float64s() {
			require.LessOrEqual(t, math.Abs(got[i]-e), ulp(e), "%s[%d]: %v, exact %v", name, i, got[i], e)
			require.LessOrEqual(t, math.Abs(got[i]-torch[i]), float64(k+2)*u*mag.Float64s()[i], "%s[%d]: %v, torch %v", name, i, got[i], torch[i])
			if got[i] == torch[i] {
				same++
			}
		}
		t.Logf("%s: %d of %d bit for bit equal to torch's", name, same, len(torch))
	}
	Y := y.Value().Float64s()
	for i := range Y {
		require.LessOrEqual(t, math.Abs(Y[i]-ref.Y[i]), ulp(max(math.Abs(Y[i]), math.Abs(ref.Y[i]))), "y[%d]", i)
	}
	check("dx", x.Grad().Float64s(), ref.GX, tensor.MatMul(c16, w16), tensor.MatMul(abs(c16), abs(w16)), m)
	check("dw", w.Grad().Float64s(), ref.GW, tensor.MatMul(c16.T(), x16), tensor.MatMul(abs(c16).T(), abs(x16)), n)
	check("db", b.Grad().Float64s(), ref.GB, tensor.Sum(c16, false, 0), tensor.Sum(abs(c16), false, 0), n)
	assert.InDelta(t, ref.Loss, loss.Item(), 1e-4*math.Abs(ref.Loss)+1e-4)
}
