package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/nn"
)

func tiny() Config {
	return Config{DP: 1, PP: 1, TP: 1, Schedule: "1f1b", Micro: 2, Steps: 6, Batch: 4, LR: 3e-3, Clip: 0.5, Seed: 3, Sample: 24, EvalBatches: 1,
		Model: nn.GPTConfig{Vocab: 256, Context: 16, Embed: 32, Heads: 4, Layers: 2}}
}

// TestGridMatchesSingleProcess: on a 2 x 2 grid (pipeline 2, tensor 2)
// and on data 2 x tensor 2 with sequence parallelism, every step's loss
// equals single-process training's (float32, 1e-4), and so do the
// validation loss and the sampled text (the model is reassembled).
func TestGridMatchesSingleProcess(t *testing.T) {
	one, err := Train(tiny())
	require.NoError(t, err)
	require.Len(t, one.Losses, 6)
	assert.Less(t, one.Losses[5], one.Losses[0], "the loss falls")
	assert.True(t, strings.HasPrefix(one.Sample, "MENENIUS:\n"))
	grids := []Config{tiny(), tiny()}
	grids[0].PP, grids[0].TP = 2, 2
	grids[1].DP, grids[1].TP, grids[1].SequenceParallel, grids[1].Schedule = 2, 2, true, "gpipe"
	if testing.Short() {
		grids = grids[:1]
	}
	for _, cfg := range grids {
		var out bytes.Buffer
		cfg.Progress = &out
		res, err := Train(cfg)
		require.NoError(t, err)
		assert.InDeltaSlice(t, one.Losses, res.Losses, 1e-4, res.Grid)
		assert.InDelta(t, one.ValLoss, res.ValLoss, 1e-4, res.Grid)
		assert.Equal(t, one.Sample, res.Sample, res.Grid)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		assert.Len(t, lines, cfg.Steps, "one progress line per step, from rank 0 only")
		assert.Contains(t, lines[0], "tok/s")
	}
}

func TestRejectsBadGrid(t *testing.T) {
	cfg := tiny()
	cfg.DP, cfg.Batch = 3, 4
	_, err := Train(cfg)
	require.Error(t, err)
}
