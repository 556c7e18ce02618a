package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/safetensors"
)

// The layout of a safetensors file, from the published description
// (huggingface/safetensors README, "Format"):
//
//   - 8 bytes: N, an unsigned little-endian 64-bit integer, the header size;
//   - N bytes: a UTF-8 JSON object {name: {"dtype", "shape", "data_offsets"}}
//     with an optional "__metadata__" string-to-string map; it may be padded
//     with trailing spaces (0x20), and writers pad it so the data starts at a
//     multiple of 8 bytes;
//   - the data buffer: little-endian, row-major tensors at [begin, end)
//     offsets relative to the buffer's start, contiguous, covering it.
//
// The readers below are written from that description alone: one in Go
// (always run) with encoding/binary and encoding/json, and one in Python
// (testdata/independent_reader.py: json, struct and numpy only; Hugging
// Face's safetensors package is not available offline, so it is not used).

// indepTensor is what an independent reader reports of one tensor: dtype,
// shape, and the bit pattern of every element (little-endian, widened).
type indepTensor struct {
	DType string   `json:"dtype"`
	Shape []int    `json:"shape"`
	Bits  []uint64 `json:"bits"`
}

type indepFile struct {
	HeaderLen uint64                 `json:"header_len"`
	Metadata  map[string]string      `json:"metadata"`
	Tensors   map[string]indepTensor `json:"tensors"`
}

var indepWidth = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}

// readIndependent parses b by the published format, checking its rules.
func readIndependent(b []byte) (*indepFile, error) {
	if len(b) < 8 {
		return nil, errors.New("shorter than the header length")
	}
	n := binary.LittleEndian.Uint64(b[:8])
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("header length %d beyond the file", n)
	}
	if (8+n)%8 != 0 {
		return nil, fmt.Errorf("data not 8-byte aligned (header length %d)", n)
	}
	raw := b[8 : 8+n]
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("header does not start with an object: %v %v", tok, err)
	}
	out := &indepFile{HeaderLen: n, Metadata: map[string]string{}, Tensors: map[string]indepTensor{}}
	type entry struct {
		DType       string   `json:"dtype"`
		Shape       []int    `json:"shape"`
		DataOffsets []uint64 `json:"data_offsets"`
	}
	entries := map[string]entry{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string)
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, err
		}
		if key == "__metadata__" {
			if err := json.Unmarshal(val, &out.Metadata); err != nil {
				return nil, fmt.Errorf("__metadata__: %w", err)
			}
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(val, &fields); err != nil {
			return nil, err
		}
		if len(fields) != 3 || fields["dtype"] == nil || fields["shape"] == nil || fields["data_offsets"] == nil {
			return nil, fmt.Errorf("%s: fields %s, want dtype, shape, data_offsets", key, val)
		}
		var e entry
		if err := json.Unmarshal(val, &e); err != nil {
			return nil, err
		}
		entries[key] = e
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, fmt.Errorf("header object not closed: %v %v", tok, err)
	}
	for _, c := range raw[dec.InputOffset():] {
		if c != ' ' {
			return nil, fmt.Errorf("header padded with %q, want spaces", c)
		}
	}
	buf := b[8+n:]
	covered := make([]int, len(buf))
	for name, e := range entries {
		w, ok := indepWidth[e.DType]
		if !ok {
			return nil, fmt.Errorf("%s: dtype %q", name, e.DType)
		}
		count := 1
		for _, d := range e.Shape {
			count *= d
		}
		if len(e.DataOffsets) != 2 || e.DataOffsets[0] > e.DataOffsets[1] || e.DataOffsets[1] > uint64(len(buf)) ||
			e.DataOffsets[1]-e.DataOffsets[0] != uint64(count*w) {
			return nil, fmt.Errorf("%s: data_offsets %v for %d elements of %d bytes", name, e.DataOffsets, count, w)
		}
		if (8+n+e.DataOffsets[0])%uint64(w) != 0 {
			return nil, fmt.Errorf("%s: data at file offset %d not aligned to %d bytes", name, 8+n+e.DataOffsets[0], w)
		}
		t := indepTensor{DType: e.DType, Shape: e.Shape, Bits: []uint64{}}
		for p := e.DataOffsets[0]; p < e.DataOffsets[1]; p += uint64(w) {
			var v uint64
			for k := w - 1; k >= 0; k-- { // little-endian: the last byte is the most significant
				v = v<<8 | uint64(buf[p+uint64(k)])
			}
			if e.DType == "BOOL" && v > 1 {
				return nil, fmt.Errorf("%s: BOOL byte %d", name, v)
			}
			t.Bits = append(t.Bits, v)
			for k := range w {
				covered[p+uint64(k)]++
			}
		}
		out.Tensors[name] = t
	}
	for i, c := range covered {
		if c != 1 {
			return nil, fmt.Errorf("data byte %d belongs to %d tensors", i, c)
		}
	}
	return out, nil
}

