package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// file assembles a safetensors file from a header string (padded here only
// if pad is true) and a buffer.
func file(header string, pad bool, buf []byte) []byte {
	if pad {
		for len(header)%8 != 0 {
			header += " "
		}
	}
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	out = append(out, header...)
	return append(out, buf...)
}

func f32bytes(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// The expected bytes are built by hand from the format description; they are
// the outputs the reference Rust crate's own serialization tests pin.
func TestWriteByteExact(t *testing.T) {
	data := f32bytes(0, 1, 2, 3, 4, 5)
	cases := []struct {
		name    string
		tensors map[string]TensorInfo
		meta    map[string]string
		want    []byte
	}{
		{
			name:    "attn.0",
			tensors: map[string]TensorInfo{"attn.0": {DType: "F32", Shape: []int{1, 2, 3}, Data: data}},
			// 64-byte JSON: a multiple of 8 already, so no padding.
			want: file(`{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`, false, data),
		},
		{
			name:    "forced alignment",
			tensors: map[string]TensorInfo{"attn0": {DType: "F32", Shape: []int{1, 1, 2, 3}, Data: data}},
			// 65-byte JSON padded with 7 spaces to 72.
			want: file(`{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       `, false, data),
		},
		{
			name: "empty",
			want: file(`{}      `, false, nil),
		},
		{
			name: "metadata only",
			meta: map[string]string{"framework": "pt"},
			want: file(`{"__metadata__":{"framework":"pt"}}     `, false, nil),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Marshal(c.tensors, c.meta)
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
			assert.Equal(t, 0, (len(got)-8-len(dataOf(c.tensors)))%8, "header is 8-byte aligned")
			f, err := Parse(got)
			require.NoError(t, err)
			assert.Len(t, f.Tensors, len(c.tensors))
		})
	}
}

func dataOf(m map[string]TensorInfo) []byte {
	var b []byte
	for _, t := range m {
		b = append(b, t.Data...)
	}
	return b
}

func TestParseHandBuilt(t *testing.T) {
	// Two tensors written in name order rather than alignment order, with
	// metadata last and extra whitespace: any order is valid on read.
	buf := append(f32bytes(1.5, -2), 1, 0, 0, 0, 0, 0, 0, 0)
	h := `{ "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
	        "b": {"shape": [], "dtype": "I64", "data_offsets": [8, 16]},
	        "__metadata__": {"k": "v\u00e9"} }`
	f, err := Parse(file(h, true, buf))
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, f.Names)
	assert.Equal(t, map[string]string{"k": "vé"}, f.Metadata)
	a, err := Decode[float32](f.Tensors["a"])
	require.NoError(t, err)
	assert.Equal(t, []float32{1.5, -2}, a)
	b, err := Decode[int64](f.Tensors["b"])
	require.NoError(t, err)
	assert.Equal(t, []int64{1}, b)
	assert.Equal(t, []int{}, f.Tensors["b"].Shape)
	_, err = Decode[float64](f.Tensors["a"])
	assert.Error(t, err)
}

func TestWriteOrderMatchesReference(t *testing.T) {
	one := func(dt string) TensorInfo {
		bits, _ := DTypeBits(dt)
		return TensorInfo{DType: dt, Shape: []int{2}, Data: make([]byte, 2*bits/8)}
	}
	tensors := map[string]TensorInfo{
		"z_u8": one("U8"), "a_u8": one("U8"), "f16": one("F16"), "bf16": one("BF16"),
		"f32": one("F32"), "b_f64": one("F64"), "a_f64": one("F64"), "i64": one("I64"),
		"bool": one("BOOL"), "i32": one("I32"),
	}
	out, err := Marshal(tensors, nil)
	require.NoError(t, err)
	f, err := Parse(out)
	require.NoError(t, err)
	assert.Equal(t, []string{"i64", "a_f64", "b_f64", "f32", "i32", "bf16", "f16", "a_u8", "z_u8", "bool"}, f.Names)
}

