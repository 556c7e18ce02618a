package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var lossRE = regexp.MustCompile(`loss (\S+)`)

// printedLosses runs the quickstart training with cfg and returns, per
// epoch, the loss printed on the epoch's progress line (its last \r update),
// and the run's result losses.
func printedLosses(t *testing.T, cfg Config) ([]string, []float64) {
	t.Helper()
	var out bytes.Buffer
	cfg.Progress = &out
	res, err := Train(cfg)
	require.NoError(t, err)
	var losses []string
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		parts := strings.Split(line, "\r")
		m := lossRE.FindStringSubmatch(parts[len(parts)-1])
		require.NotNil(t, m, "no loss on progress line %q", line)
		losses = append(losses, m[1])
	}
	return losses, res.EpochLoss
}

// TestPrintedLossesReproducible: what `make demo` prints is reproducible.
// Two in-process runs with the same seed print the same per-epoch losses
// (and return the same float64 losses bit for bit); the printed loss is the
// returned epoch loss; a different seed prints different losses.
func TestPrintedLossesReproducible(t *testing.T) {
	cfg := defaults
	cfg.Epochs = 2
	a, ar := printedLosses(t, cfg)
	b, br := printedLosses(t, cfg)
	require.Len(t, a, cfg.Epochs)
	require.Equal(t, a, b, "same seed, same printed losses")
	require.Equal(t, ar, br)
	for i, l := range ar {
		require.Equal(t, fmt.Sprintf("%.4f", l), a[i], "epoch %d: printed loss is the epoch's mean loss", i)
	}
	cfg.Seed = 7
	c, cr := printedLosses(t, cfg)
	require.NotEqual(t, ar, cr, "another seed, other losses")
	require.NotEqual(t, a, c, "another seed prints other losses")
}
