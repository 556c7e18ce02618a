package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTinyPresetJSONAndPNGs(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	require.NoError(t, mainErr(presets["tiny"], true, dir, &out, &errOut))
	seen := map[string]map[int]bool{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var p map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &p), sc.Text())
		for _, k := range []string{"method", "steps", "mse"} {
			require.Contains(t, p, k)
		}
		m, s, mse := p["method"].(string), int(p["steps"].(float64)), p["mse"].(float64)
		assert.False(t, math.IsNaN(mse) || math.IsInf(mse, 0) || mse <= 0, "%s %d: %g", m, s, mse)
		if seen[m] == nil {
			seen[m] = map[int]bool{}
		}
		seen[m][s] = true
	}
	require.Len(t, seen, 4)
	for _, m := range methods {
		assert.Len(t, seen[m], 11, m)
	}
	assert.Contains(t, errOut.String(), "maml ")
	for _, name := range []string{"maml_curves.png", "maml_fits.png"} {
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		img, err := png.Decode(f)
		f.Close()
		require.NoError(t, err, name)
		assert.Greater(t, img.Bounds().Dx(), 300)
	}
}

func TestTableOutput(t *testing.T) {
	cfg := presets["tiny"]
	cfg.Iters = 1
	var out, errOut bytes.Buffer
	require.NoError(t, mainErr(cfg, false, "", &out, &errOut))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2+cfg.EvalSteps+1+1)
	for _, m := range methods {
		assert.Contains(t, lines[1], m)
	}
}
