package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestJSONRows: a tiny sweep prints one JSON row per configuration with
// the fields bench/RESULTS.md and the module page use, the formula and
// simulated bubbles agree, the peaks are the schedules' (GPipe m, 1F1B at
// most p), and the timeline PNGs are written.
func TestJSONRows(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	require.NoError(t, run([]string{"-p", "2", "-m", "1,3,4", "-fwd", "1ms", "-steps", "1", "-json",
		"-png", dir, "-png-p", "2", "-png-m", "4"}, &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3+3+1) // interleaved only where m is a multiple of p (4)
	for _, l := range lines {
		var raw map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &raw))
		for _, k := range []string{"schedule", "p", "m", "v", "bubble_measured", "bubble_formula", "peak_activations"} {
			assert.Contains(t, raw, k)
		}
		var r Row
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		assert.InDelta(t, float64(r.P-1)/float64(r.V*r.M+r.P-1), r.BubbleFormula, 1e-12)
		assert.InDelta(t, r.BubbleFormula, r.BubbleSimulated, 1e-9)
		assert.GreaterOrEqual(t, r.BubbleMeasured, 0.0)
		assert.Less(t, r.BubbleMeasured, 1.0)
		// A forward holds its stage for fwd/v at least, a backward 2·fwd/v.
		assert.GreaterOrEqual(t, r.FwdActMs, 1/float64(r.V), "%+v", r)
		assert.GreaterOrEqual(t, r.BwdActMs, 2/float64(r.V), "%+v", r)
		switch r.Schedule {
		case "gpipe":
			assert.Equal(t, float64(r.M), r.PeakActivations)
		case "1f1b":
			assert.LessOrEqual(t, r.PeakActivations, float64(min(r.P, r.M)))
		}
	}
	for _, s := range []string{"gpipe", "1f1b", "interleaved"} {
		st, err := os.Stat(filepath.Join(dir, "timeline-"+s+"-p2-m4.png"))
		require.NoError(t, err)
		assert.Positive(t, st.Size())
	}
	rows := filepath.Join(dir, "rows.json")
	require.NoError(t, os.WriteFile(rows, out.Bytes(), 0o644))
	out.Reset()
	require.NoError(t, run([]string{"-plot", rows, "-png", dir}, &out))
	st, err := os.Stat(filepath.Join(dir, "bubble.png"))
	require.NoError(t, err)
	assert.Positive(t, st.Size())
	assert.Error(t, run([]string{"-work", "nap"}, &out))

	// -work compute: the arithmetic alone sets the action times.
	out.Reset()
	require.NoError(t, run([]string{"-work", "compute", "-p", "2", "-m", "2", "-steps", "1", "-width", "32", "-json", "-schedules", "1f1b"}, &out))
	var r Row
	require.NoError(t, json.Unmarshal(out.Bytes(), &r))
	assert.Equal(t, "compute", r.Work)
	assert.Positive(t, r.FwdActMs)
	assert.Less(t, r.FwdActMs, 20.0, "a 32-wide layer on 16 rows takes far less than the wait mode's 20 ms")
	assert.Error(t, run([]string{"-m", "3-1"}, &out))

	// -sim: any (p, m, v) without a model.
	out.Reset()
	require.NoError(t, run([]string{"-sim", "-p", "4", "-m", "8", "-v", "4", "-schedules", "1f1b,interleaved", "-json", "-png", dir}, &out))
	var sims []Row
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r Row
		require.NoError(t, json.Unmarshal([]byte(l), &r))
		sims = append(sims, r)
	}
	require.Len(t, sims, 2)
	assert.InDelta(t, 3.0/11, sims[0].BubbleSimulated, 1e-12)
	assert.Equal(t, []int{4, 3, 2, 1}, sims[0].PeakPerRank)
	assert.InDelta(t, 3.0/35, sims[1].BubbleSimulated, 1e-12)
	_, err = os.Stat(filepath.Join(dir, "sim-interleaved-p4-m8-v4.png"))
	require.NoError(t, err)
}
