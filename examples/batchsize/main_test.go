package main

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFitCritical(t *testing.T) {
	// S = 40 + 4000/B exactly: S_min 40, E_min 4000, B_crit 100.
	bs := []int{16, 64, 256, 1024}
	var steps []int
	for _, b := range bs {
		steps = append(steps, int(math.Round(40+4000/float64(b))))
	}
	sMin, eMin, bc, ok := fitCritical(bs, steps)
	require.True(t, ok)
	assert.InDelta(t, 40, sMin, 1)
	assert.InDelta(t, 4000, eMin, 20)
	assert.InDelta(t, 100, bc, 3)
	_, _, _, ok = fitCritical(bs[:2], steps[:2])
	assert.False(t, ok, "two points do not determine a fit worth reporting")
}

// The test preset end to end: both batch sizes reach the target, the larger
// in fewer steps, and the files and figures are written.
func TestQuickRun(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run1(presets["test"], 1, 0.92, 0.8, 1, false, true, dir, &out, &out))
	t.Log(out.String())
	f, err := os.Open(filepath.Join(dir, "runs.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1+4)
	best := map[string]int{}
	for _, r := range rows[1:] {
		s, err := strconv.Atoi(r[6])
		require.NoError(t, err)
		if s > 0 && (best[r[2]] == 0 || s < best[r[2]]) {
			best[r[2]] = s
		}
	}
	require.Positive(t, best["32"], "batch 32 reaches 92%%")
	require.Positive(t, best["256"], "batch 256 reaches 92%%")
	assert.Less(t, best["256"], best["32"], "8x the batch takes fewer steps")
	for _, name := range []string{"noise.csv", "summary.md", "digits_steps.png", "digits_lr.png", "digits_time.png", "noise_scale.png"} {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err, name)
		assert.Positive(t, st.Size(), name)
	}
	assert.Contains(t, out.String(), "| digits | sgd | 256 |")
}

// B_simple from 2 data-parallel ranks (per-rank and averaged gradients):
// finite and positive once training is under way, and the loss falls.
func TestNoiseDDP(t *testing.T) {
	pts, err := noiseDDP(digitsTask(0.9), 2, 16, 40, 20, 1)
	require.NoError(t, err)
	require.Len(t, pts, 2)
	for _, p := range pts {
		assert.Equal(t, "digits/ddp", p.Task)
		assert.False(t, math.IsNaN(p.BSimple), "step %d", p.Step)
		assert.Positive(t, p.BSimple, "step %d", p.Step)
	}
	assert.Less(t, pts[1].Loss, pts[0].Loss)
	assert.Less(t, pts[0].Loss, 2.3, "below the untrained loss ln 10")
}
