package optim

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/internal/testutil"
	"github.com/tessera-ml/tessera/tensor"
)

type torchCase struct {
	Name   string         `json:"name"`
	Kind   string         `json:"kind"`
	Opts   map[string]any `json:"opts"`
	Shapes [][]int        `json:"shapes"`
	Params [][]float64    `json:"params"`
	Grads  [][][]float64  `json:"grads"`
	opt    Options        `json:"-"`
	k      Kind           `json:"-"`
}

type torchSched struct {
	Name  string         `json:"name"`
	Type  string         `json:"type"`
	Args  map[string]any `json:"args"`
	Steps int            `json:"steps"`
	Base  float64        `json:"base"`
	s     Schedule
}

// TestAgainstTorch runs the same trajectories in torch.optim (float64,
// through /usr/bin/python3 and testdata/torch_optim.py) and in this package
// (float64) and requires agreement to 1e-10 relative; and the schedules'
// rates to 1e-9. Skipped when python3 or torch is missing, unless
// TESSERA_REQUIRE_TORCH=1 (make test), when it fails.
func TestAgainstTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("torch.optim trajectories (a Python start per case set): not in -short; the float64 reference tests of every optimizer still run")
	}
	py := testutil.RequireTorch(t)
	r := rand.New(rand.NewPCG(5, 6))
	shapes := [][]int{{3, 4}, {5}}
	var cases []*torchCase
	for _, c := range optCases() {
		if c.kind == KindLARS || c.kind == KindLAMB {
			continue // not in torch.optim
		}
		tc := &torchCase{Name: c.name, Kind: c.kind.String(), Shapes: shapes, k: c.kind}
		opt := New(c.kind, []*autograd.Var{autograd.Param(tensor.Zeros(tensor.Float64, 1))}, c.o)
		o := opt.Groups()[0].Options
		tc.opt = o
		tc.Opts = map[string]any{"lr": o.LR, "momentum": o.Momentum, "dampening": o.Dampening,
			"weight_decay": o.WeightDecay, "nesterov": o.Nesterov, "beta1": o.Beta1, "beta2": o.Beta2,
			"eps": o.Eps, "alpha": o.Alpha, "centered": o.Centered}
		for _, sh := range shapes {
			tc.Params = append(tc.Params, randSlice(r, tensor.Shape(sh).NumElements()))
		}
		for range 5 {
			var step [][]float64
			for _, sh := range shapes {
				step = append(step, randSlice(r, tensor.Shape(sh).NumElements()))
			}
			tc.Grads = append(tc.Grads, step)
		}
		cases = append(cases, tc)
	}
	scheds := []*torchSched{
		{Name: "step", Type: "step", Args: map[string]any{"step_size": 3, "gamma": 0.5}, Steps: 10, Base: 0.1,
			s: StepDecay{StepSize: 3, Gamma: 0.5}},
		{Name: "cosine", Type: "cosine", Args: map[string]any{"steps": 12, "min_lr": 0.01}, Steps: 12, Base: 0.1,
			s: Cosine{Steps: 12, MinLR: 0.01}},
		{Name: "warmup_cosine", Type: "warmup_cosine", Args: map[string]any{"warmup": 4, "start_factor": 0.25, "steps": 10, "min_lr": 0.001},
			Steps: 14, Base: 0.2, s: Warmup{Steps: 4, StartFactor: 0.25, Then: Cosine{Steps: 10, MinLR: 0.001}}},
		{Name: "onecycle", Type: "onecycle", Args: map[string]any{"steps": 20, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4, "linear": false},
			Steps: 20, Base: 1, s: OneCycle{Steps: 20}},
		{Name: "onecycle_linear", Type: "onecycle", Args: map[string]any{"steps": 17, "pct_start": 0.25, "div_factor": 10.0, "final_div_factor": 100.0, "linear": true},
			Steps: 17, Base: 0.5, s: OneCycle{Steps: 17, PctStart: 0.25, DivFactor: 10, FinalDivFactor: 100, Linear: true}},
	}
	req, err := json.Marshal(map[string]any{"cases": cases, "schedules": scheds})
	require.NoError(t, err)
	cmd := exec.Command(py, "testdata/torch_optim.py")
	cmd.Stdin = bytes.NewReader(req)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	var res struct {
		Cases     map[string][][]float64
		Schedules map[string][]float64
	}
	require.NoError(t, json.Unmarshal(out, &res))

	for _, c := range cases {
		var ps []*autograd.Var
		for i, sh := range c.Shapes {
			ps = append(ps, autograd.Param(toTensor(c.Params[i], tensor.Float64, sh...)))
		}
		opt := New(c.k, ps, c.opt)
		for _, step := range c.Grads {
			for i, p := range ps {
				p.SetGrad(toTensor(step[i], tensor.Float64, c.Shapes[i]...))
			}
			require.NoError(t, opt.Step())
		}
		want := res.Cases[c.Name]
		require.Len(t, want, len(ps), c.Name)
		for i, p := range ps {
			got := p.Value().Float64s()
			for j := range got {
				require.InDelta(t, want[i][j], got[j], 1e-10*(1+math.Abs(want[i][j])), "%s param %d[%d]", c.Name, i, j)
			}
		}
	}
	for _, s := range scheds {
		want := res.Schedules[s.Name]
		require.Len(t, want, s.Steps, s.Name)
		for step, w := range want {
			require.InDelta(t, w, s.s.LR(step, s.Base), 1e-9*(1+w), "%s step %d", s.Name, step)
		}
	}
}