// sample is a file's worth of tensors of every dtype Encode writes plus F16
// and BF16 bit patterns, 0-d and zero-size shapes, odd byte counts, and the
// bit patterns the readers must report.
func sample(t *testing.T) (map[string]safetensors.TensorInfo, map[string]indepTensor, map[string]string) {
	t.Helper()
	tensors := map[string]safetensors.TensorInfo{}
	want := map[string]indepTensor{}
	add := func(name string, info safetensors.TensorInfo, err error, bits []uint64) {
		require.NoError(t, err, name)
		tensors[name] = info
		want[name] = indepTensor{DType: info.DType, Shape: info.Shape, Bits: bits}
	}
	f64 := []float64{math.Pi, math.Copysign(0, -1), math.Inf(1), -1e-310, 1e300, -2.5}
	var b []uint64
	for _, v := range f64 {
		b = append(b, math.Float64bits(v))
	}
	info, err := safetensors.Encode(f64, 2, 3)
	add("layer.f64", info, err, b)
	f32 := []float32{1.5, -3.25e-3, float32(math.Inf(-1)), 7, 1e-40}
	b = nil
	for _, v := range f32 {
		b = append(b, uint64(math.Float32bits(v)))
	}
	info, err = safetensors.Encode(f32, 5)
	add("layer.f32", info, err, b)
	half := []uint16{0x3c00, 0xc000, 0x7bff, 0x0001}
	b = nil
	for _, v := range half {
		b = append(b, uint64(v))
	}
	info, err = safetensors.Encode(half, 2, 2)
	info.DType = "F16"
	add("h.f16", info, err, b)
	info, err = safetensors.Encode(half[:3], 3)
	info.DType = "BF16"
	add("h.bf16", info, err, b[:3])
	i64 := []int64{math.MinInt64, -1, 0x0102030405060708, 42}
	b = nil
	for _, v := range i64 {
		b = append(b, uint64(v))
	}
	info, err = safetensors.Encode(i64, 4)
	add("idx.i64", info, err, b)
	info, err = safetensors.Encode([]int32{-7})
	add("step.i32", info, err, []uint64{uint64(uint32(0xfffffff9))})
	info, err = safetensors.Encode([]int16{-2, 300, 5}, 3)
	add("a.i16", info, err, []uint64{0xfffe, 300, 5})
	info, err = safetensors.Encode([]uint8{1, 2, 255, 0, 9}, 5)
	add("a.u8", info, err, []uint64{1, 2, 255, 0, 9})
	info, err = safetensors.Encode([]int8{-128, 127, -1}, 3)
	add("a.i8", info, err, []uint64{0x80, 127, 0xff})
	info, err = safetensors.Encode([]bool{true, false, true}, 3)
	add("mask.bool", info, err, []uint64{1, 0, 1})
	info, err = safetensors.Encode([]uint64{math.MaxUint64}, 1)
	add("big.u64", info, err, []uint64{math.MaxUint64})
	info, err = safetensors.Encode([]float32{}, 0, 4)
	add("empty.f32", info, err, []uint64{})
	meta := map[string]string{"format": "pt", "note": "h\u00e9llo \"quoted\" \\ {}"}
	return tensors, want, meta
}

func checkIndependent(t *testing.T, got *indepFile, want map[string]indepTensor, meta map[string]string) {
	t.Helper()
	require.Equal(t, meta, got.Metadata)
	require.Len(t, got.Tensors, len(want))
	for name, w := range want {
		g, ok := got.Tensors[name]
		require.True(t, ok, name)
		require.Equal(t, w.DType, g.DType, name)
		require.Equal(t, fmt.Sprint(w.Shape), fmt.Sprint(g.Shape), name)
		require.Equal(t, w.Bits, g.Bits, "%s: element bits", name)
	}
}

