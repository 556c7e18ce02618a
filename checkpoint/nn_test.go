package checkpoint

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/safetensors"
	"github.com/tessera-ml/tessera/tensor"
)

func newNet(seed uint64) *nn.Sequential {
	g := tensor.NewGenerator(seed)
	return nn.NewSequential(
		nn.NewConv2d(g, 1, 4, tensor.ConvParams{KH: 3, KW: 3, PadH: 1, PadW: 1}, 1, true),
		nn.NewBatchNorm2d(4), nn.NewReLU(), nn.NewMaxPool2d(2, 2, 0),
		nn.NewFlatten(), nn.NewLinear(g, 4*4*4, 10, true),
	)
}

// TestModuleRoundTrip: an nn model (with BatchNorm buffers) trained a few
// steps, saved, loaded into a fresh model and evaluated gives the same
// outputs bit for bit.
func TestModuleRoundTrip(t *testing.T) {
	g := tensor.NewGenerator(7)
	x := g.Normal(0, 1, tensor.Float32, 8, 1, 8, 8)
	y := g.RandInt(0, 10, 8)
	m := newNet(1)
	opt := optim.NewAdamW(nn.Params(m), optim.Options{LR: 1e-2, WeightDecay: 0.01})
	for range 3 {
		opt.ZeroGrad()
		loss := nn.CrossEntropy(m.Forward(autograd.Constant(x)), y)
		require.NoError(t, loss.Backward())
		require.NoError(t, opt.Step())
	}
	path := filepath.Join(t.TempDir(), "net.safetensors")
	require.NoError(t, Save(path, m.StateDict(), opt, Meta{Step: 3, Epoch: 1}))

	m2 := newNet(2)
	opt2 := optim.NewAdamW(nn.Params(m2), optim.Options{LR: 1e-2, WeightDecay: 0.01})
	c, err := Load(path)
	require.NoError(t, err)
	require.NoError(t, c.Restore(m2.StateDict(), opt2))
	m.Train(false)
	m2.Train(false)
	var a, b []float32
	autograd.NoGrad(func() {
		a = m.Forward(autograd.Constant(x)).Value().Float32s()
		b = m2.Forward(autograd.Constant(x)).Value().Float32s()
	})
	require.Equal(t, a, b)
	// nn's own LoadStateDict accepts the checkpoint's model tensors too.
	m3 := newNet(3)
	require.NoError(t, m3.LoadStateDict(c.Model))
	// A model of another architecture is rejected with a clear error.
	other := nn.NewSequential(nn.NewFlatten(), nn.NewLinear(tensor.NewGenerator(1), 64, 10, true))
	require.ErrorIs(t, c.Restore(other.StateDict(), nil), ErrMismatch)
}

// TestNNReadsCheckpointBF16: nn.ReadStateDict and nn.Load read a file of
// checkpoint.Save with BF16 and F16 tensors (issue 12 item 1: it failed
// with "unsupported dtype BF16"), and checkpoint.Load reads what nn.Save
// wrote with the dtype kept: one codec on both sides.
func TestNNReadsCheckpointBF16(t *testing.T) {
	g := tensor.NewGenerator(4)
	lin := nn.NewLinear(g, 6, 3, true, nn.WithDType(tensor.BFloat16))
	sd := lin.StateDict()
	sd["extra16"] = g.Normal(0, 1, tensor.Float32, 5).Cast(tensor.Float16)
	path := filepath.Join(t.TempDir(), "ck.safetensors")
	require.NoError(t, Save(path, sd, nil, Meta{Step: 2}))
	got, md, err := nn.ReadStateDict(path)
	require.NoError(t, err)
	require.Equal(t, "tessera", md["format"])
	for name, v := range sd {
		gt := got[ModelPrefix+name]
		require.NotNil(t, gt, name)
		require.Equal(t, v.DType(), gt.DType(), name)
		require.True(t, tensor.Equal(v, gt), name)
	}

	// nn.Save of a BF16 model, read back by checkpoint's codec as BF16.
	p2 := filepath.Join(t.TempDir(), "nn.safetensors")
	require.NoError(t, nn.Save(p2, lin))
	f, err := safetensors.ReadFile(p2)
	require.NoError(t, err)
	require.Equal(t, "BF16", f.Tensors["weight"].DType)
	m32 := nn.NewLinear(tensor.NewGenerator(8), 6, 3, true)
	require.NoError(t, nn.Load(p2, m32))
	require.Equal(t, lin.StateDict()["weight"].Cast(tensor.Float32).Float32s(), m32.StateDict()["weight"].Float32s())
}
