package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tinyGrid is a seconds-long preset: n=5, f=1, two rules, two attacks,
// IID and Dirichlet 0.5, 40 steps of a 16-wide MLP.
func tinyGrid() Grid {
	g := quick()
	g.N = 5
	g.Rules = []string{"mean", "median", "bulyan"}
	g.Attacks = []string{"ipm", "alie"}
	g.Fs = []int{1}
	g.Splits = []float64{0, 0.5}
	g.Eps = 20
	g.Train.Hidden, g.Train.Steps, g.Train.Batch = 16, 40, 16
	return g
}

func TestTinyGrid(t *testing.T) {
	g := tinyGrid()
	var progress bytes.Buffer
	var lines []string
	rows, err := Run(context.Background(), g, &progress, func(r Row) {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		lines = append(lines, string(b))
	})
	require.NoError(t, err)
	// per split and rule: one clean run and one per attack
	require.Len(t, rows, 2*3*3)
	require.Len(t, lines, len(rows))
	assert.Equal(t, len(rows), strings.Count(progress.String(), "\n"))
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		for _, k := range []string{"rule", "attack", "n", "f", "iid", "seed", "accuracy", "clean_accuracy"} {
			assert.Contains(t, m, k, l)
		}
	}
	for _, r := range rows {
		require.NotNil(t, r.CleanAccuracy)
		switch {
		case r.Rule == "bulyan" && r.F == 1: // n=5 < 4f+3
			assert.Nil(t, r.Accuracy)
			assert.Contains(t, r.Error, "n ≥ 4f+3")
		default:
			require.NotNil(t, r.Accuracy, "%+v", r)
		}
		if r.Attack == "alie" {
			require.NotNil(t, r.ALIEZ)
			assert.Equal(t, 1.5, *r.ALIEZ)
		}
	}
	// IPM with ε=20 reverses the mean: worse than the clean run
	ipm := cell(rows, "mean", "ipm", 1, 0)
	clean := cell(rows, "mean", "none", 0, 0)
	assert.Less(t, ipm, clean-0.1)

	md := Markdown(g, rows)
	assert.Contains(t, md, "**IID, n = 5, f = 1**")
	assert.Contains(t, md, "**Dirichlet 0.5, n = 5, f = 1**")
	assert.Contains(t, md, "| ipm (ε = 20) | alie (z = 1.5) |")
	assert.Contains(t, md, "| bulyan |")
	assert.Contains(t, md, "—")

	dir := t.TempDir()
	require.NoError(t, writeFigures(dir, g, rows))
	require.NoError(t, writeCSV(filepath.Join(dir, "r.csv"), rows))
	for _, f := range []string{"heatmap-iid-f1.png", "curves-iid-f1.png", "heatmap-dir0p5-f1.png", "curves-dir0p5-f1.png"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err, f)
		assert.True(t, bytes.HasPrefix(b, []byte("\x89PNG")), f)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "r.csv"))
	require.NoError(t, err)
	assert.Equal(t, len(rows)+1, strings.Count(string(csv), "\n"))
}

// TestALIEFormula: with -alie-z formula the label shows the paper's z
// (0 at n = 10, f = 2).
func TestALIEFormula(t *testing.T) {
	g := quick()
	g.ALIEZ = nan()
	assert.Equal(t, "alie (z = 0, formula)", attackLabel(g, "alie", 2))
}
