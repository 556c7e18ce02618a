package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTinyPreset(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	require.NoError(t, mainErr(presets["tiny"], true, dir, &out, &errOut))
	var got []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), sc.Text())
		for _, k := range []string{"method", "accuracy", "params", "search_seconds"} {
			require.Contains(t, r, k)
		}
		acc := r["accuracy"].(float64)
		assert.True(t, acc >= 0 && acc <= 1)
		assert.Greater(t, r["params"].(float64), 0.0)
		got = append(got, r["method"].(string))
	}
	assert.Equal(t, []string{"darts-1st", "darts-2nd", "evolution", "random"}, got)
	for _, name := range []string{"nas_search.png", "nas_cell.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		_, err = png.Decode(f)
		f.Close()
		require.NoError(t, err, name)
	}
	dot, err := os.ReadFile(filepath.Join(dir, "nas_cell_darts-2nd.dot"))
	require.NoError(t, err)
	assert.Contains(t, string(dot), "digraph cell")
}
