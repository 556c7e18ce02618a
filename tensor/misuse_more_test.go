package tensor_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tessera-ml/tessera/tensor"
)

// TestMisusePanicsMoreOps extends TestMisusePanicsNameOpAndShapes to the op
// families it leaves out (Im2Col/Col2Im, AddMatMul, ScatterAdd, the fused
// optimizer updates, IndexSelect, OneHot, Expand of batch matmul operands):
// every misuse panics with a *tensor.Error whose message starts with the op
// and names the offending shapes.
func TestMisusePanicsMoreOps(t *testing.T) {
	x4 := tensor.Ones(tensor.Float32, 2, 3, 5, 5)
	a := tensor.Ones(tensor.Float32, 2, 3)
	i64 := func(shape ...int) *tensor.Tensor { return tensor.Zeros(tensor.Int64, shape...) }
	cases := []struct {
		name string
		f    func()
		has  []string
	}{
		{"Im2Col rank", func() { tensor.Im2Col(a, tensor.ConvParams{KH: 1, KW: 1}) }, []string{"tensor.Im2Col:", "[2 3]"}},
		{"Im2Col window too large", func() { tensor.Im2Col(x4, tensor.ConvParams{KH: 7, KW: 2}) }, []string{"tensor.Im2Col:", "[2 3 5 5]"}},
		{"Im2Col bad kernel", func() { tensor.Im2Col(x4, tensor.ConvParams{KH: 0, KW: 2}) }, []string{"tensor.Im2Col:"}},
		{"Col2Im cols shape", func() {
			tensor.Col2Im(tensor.Ones(tensor.Float32, 5, 4), []int{1, 1, 3, 3}, tensor.ConvParams{KH: 2, KW: 2})
		}, []string{"tensor.Col2Im:", "[5 4]", "[1 1 3 3]"}},
		{"AddMatMul inner", func() { tensor.AddMatMul(tensor.Ones(tensor.Float32, 3), a, a) }, []string{"tensor.AddMatMul:", "[2 3]"}},
		{"AddMatMul vector", func() { tensor.AddMatMul(a, tensor.Ones(tensor.Float32, 3), a) }, []string{"tensor.AddMatMul:", "[3]", "[2 3]"}},
		{"AddMatMul batch", func() {
			tensor.AddMatMul(tensor.Ones(tensor.Float32, 1), tensor.Ones(tensor.Float32, 2, 2, 3), tensor.Ones(tensor.Float32, 3, 3, 4))
		}, []string{"tensor.AddMatMul:", "[2 2 3]", "[3 3 4]"}},
		{"MatMulAddInto dst", func() {
			tensor.MatMulAddInto(tensor.Ones(tensor.Float32, 2, 2), a, tensor.Ones(tensor.Float32, 3, 4))
		}, []string{"tensor.MatMulAddInto:", "[2 4]", "[2 2]"}},
		{"MatMul batch", func() {
			tensor.MatMul(tensor.Ones(tensor.Float32, 2, 2, 3), tensor.Ones(tensor.Float32, 3, 3, 4))
		}, []string{"tensor.MatMul:", "[2 2 3]", "[3 3 4]"}},
		{"ScatterAdd index dtype", func() { tensor.ScatterAdd(a, 1, a, a) }, []string{"tensor.ScatterAdd", "float32"}},
		{"ScatterAdd index rank", func() { tensor.ScatterAdd(a, 1, i64(2), a) }, []string{"tensor.ScatterAdd", "[2]", "[2 3]"}},
		{"ScatterAdd index too big", func() { tensor.ScatterAdd(a, 1, i64(3, 3), tensor.Ones(tensor.Float32, 3, 3)) }, []string{"tensor.ScatterAdd", "[3 3]", "[2 3]"}},
		{"ScatterAdd axis", func() { tensor.ScatterAdd(a, 2, i64(2, 3), a) }, []string{"tensor.ScatterAdd", "axis 2", "[2 3]"}},
		{"Gather axis", func() { tensor.Gather(a, 2, i64(2, 3)) }, []string{"tensor.Gather:", "axis 2", "[2 3]"}},
		{"IndexSelect index dtype", func() { tensor.IndexSelect(a, 0, a) }, []string{"tensor.IndexSelect:", "float32"}},
		{"OneHot dtype", func() { tensor.OneHot(a, 3) }, []string{"tensor.OneHot:", "float32"}},
		{"SGDUpdate shapes", func() {
			tensor.SGDUpdate(a, tensor.Ones(tensor.Float32, 3, 2), nil, tensor.SGDHyper{LR: 0.1})
		}, []string{"tensor.SGDUpdate:", "[2 3]", "[3 2]"}},
		{"SGDUpdate dtypes", func() {
			tensor.SGDUpdate(a, tensor.Ones(tensor.Float64, 2, 3), nil, tensor.SGDHyper{LR: 0.1})
		}, []string{"tensor.SGDUpdate:", "float32[2 3]", "float64[2 3]"}},
		{"SGDUpdate momentum without buffer", func() { tensor.SGDUpdate(a, a.Clone(), nil, tensor.SGDHyper{LR: 0.1, Momentum: 0.9}) }, []string{"tensor.SGDUpdate:", "buffer"}},
		{"SGDUpdate int", func() {
			w := tensor.Ones(tensor.Int32, 2)
			tensor.SGDUpdate(w, w.Clone(), nil, tensor.SGDHyper{LR: 0.1})
		}, []string{"tensor.SGDUpdate:", "int32"}},
		{"AdamUpdate shapes", func() {
			tensor.AdamUpdate(a, a.Clone(), a.Clone(), tensor.Ones(tensor.Float32, 3), tensor.AdamHyper{LR: 0.1, Step: 1})
		}, []string{"tensor.AdamUpdate:", "[2 3]", "[3]"}},
		{"Expand", func() { a.Expand(2, 4) }, []string{"Tensor.Expand:", "[2 3]", "[2 4]"}},
		{"Stack empty", func() { tensor.Stack(nil, 0) }, []string{"tensor.Stack:"}},
		{"Where shapes", func() { tensor.Where(tensor.Ones(tensor.Bool, 3), a, tensor.Ones(tensor.Float32, 2, 2)) }, []string{"tensor.Where:", "[3]", "[2 3]", "[2 2]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := tensor.Try(c.f)
			if !assert.Error(t, err, "want a panic") {
				return
			}
			var te *tensor.Error
			assert.True(t, errors.As(err, &te), "%v: not a *tensor.Error", err)
			for _, h := range c.has {
				assert.Contains(t, err.Error(), h)
			}
		})
	}
}