func TestRoundTripAllDTypes(t *testing.T) {
	tensors := map[string]TensorInfo{}
	for i, dt := range DTypes() {
		bits, ok := DTypeBits(dt)
		require.True(t, ok)
		n := 8
		data := make([]byte, n*bits/8)
		for j := range data {
			data[j] = byte(i*31 + j)
		}
		tensors["t_"+dt] = TensorInfo{DType: dt, Shape: []int{2, 4}, Data: data}
	}
	tensors["scalar"] = TensorInfo{DType: "F64", Shape: []int{}, Data: make([]byte, 8)}
	tensors["empty"] = TensorInfo{DType: "F32", Shape: []int{0, 4}, Data: []byte{}}
	tensors["name \"quoted\"\n<&>é"] = TensorInfo{DType: "U8", Shape: []int{1}, Data: []byte{9}}
	meta := map[string]string{"format": "pt", "note": "tab\there \x01"}

	out, err := Marshal(tensors, meta)
	require.NoError(t, err)
	for _, parse := range []func([]byte) (*File, error){
		Parse,
		func(b []byte) (*File, error) { return Read(bytes.NewReader(b)) },
		func(b []byte) (*File, error) { return Read(iotestOneByte(b)) },
	} {
		f, err := parse(out)
		require.NoError(t, err)
		assert.Equal(t, meta, f.Metadata)
		require.Len(t, f.Tensors, len(tensors))
		for name, want := range tensors {
			got := f.Tensors[name]
			assert.Equal(t, want.DType, got.DType, name)
			assert.Equal(t, want.Shape, got.Shape, name)
			assert.Equal(t, len(want.Data), len(got.Data), name)
			assert.True(t, bytes.Equal(want.Data, got.Data), name)
		}
		// Writing what was read gives the same bytes.
		again, err := Marshal(f.Tensors, f.Metadata)
		require.NoError(t, err)
		assert.Equal(t, out, again)
	}
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

func iotestOneByte(b []byte) io.Reader { return oneByteReader{bytes.NewReader(b)} }

func TestEncodeDecode(t *testing.T) {
	ti, err := Encode([]int32{1, -2, 3}, 3)
	require.NoError(t, err)
	assert.Equal(t, "I32", ti.DType)
	assert.Equal(t, []byte{1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 3, 0, 0, 0}, ti.Data)
	back, err := Decode[int32](ti)
	require.NoError(t, err)
	assert.Equal(t, []int32{1, -2, 3}, back)
	_, err = Encode([]float32{1, 2}, 3)
	assert.ErrorIs(t, err, ErrInvalid)
	bools, err := Encode([]bool{true, false}, 2)
	require.NoError(t, err)
	assert.Equal(t, "BOOL", bools.DType)
	bb, err := Decode[bool](bools)
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false}, bb)
	assert.Equal(t, 6, TensorInfo{Shape: []int{2, 3}}.NumElements())
}

func TestTruncationsReturnErrors(t *testing.T) {
	a, _ := Encode([]float32{1, 2, 3}, 3)
	b, _ := Encode([]int64{4}, 1)
	out, err := Marshal(map[string]TensorInfo{"a": a, "b": b}, map[string]string{"x": "y"})
	require.NoError(t, err)
	for n := 0; n < len(out); n++ {
		_, err := Parse(out[:n])
		require.ErrorIs(t, err, ErrInvalid, "Parse of %d/%d bytes", n, len(out))
		_, err = Read(bytes.NewReader(out[:n]))
		require.ErrorIs(t, err, ErrInvalid, "Read of %d/%d bytes", n, len(out))
	}
	// One byte too many is an error too: the buffer must be fully covered.
	_, err = Parse(append(out, 0))
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = Read(bytes.NewReader(append(out, 0)))
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestCorruptions(t *testing.T) {
	buf8 := make([]byte, 8)
	hugeLen := binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1)
	cases := []struct {
		name string
		in   []byte
		msg  string
	}{
		{"header too large", append(hugeLen, make([]byte, 16)...), "exceeds the limit"},
		{"header longer than file", append(binary.LittleEndian.AppendUint64(nil, 64), "{}"...), "header"},
		{"max uint64 header", append(binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "{}      "...), "exceeds the limit"},
		{"bad json", file(`{"a":`, true, nil), "header"},
		{"not an object", file(`[1,2]`, true, nil), "start with"},
		{"leading space", file(` {}`, true, nil), "start with"},
		{"trailing json", file(`{}{}`, true, nil), "after the JSON"},
		{"invalid utf8", file("{\"\xff\":1}", true, nil), "UTF-8"},
		{"unknown dtype", file(`{"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}`, true, buf8), "unknown dtype"},
		{"dtype not string", file(`{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, true, buf8), "dtype"},
		{"size mismatch", file(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, true, buf8), "need 12 bytes"},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, true, buf8), "non-negative"},
		{"fractional dim", file(`{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, true, buf8), "non-negative"},
		{"negative offset", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-1,8]}}`, true, buf8), "non-negative"},
		{"three offsets", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, true, buf8), "want 2"},
		{"offsets not array", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":"0,8"}}`, true, buf8), "not an array"},
		{"missing dtype", file(`{"a":{"shape":[2],"data_offsets":[0,8]}}`, true, buf8), "missing dtype"},
		{"missing shape", file(`{"a":{"dtype":"F32","data_offsets":[0,8]}}`, true, buf8), "missing shape"},
		{"missing offsets", file(`{"a":{"dtype":"F32","shape":[2]}}`, true, buf8), "missing data_offsets"},
		{"entry not object", file(`{"a":[1]}`, true, nil), "expected an object"},
		{"reversed offsets", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, true, buf8), "leave a hole"},
		{"hole at start", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, true, buf8), "hole"},
		{"hole between", file(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}`, true, buf8[:6]), "hole"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, true, buf8), "overlap"},
		{"out of range", file(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, true, buf8), "buffer holds 8"},
		{"buffer not covered", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, true, buf8), "buffer holds 8"},
		{"duplicate name", file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, true, buf8[:2]), "duplicate key"},
		{"duplicate metadata", file(`{"__metadata__":{"k":"1","k":"2"}}`, true, nil), "duplicate key"},
		{"metadata not string", file(`{"__metadata__":{"k":1}}`, true, nil), "not a string"},
		{"metadata not object", file(`{"__metadata__":"x"}`, true, nil), "expected an object"},
		{"overflowing shape", file(`{"a":{"dtype":"F64","shape":[65536,65536,65536,65536],"data_offsets":[0,8]}}`, true, buf8), "overflows"},
		{"huge dim", file(`{"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,8]}}`, true, buf8), "too large"},
		{"sub-byte", file(`{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}`, true, buf8[:2]), "whole number of bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Contains(t, err.Error(), c.msg)
			_, err2 := Read(bytes.NewReader(c.in))
			require.Error(t, err2)
			assert.ErrorIs(t, err2, ErrInvalid)
		})
	}
}

