package checkpoint

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// bitsOf returns a tensor's elements as float64 bit patterns (exact for
// every dtype; NaN payloads compare too).
func bitsOf(t *tensor.Tensor) []uint64 {
	vals := t.Float64s()
	out := make([]uint64, len(vals))
	for i, v := range vals {
		out[i] = math.Float64bits(v)
	}
	return out
}

// requireSameState requires two state dicts to hold the same names, shapes,
// dtypes and elements, bit for bit.
func requireSameState(t *testing.T, want, got map[string]*tensor.Tensor, what string) {
	t.Helper()
	require.Len(t, got, len(want), what)
	for k, w := range want {
		g, ok := got[k]
		require.True(t, ok, "%s: %s missing", what, k)
		require.Equal(t, w.DType(), g.DType(), "%s: %s", what, k)
		require.True(t, w.Shape().Equal(g.Shape()), "%s: %s shape %v vs %v", what, k, w.Shape(), g.Shape())
		require.Equal(t, bitsOf(w), bitsOf(g), "%s: %s", what, k)
	}
}

// trainSteps takes n steps of real training (forward, cross-entropy,
// backward, optimizer step, scheduler step) on batches drawn from a
// generator at (seed, offset) so that the stream continues across calls.
func trainSteps(t *testing.T, m nn.Module, opt *optim.Optimizer, sched *optim.Scheduler, g *tensor.Generator, n int) []float64 {
	var losses []float64
	for range n {
		x := g.Normal(0, 1, tensor.Float32, 8, 1, 8, 8)
		y := g.RandInt(0, 10, 8)
		opt.ZeroGrad()
		loss := nn.CrossEntropy(m.Forward(autograd.Constant(x)), y, nn.LabelSmoothing(0.05))
		require.NoError(t, loss.Backward())
		optim.ClipGradNorm(nn.Params(m), 1.0)
		require.NoError(t, opt.Step())
		sched.Step()
		losses = append(losses, loss.Item())
	}
	return losses
}

// TestResumeTrainingBitIdentical: a network with BatchNorm buffers trained
// with AdamW, gradient clipping and a cosine schedule, checkpointed after 3
// steps (module, optimizer state and the step in the metadata), restored
// into a fresh network and optimizer built from other seeds and settings,
// and trained 4 more steps on the same batches, matches the run that never
// stopped bit for bit: every loss, every parameter and buffer, every
// optimizer moment and step count, the learning rate, and the evaluation
// outputs.
func TestResumeTrainingBitIdentical(t *testing.T) {
	const total, at = 7, 3
	cos := optim.Cosine{Steps: total, MinLR: 1e-4}
	m := newNet(1)
	opt := optim.NewAdamW(nn.Params(m), optim.Options{LR: 1e-2, WeightDecay: 0.01})
	sched := optim.NewScheduler(opt, cos)
	data := tensor.NewGenerator(42)
	trainSteps(t, m, opt, sched, data, at)
	path := filepath.Join(t.TempDir(), "resume.safetensors")
	require.NoError(t, Save(path, m.StateDict(), opt, Meta{Step: at, Epoch: 0}))
	seed, off := data.State()

	// the uninterrupted run
	wantLoss := trainSteps(t, m, opt, sched, data, total-at)

	// the resumed run: other initial weights, other optimizer settings
	m2 := newNet(2)
	opt2 := optim.NewAdamW(nn.Params(m2), optim.Options{LR: 0.5, WeightDecay: 0.3, Beta1: 0.5})
	sched2 := optim.NewScheduler(opt2, cos)
	c, err := Load(path)
	require.NoError(t, err)
	require.NoError(t, c.Restore(m2.StateDict(), opt2))
	sched2.SetStep(c.Meta.Step)
	data2 := tensor.NewGenerator(0)
	data2.SetState(seed, off)
	gotLoss := trainSteps(t, m2, opt2, sched2, data2, total-at)

	lossBits := func(v []float64) []uint64 {
		out := make([]uint64, len(v))
		for i, x := range v {
			out[i] = math.Float64bits(x)
		}
		return out
	}
	require.Equal(t, lossBits(wantLoss), lossBits(gotLoss), "losses after resuming")
	requireSameState(t, m.StateDict(), m2.StateDict(), "module state")
	requireSameState(t, opt.StateDict(), opt2.StateDict(), "optimizer state")
	require.Equal(t, sched.LR(), sched2.LR())

	m.Train(false)
	m2.Train(false)
	x := tensor.NewGenerator(9).Normal(0, 1, tensor.Float32, 5, 1, 8, 8)
	autograd.NoGrad(func() {
		require.Equal(t, bitsOf(m.Forward(autograd.Constant(x)).Value()), bitsOf(m2.Forward(autograd.Constant(x)).Value()))
	})

	// Without the optimizer state the resumed run differs (the test can fail).
	m3 := newNet(3)
	opt3 := optim.NewAdamW(nn.Params(m3), optim.Options{LR: 1e-2, WeightDecay: 0.01})
	sched3 := optim.NewScheduler(opt3, cos)
	require.NoError(t, c.Restore(m3.StateDict(), nil))
	sched3.SetStep(c.Meta.Step)
	data3 := tensor.NewGenerator(0)
	data3.SetState(seed, off)
	other := trainSteps(t, m3, opt3, sched3, data3, total-at)
	require.NotEqual(t, lossBits(wantLoss)[1:], lossBits(other)[1:], "fresh Adam moments must change the trajectory")
}

