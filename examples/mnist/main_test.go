package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/checkpoint"
	"github.com/tessera-ml/tessera/examples/internal/idxtrain"
)

// TestTrain trains on small generated IDX files (gzip and raw) and checks
// that resuming from the per-epoch checkpoint continues exactly where an
// uninterrupted run would be.
func TestTrain(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, idxtrain.WriteSynthetic(dir, 512, 128, 28, 28, 1))
	cfg := defaults
	cfg.Data, cfg.Epochs, cfg.Batch = dir, 2, 64
	full, err := idxtrain.Train(model, cfg)
	require.NoError(t, err)
	require.Equal(t, 512, full.Train)
	require.Equal(t, 128, full.Test)
	require.Equal(t, 16, full.Steps)
	require.Greater(t, full.TestAccuracy, 0.8, "the synthetic classes are easy")

	cfg.Checkpoint = filepath.Join(dir, "mlp.safetensors")
	cfg.Epochs = 1
	first, err := idxtrain.Train(model, cfg)
	require.NoError(t, err)
	require.False(t, first.Resumed)
	cfg.Epochs = 2
	second, err := idxtrain.Train(model, cfg)
	require.NoError(t, err)
	require.True(t, second.Resumed)
	require.Equal(t, 8, second.Steps)
	require.Equal(t, full.EpochLoss[1], second.EpochLoss[0], "resumed epoch 2 equals the uninterrupted one")
	require.Equal(t, full.TestAccuracy, second.TestAccuracy)
	c, err := checkpoint.Load(cfg.Checkpoint)
	require.NoError(t, err)
	require.Equal(t, checkpoint.Meta{Step: 16, Epoch: 2, Extra: map[string]string{"model": "mnist"}}, c.Meta)
	require.Equal(t, "Adam", c.OptimKind)

	cfg.Data = filepath.Join(dir, "missing")
	_, err = idxtrain.Train(model, cfg)
	require.Error(t, err)
}