func TestReadDoesNotTrustDeclaredSizes(t *testing.T) {
	// A header declaring a 1 TB tensor on a stream of a few bytes must fail
	// quickly without allocating the declared size.
	h := `{"a":{"dtype":"U8","shape":[1000000000000],"data_offsets":[0,1000000000000]}}`
	in := file(h, true, []byte{1, 2, 3})
	allocs := testing.AllocsPerRun(1, func() {
		_, err := Read(bytes.NewReader(in))
		require.ErrorIs(t, err, ErrInvalid)
	})
	assert.Less(t, allocs, 1000.0)
	_, err := Parse(in)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestWriteErrors(t *testing.T) {
	cases := map[string]map[string]TensorInfo{
		"unknown dtype":  {"a": {DType: "F31", Shape: []int{1}, Data: make([]byte, 4)}},
		"short data":     {"a": {DType: "F32", Shape: []int{2}, Data: make([]byte, 4)}},
		"negative dim":   {"a": {DType: "F32", Shape: []int{-1}, Data: nil}},
		"reserved name":  {"__metadata__": {DType: "U8", Shape: []int{1}, Data: []byte{1}}},
		"invalid utf8":   {"\xff": {DType: "U8", Shape: []int{1}, Data: []byte{1}}},
		"sub-byte count": {"a": {DType: "F4", Shape: []int{3}, Data: []byte{1}}},
	}
	for name, tensors := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tensors, nil)
			assert.ErrorIs(t, err, ErrInvalid)
			assert.Zero(t, buf.Len(), "nothing is written on a validation error")
		})
	}
	_, err := Marshal(nil, map[string]string{"k": "\xff"})
	assert.ErrorIs(t, err, ErrInvalid)
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestWritePropagatesWriterErrors(t *testing.T) {
	a, _ := Encode([]float32{1}, 1)
	for n := 0; n < 3; n++ {
		err := Write(&failWriter{n: n}, map[string]TensorInfo{"a": a}, nil)
		assert.EqualError(t, err, "disk full")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	a, _ := Encode([]float32{1, 2}, 2)
	require.NoError(t, WriteFile(path, map[string]TensorInfo{"a": a}, map[string]string{"v": "1"}))
	f, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "1", f.Metadata["v"])
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	// Overwrite, then fail a write: the file keeps the last good contents and
	// no temporary file is left behind.
	b, _ := Encode([]int64{3}, 1)
	require.NoError(t, WriteFile(path, map[string]TensorInfo{"b": b}, nil))
	err = WriteFile(path, map[string]TensorInfo{"bad": {DType: "F32", Shape: []int{3}}}, nil)
	require.ErrorIs(t, err, ErrInvalid)
	f, err = ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, []string{"b"}, f.Names)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "model.safetensors", entries[0].Name())

	err = WriteFile(filepath.Join(dir, "missing", "x.safetensors"), nil, nil)
	assert.Error(t, err)
	_, err = ReadFile(filepath.Join(dir, "nope"))
	assert.Error(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad"), []byte("garbage"), 0o644))
	_, err = ReadFile(filepath.Join(dir, "bad"))
	assert.ErrorIs(t, err, ErrInvalid)
	assert.True(t, strings.Contains(err.Error(), "bad"))
}

func BenchmarkDecodeF32(b *testing.B) {
	v := make([]float32, 1<<20)
	ti, _ := Encode(v, len(v))
	b.SetBytes(int64(len(ti.Data)))
	for b.Loop() {
		if _, err := Decode[float32](ti); err != nil {
			b.Fatal(err)
		}
	}
}
