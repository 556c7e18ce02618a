package amp

import (
	"testing"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/tensor"
)

// BenchmarkLinear is a 256x512 @ 512x512 linear layer, forward and
// backward, with float32 parameters, plain and under Autocast: on the CPU
// the 16-bit formats are storage formats (every op converts to float32 and
// rounds back), so they cost conversions, not save time.
func BenchmarkLinear(b *testing.B) {
	g := tensor.NewGenerator(1)
	x := autograd.Constant(g.Normal(0, 1, tensor.Float32, 256, 512))
	w := autograd.Param(g.Normal(0, 0.05, tensor.Float32, 512, 512))
	bias := autograd.Param(g.Normal(0, 0.05, tensor.Float32, 512))
	for _, dt := range []tensor.DType{tensor.Float32, tensor.BFloat16, tensor.Float16} {
		b.Run(dt.String(), func(b *testing.B) {
			for range b.N {
				var y *autograd.Var
				f := func() { y = autograd.Sum(autograd.Linear(x, w, bias), false) }
				if dt == tensor.Float32 {
					f()
				} else {
					Autocast(Policy{DType: dt}, f)
				}
				if err := y.Backward(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
