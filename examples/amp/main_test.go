package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every 16-bit mode trains to the float32 run's loss and accuracy within a
// small margin (3 epochs of a narrower MLP to keep the test fast), with
// the model-state bytes of its arrangement as the memory accounting
// measures them: 4+4+8 bytes per parameter for float32 parameters with
// Adam, 2+2+12 with master weights.
func TestModesMatchFloat32(t *testing.T) {
	cfg := defaults
	cfg.Epochs, cfg.Hidden = 3, 128
	var out bytes.Buffer
	cfg.Progress = &out
	ref, err := Train("fp32", cfg)
	require.NoError(t, err)
	require.Greater(t, ref.TestAccuracy, 0.8)
	assert.Greater(t, ref.FP16Subnormal, ref.FP16Underflow, "float16's subnormal range contains its flush-to-zero range")
	assert.Less(t, ref.FP16Subnormal, 1.0)
	for _, m := range allModes[1:] {
		r, err := Train(m, cfg)
		require.NoError(t, err, m)
		assert.InDelta(t, ref.TestAccuracy, r.TestAccuracy, 0.02, m)
		assert.InDelta(t, ref.FinalLoss, r.FinalLoss, 0.02*ref.FinalLoss, m)
		assert.NotEqual(t, ref.FinalLoss, r.FinalLoss, "%s computes in 16 bits", m)
		assert.Equal(t, ref.Steps, r.Steps)
		psi := int64(r.Params)
		assert.Equal(t, 16*psi, r.PeakModelStateBytes, "%s: 16 bytes of model state per parameter either way", m)
		if strings.HasSuffix(m, "-master") {
			assert.Equal(t, []int64{2 * psi, 2 * psi, 12 * psi}, []int64{r.ParamBytes, r.GradBytes, r.OptimizerBytes}, m)
		} else {
			assert.Equal(t, []int64{4 * psi, 4 * psi, 8 * psi}, []int64{r.ParamBytes, r.GradBytes, r.OptimizerBytes}, m)
		}
		if strings.HasPrefix(m, "fp16") {
			assert.Equal(t, 65536.0, r.LossScale, "%s: no overflow at this scale, no growth within 2000 steps", m)
		}
	}
	assert.Equal(t, 3*len(allModes), strings.Count(out.String(), "epoch "), "one progress line per epoch and mode")

	b, err := json.Marshal(ref)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(b, &fields))
	for _, k := range []string{"mode", "test_accuracy", "final_loss", "seconds", "steps", "skipped_steps", "loss_scale", "params", "param_bytes", "grad_bytes", "optimizer_bytes", "peak_model_state_bytes"} {
		assert.Contains(t, fields, k)
	}
	assert.False(t, math.IsNaN(ref.FinalLoss))

	_, err = Train("fp8", cfg)
	assert.Error(t, err)
}

// With the loss weighted by 1e-5 the float16 gradients underflow: without
// loss scaling training stalls (the loss stays near ln 10), with the
// scaler it follows float32, with or without master weights.
func TestLossScalingPreventsUnderflow(t *testing.T) {
	cfg := defaults
	cfg.Epochs, cfg.Hidden, cfg.LossWeight = 3, 128, 1e-5
	ref, err := Train("fp32", cfg)
	require.NoError(t, err)
	assert.Greater(t, ref.FP16Underflow, 0.5, "most gradient entries are below float16's smallest subnormal")
	for _, m := range []string{"fp16", "fp16-master"} {
		r, err := Train(m, cfg)
		require.NoError(t, err)
		assert.InDelta(t, ref.FinalLoss, r.FinalLoss, 0.02*ref.FinalLoss, m)
		assert.InDelta(t, ref.TestAccuracy, r.TestAccuracy, 0.02, m)
	}
	for _, m := range []string{"fp16-noscale", "fp16-master-noscale"} {
		r, err := Train(m, cfg)
		require.NoError(t, err)
		assert.Greater(t, r.FinalLoss, 1.3*ref.FinalLoss, "%s: underflowed gradients stall training", m)
		assert.Less(t, r.TestAccuracy, ref.TestAccuracy-0.2, m)
	}
}
