package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestObjectivesMinima(t *testing.T) {
	assert.InDelta(t, 0.397887, branin(-math.Pi, 12.275), 1e-5)
	assert.InDelta(t, 0.397887, branin(9.42478, 2.475), 1e-5)
	assert.InDelta(t, -3.32237, hartmann6([6]float64{0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573}), 1e-5)
	assert.Equal(t, 0.0, mixed(1, 0.01, "b"))
	assert.Equal(t, 1.0, mixed(1, 0.01, "a"))
}

// A tiny run of the bench prints its table and JSON lines with the fields
// the issue asks for; regret is never negative.
func TestTinyRun(t *testing.T) {
	var table, js bytes.Buffer
	cfg := &config{seeds: 2, sqliteSeeds: 1, trials: []int{5, 15}, objectives: []string{"branin", "mixed"},
		samplers: []string{"tpe", "random"}, storages: []string{"memory", "sqlite"}, asJSON: true, out: &table}
	require.NoError(t, run(context.Background(), cfg, &js))
	assert.Contains(t, table.String(), "regret@15")
	lines := strings.Split(strings.TrimSpace(js.String()), "\n")
	require.Len(t, lines, 2*2*2*2)
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		for _, k := range []string{"objective", "sampler", "storage", "trials", "seeds", "regret_median", "ms_per_trial"} {
			assert.Contains(t, m, k)
		}
		assert.GreaterOrEqual(t, m["regret_median"].(float64), 0.0)
		assert.Positive(t, m["ms_per_trial"].(float64))
	}
}

// With Optuna installed, the side-by-side run works on a tiny budget.
func TestTinyRunWithOptuna(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import optuna").Run(); err != nil {
		t.Skip("SKIP: /usr/bin/python3 with optuna (Debian python3-optuna) not available")
	}
	var table, js bytes.Buffer
	cfg := &config{seeds: 1, sqliteSeeds: 1, trials: []int{12}, objectives: []string{"mixed"},
		samplers: []string{"tpe"}, storages: []string{"memory"}, optuna: true, python: "/usr/bin/python3", asJSON: true, out: &table}
	require.NoError(t, run(context.Background(), cfg, &js))
	assert.Contains(t, table.String(), "ratio")
	assert.Contains(t, js.String(), `"impl":"optuna"`)
}

// The bootstrap interval of a ratio of medians brackets the true ratio.
func TestRatioCI(t *testing.T) {
	var a, b []float64
	for i := range 30 {
		v := math.Exp(float64(i%10) / 3)
		a, b = append(a, 2*v), append(b, v)
	}
	lo, hi := ratioCI(a, b)
	assert.LessOrEqual(t, lo, 2.0)
	assert.GreaterOrEqual(t, hi, 2.0)
	assert.Less(t, lo, hi)
	lo, hi = ratioCI(b, b)
	assert.LessOrEqual(t, lo, 1.0)
	assert.GreaterOrEqual(t, hi, 1.0)
}
