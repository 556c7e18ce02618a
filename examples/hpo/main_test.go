package main

import (
	"context"
	"encoding/csv"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/automl/hpo"
)

// A tiny study runs on two workers with ASHA, finds a configuration that
// learns the digits, and writes readable PNGs and a CSV row per trial.
func TestTinyStudy(t *testing.T) {
	out := t.TempDir()
	cfg := Config{Trials: 6, MaxEpochs: 3, Workers: 2, Seed: 1, Storage: "sqlite:" + filepath.Join(out, "study.db"), Study: "t", Out: out}
	sum, trials, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 6, sum.Trials)
	assert.Equal(t, 6, sum.Complete+sum.Pruned)
	assert.Greater(t, sum.BestAccuracy, 0.8)
	assert.Len(t, sum.BestParams, 5)
	for _, x := range trials {
		assert.Contains(t, []hpo.TrialState{hpo.Complete, hpo.Pruned}, x.State, x.Err)
	}
	assert.Greater(t, sum.Epochs, 6)
	assert.LessOrEqual(t, sum.Epochs, 6*3)
	for _, name := range []string{"history.png", "intermediate.png", "slice.png"} {
		f, err := os.Open(filepath.Join(out, name))
		require.NoError(t, err)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err, name)
		assert.Greater(t, img.Bounds().Dx(), 300)
	}
	f, err := os.Open(filepath.Join(out, "trials.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	assert.Len(t, rows, 1+6)
	assert.Equal(t, []string{"number", "state", "value", "epochs", "seconds", "lr", "width", "depth", "batch", "weight_decay", "error"}, rows[0])
	// The study is durable: running it again with the same budget resumes
	// and adds nothing.
	sum2, _, err := Run(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, 6, sum2.Trials)
	assert.Equal(t, 0, sum2.Epochs)
}