// TestCheckpointIndependentPythonReader reads a whole checkpoint (model and
// optimizer tensors, metadata) with ../safetensors/testdata/independent_reader.py
// (json + struct + numpy, /usr/bin/python3) and compares every element bit
// for bit. Skipped only without /usr/bin/python3 and numpy; the pure-Go
// independent reader test in package safetensors checks the same writer.
func TestCheckpointIndependentPythonReader(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		t.Skip("python3 has no numpy")
	}
	m := newNet(4)
	opt := optim.NewAdam(nn.Params(m), optim.Options{LR: 1e-3})
	sched := optim.NewScheduler(opt, optim.Constant{})
	trainSteps(t, m, opt, sched, tensor.NewGenerator(5), 2)
	sd := m.StateDict()
	sd["extra.bf16"] = tensor.FromSlice([]float32{1, 2.5, -3}, 3).Cast(tensor.BFloat16)
	sd["extra.f16"] = tensor.FromSlice([]float32{0.1, -65504}, 2).Cast(tensor.Float16)
	sd["extra.f64"] = tensor.FromSlice([]float64{math.Pi}, 1)
	sd["extra.bool"] = tensor.FromSlice([]bool{true, false}, 2)
	sd["extra.i32"] = tensor.FromSlice([]int32{-5, 7}, 2)
	path := filepath.Join(t.TempDir(), "c.safetensors")
	require.NoError(t, Save(path, sd, opt, Meta{Step: 2, Extra: map[string]string{"run": "py"}}))
	out, err := exec.Command(py, "../safetensors/testdata/independent_reader.py", path).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("independent_reader.py: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err)
	var got struct {
		Metadata map[string]string
		Tensors  map[string]struct {
			DType string
			Shape []int
			Bits  []uint64
		}
	}
	require.NoError(t, json.Unmarshal(out, &got))
	require.Equal(t, "2", got.Metadata["step"])
	require.Equal(t, "py", got.Metadata["run"])
	all := map[string]*tensor.Tensor{}
	for k, v := range sd {
		all[ModelPrefix+k] = v
	}
	for k, v := range opt.StateDict() {
		all[OptimPrefix+k] = v
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	require.Len(t, got.Tensors, len(all))
	stName := map[tensor.DType]string{tensor.Float32: "F32", tensor.Float64: "F64", tensor.BFloat16: "BF16",
		tensor.Float16: "F16", tensor.Int32: "I32", tensor.Int64: "I64", tensor.Bool: "BOOL"}
	for _, k := range names {
		v := all[k]
		g, ok := got.Tensors[k]
		require.True(t, ok, k)
		require.Equal(t, stName[v.DType()], g.DType, k)
		require.True(t, v.Shape().Equal(g.Shape), k)
		want := make([]uint64, 0, v.NumElements())
		for _, x := range v.Float64s() {
			switch v.DType() {
			case tensor.Float32:
				want = append(want, uint64(math.Float32bits(float32(x))))
			case tensor.Float64:
				want = append(want, math.Float64bits(x))
			case tensor.BFloat16:
				want = append(want, uint64(math.Float32bits(float32(x))>>16)) // exact: x is a bfloat16 value
			case tensor.Float16:
				want = append(want, uint64(f16bits(float32(x))))
			case tensor.Int32:
				want = append(want, uint64(uint32(int32(x))))
			case tensor.Int64:
				want = append(want, uint64(int64(x)))
			case tensor.Bool:
				if x != 0 {
					want = append(want, 1)
				} else {
					want = append(want, 0)
				}
			}
		}
		require.Equal(t, want, g.Bits, k)
	}
}

// f16bits encodes a float32 that is exactly representable as an IEEE half
// (normal or zero) into its bit pattern.
func f16bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	if f == 0 {
		return sign
	}
	exp := int(b>>23&0xff) - 127 + 15
	return sign | uint16(exp)<<10 | uint16(b>>13&0x3ff)
}
