package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDeterministic: two runs with the same seed give identical losses
// (bit for bit), another seed different ones.
func TestDeterministic(t *testing.T) {
	cfg := defaults
	cfg.Epochs = 3
	var out bytes.Buffer
	cfg.Progress = &out
	a, err := Train(cfg)
	require.NoError(t, err)
	cfg.Progress = nil
	b, err := Train(cfg)
	require.NoError(t, err)
	require.Len(t, a.EpochLoss, 3)
	require.Equal(t, a.EpochLoss, b.EpochLoss)
	require.Equal(t, a.EpochAccuracy, b.EpochAccuracy)
	require.Equal(t, a.TestAccuracy, b.TestAccuracy)
	require.Equal(t, 3*23, a.Steps) // ceil(1437/64) batches per epoch
	cfg.Seed = 2
	c, err := Train(cfg)
	require.NoError(t, err)
	require.NotEqual(t, a.EpochLoss, c.EpochLoss)
	// One progress line per epoch, updated with \r.
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	require.Len(t, lines, 3)
	for _, l := range lines {
		require.Contains(t, l, "\repoch")
		require.Contains(t, l, "samples/s")
		require.Contains(t, l, "ETA")
	}
}

// TestAccuracy: the default configuration reaches the 0.97 of `make demo`.
func TestAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	res, err := Train(defaults)
	require.NoError(t, err)
	require.GreaterOrEqual(t, res.TestAccuracy, 0.97)
	require.Equal(t, defaults.Epochs, len(res.EpochLoss))
}

func TestBadConfig(t *testing.T) {
	cfg := defaults
	cfg.Batch = 0
	_, err := Train(cfg)
	require.Error(t, err)
	cfg = defaults
	cfg.Device = "nosuchdevice"
	_, err = Train(cfg)
	require.Error(t, err)
}