// TestIndependentGoReader: a file written by Marshal and WriteFile is read
// by the Go reader written from the format description, with every element
// bit for bit.
func TestIndependentGoReader(t *testing.T) {
	tensors, want, meta := sample(t)
	b, err := safetensors.Marshal(tensors, meta)
	require.NoError(t, err)
	got, err := readIndependent(b)
	require.NoError(t, err)
	checkIndependent(t, got, want, meta)
	// WriteFile writes the same bytes.
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, safetensors.WriteFile(path, tensors, meta))
	fb, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, b, fb)
	// Without metadata there is no __metadata__ key.
	b, err = safetensors.Marshal(tensors, nil)
	require.NoError(t, err)
	got, err = readIndependent(b)
	require.NoError(t, err)
	require.NotContains(t, string(b[8:8+got.HeaderLen]), "__metadata__")
	checkIndependent(t, got, want, map[string]string{})
}

// TestIndependentReadersRejectBadLayouts shows the readers' checks can fail:
// padding with NUL bytes instead of spaces, a misaligned data start, a hole
// in the buffer, and a big-endian header length are all rejected.
func TestIndependentReadersRejectBadLayouts(t *testing.T) {
	tensors, _, meta := sample(t)
	good, err := safetensors.Marshal(tensors, meta)
	require.NoError(t, err)
	n := binary.LittleEndian.Uint64(good[:8])
	hdr := string(good[8 : 8+n])
	build := func(header string, buf []byte) []byte {
		out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
		return append(append(out, header...), buf...)
	}
	trimmed := bytes.TrimRight([]byte(hdr), " ")
	nulPad := string(trimmed) + string(make([]byte, len(hdr)-len(trimmed)))
	bad := map[string][]byte{
		"NUL padding":       build(nulPad, good[8+n:]),
		"misaligned":        build(string(trimmed)+"         ", good[8+n:]),
		"trailing bytes":    append(bytes.Clone(good), 0, 0, 0, 0, 0, 0, 0, 0),
		"big-endian length": append(binary.BigEndian.AppendUint64(nil, n), good[8:]...),
	}
	if len(trimmed)%8 == 7 { // keep "misaligned" misaligned
		bad["misaligned"] = build(string(trimmed)+"  ", good[8+n:])
	}
	py := pythonWithNumpy()
	dir := t.TempDir()
	for name, b := range bad {
		_, err := readIndependent(b)
		require.Error(t, err, "Go reader accepted: %s", name)
		if py != "" {
			path := filepath.Join(dir, "bad.safetensors")
			require.NoError(t, os.WriteFile(path, b, 0o644))
			out, err := exec.Command(py, "testdata/independent_reader.py", path).CombinedOutput()
			require.Error(t, err, "Python reader accepted %s: %s", name, out)
		}
	}
}

// pythonWithNumpy returns "/usr/bin/python3" when it exists and imports
// numpy, else "".
func pythonWithNumpy() string {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		return ""
	}
	if exec.Command(py, "-c", "import numpy").Run() != nil {
		return ""
	}
	return py
}

// TestIndependentPythonReader: the same file read by
// testdata/independent_reader.py (json + struct + numpy, run with
// /usr/bin/python3) gives the same dtypes, shapes, metadata and element bits.
// It is skipped only when /usr/bin/python3 with numpy is absent (CI installs
// no numpy); TestIndependentGoReader makes the same checks in pure Go and
// always runs.
func TestIndependentPythonReader(t *testing.T) {
	py := pythonWithNumpy()
	if py == "" {
		t.Skip("no /usr/bin/python3 with numpy (TestIndependentGoReader covers the same checks)")
	}
	tensors, want, meta := sample(t)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	require.NoError(t, safetensors.WriteFile(path, tensors, meta))
	out, err := exec.Command(py, "testdata/independent_reader.py", path).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("independent_reader.py: %v\n%s", err, ee.Stderr)
	}
	require.NoError(t, err)
	var got indepFile
	require.NoError(t, json.Unmarshal(out, &got))
	checkIndependent(t, &got, want, meta)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, binary.LittleEndian.Uint64(b[:8]), got.HeaderLen)
}
