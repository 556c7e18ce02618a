package profiler_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/profiler"
)

func TestChromeTraceOneTrackPerRank(t *testing.T) {
	t0 := time.Now()
	recs := []*profiler.Recorder{profiler.New(0), profiler.New(1)}
	for r, rec := range recs {
		base := t0.Add(time.Duration(r) * time.Millisecond)
		rec.Add(profiler.Span{Name: "forward", Lane: profiler.Compute, Start: base, End: base.Add(2 * time.Millisecond)})
		rec.Add(profiler.Span{Name: "allreduce bucket 0", Lane: profiler.Comm, Start: base.Add(time.Millisecond), End: base.Add(3 * time.Millisecond), Args: map[string]any{"bytes": 64}})
	}
	recs[1].Add(profiler.Span{Name: "optimizer", Start: t0.Add(5 * time.Millisecond), End: t0.Add(6 * time.Millisecond)})
	var buf bytes.Buffer
	require.NoError(t, profiler.WriteChrome(&buf, recs...))
	var tr struct {
		TraceEvents []map[string]any `json:"traceEvents"`
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &tr))
	var spans []map[string]any
	names := map[float64]string{}
	for _, e := range tr.TraceEvents {
		switch e["ph"] {
		case "X":
			spans = append(spans, e)
		case "M":
			if e["name"] == "process_name" {
				names[e["pid"].(float64)] = e["args"].(map[string]any)["name"].(string)
			}
		}
	}
	assert.Equal(t, map[float64]string{0: "rank 0", 1: "rank 1"}, names)
	require.Len(t, spans, 5)
	assert.Equal(t, "forward", spans[0]["name"])
	assert.InDelta(t, 0, spans[0]["ts"], 1e-9)
	assert.InDelta(t, 2000, spans[0]["dur"], 1e-6)
	assert.Equal(t, float64(1), spans[1]["tid"], "comm lane")
	assert.InDelta(t, 1000, spans[1]["ts"], 1e-6)
	assert.Equal(t, float64(64), spans[1]["args"].(map[string]any)["bytes"])
	assert.Equal(t, float64(1), spans[2]["pid"])
	assert.InDelta(t, 1000, spans[2]["ts"], 1e-6)

	// Merge joins per-rank files.
	var a, b, m bytes.Buffer
	require.NoError(t, recs[0].WriteChrome(&a))
	require.NoError(t, recs[1].WriteChrome(&b))
	require.NoError(t, profiler.Merge(&m, &a, &b))
	require.NoError(t, json.Unmarshal(m.Bytes(), &tr))
	assert.Len(t, tr.TraceEvents, len(spans)+8)
}

func TestNilRecorderIsANoOp(t *testing.T) {
	var r *profiler.Recorder
	r.Begin("x", profiler.Compute)()
	r.Add(profiler.Span{Name: "y"})
	assert.Empty(t, r.Spans())
	rec := profiler.New(3)
	before := time.Now()
	end := rec.Begin("step", profiler.Compute)
	time.Sleep(2 * time.Millisecond)
	end()
	sp := rec.Spans()
	require.Len(t, sp, 1)
	assert.False(t, sp[0].Start.Before(before))
	assert.GreaterOrEqual(t, sp[0].End.Sub(sp[0].Start), 2*time.Millisecond)
}
